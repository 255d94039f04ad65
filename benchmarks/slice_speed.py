"""Slicing's memory and speed on the CPU: peak RSS of ``detect.py`` on synthetic 1024-, 2048- and 4096-px frames
under ``--slice 640`` and whole at native scale, and, at equal pixel counts, 640-px tiles of one 2560-px frame
against 640-px frames batched alike and against the 2560-px frame in one native pass; and the seam merge's time on
crowded tiles.

    python benchmarks/slice_speed.py --weights PATH/best.pt --out benchmarks/results/slice_speed.json

Peak RSS is each ``detect.py`` process's own maximum resident set (``ru_maxrss`` of a child run alone). Speeds are
the median of ``--repeats`` timed passes after one untimed pass, in this process, with the model's own thread
count; nothing else should run beside it.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from fscfnet.data.views import InferenceMode, merge_detections
from fscfnet.engine.backends import load_inference_model
from fscfnet.engine.inference import Inferencer
from fscfnet.utils import provenance, write_json
from fscfnet.utils.timing import StageTimer

ROOT = Path(__file__).resolve().parents[1]
RUN_ALONE = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
             "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")


def synthetic_frame(side: int, seed: int = 0) -> np.ndarray:
    """A grey ``side`` x ``side`` uint8 frame: smooth clutter, sensor noise and a few 3-5 px bright blobs."""
    rng = np.random.default_rng(seed)
    clutter = cv2.resize(rng.normal(90, 25, (side // 64, side // 64)), (side, side), interpolation=cv2.INTER_CUBIC)
    frame = clutter + rng.normal(0, 4, (side, side))
    yy, xx = np.mgrid[0:side, 0:side]
    for x, y in rng.integers(16, side - 16, (side // 256, 2)):
        frame += 120 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * rng.uniform(0.8, 1.6) ** 2))
    return np.clip(frame, 0, 255).astype(np.uint8)


def peak_rss(weights: str, image: Path, flags: list[str], out: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "detect.py"), "--weights", weights, "--source", str(image), *flags,
           "--batch", "8", "--device", "cpu", "--project", str(out), "--name", "d", "--nosave"]
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", RUN_ALONE, *cmd], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode:
        return {"command": shlex.join(cmd), "error": (p.stdout + p.stderr)[-600:]}
    kb = int(p.stdout.split("MAXRSS_KB")[-1].split()[0])
    return {"command": shlex.join(cmd), "peak_rss_mib": kb / 1024, "wall_s": wall}


def crowded_tiles(side: int, tile: int, per_tile: int = 300, seed: int = 0) -> list:
    """The views of a ``side``-px frame sliced at ``tile`` with ``per_tile`` 5-px boxes each, scores spread over
    0.001-1: what validation (which keeps every box above 0.001) hands the merge."""
    rng = np.random.default_rng(seed)
    parts = []
    for v in InferenceMode("slice", tile=tile, overlap=0.2).views((side, side), 32):
        x1, y1 = rng.uniform(v.x0, v.x0 + v.w - 6, per_tile), rng.uniform(v.y0, v.y0 + v.h - 6, per_tile)
        parts.append((v, np.stack([x1, y1, x1 + 5, y1 + 5, rng.uniform(0.001, 1, per_tile), np.zeros(per_tile)], 1)))
    return parts


def timed(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--sides", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    memory = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.sides:
            image = Path(tmp) / f"frame{side}.png"
            cv2.imwrite(str(image), synthetic_frame(side))
            for label, flags in (("slice 640", ["--slice", "640"]),
                                 ("native, whole", ["--imgsz", "native", "--max-size", str(side)])):
                memory[f"{side} px, {label}"] = r = peak_rss(args.weights, image, flags, Path(tmp))
                print(f"{side} px {label:14s} " + (f"peak RSS {r['peak_rss_mib']:.0f} MiB, {r['wall_s']:.1f} s"
                                                   if "error" not in r else f"failed: {r['error'][-200:]}"))
    model = load_inference_model(args.weights, torch.device("cpu"))
    big = synthetic_frame(2560, seed=1)
    small = [np.ascontiguousarray(big[y:y + 640, x:x + 640]) for y in range(0, 2560, 640) for x in range(0, 2560, 640)]
    frames3 = [np.repeat(f[..., None], 3, 2) for f in small]
    big3 = np.repeat(big[..., None], 3, 2)
    cases = {
        "16 frames of 640 px, letterbox 640, batch 8": (Inferencer(model, InferenceMode("letterbox", imgsz=640),
                                                                    0.25, 8), frames3),
        "one 2560-px frame, 16 tiles of 640 (overlap 0), batch 8": (
            Inferencer(model, InferenceMode("slice", tile=640, overlap=0.0), 0.25, 8), [big3]),
        "one 2560-px frame, native, one pass": (Inferencer(model, InferenceMode("native", max_size=2560), 0.25, 1),
                                                [big3]),
    }
    speed = {}
    for name, (infer, frames) in cases.items():
        s = timed(lambda: infer(frames, StageTimer()), args.repeats)
        speed[name] = {"seconds": s, "megapixels_per_s": 2560 * 2560 / 1e6 / s, "tiles_or_frames_of_640_per_s": 16 / s}
        print(f"{name:58s} {s:.2f} s  {16 / s:.1f} x 640-px per s")
    merge = {}
    for side, tile in ((1024, 320), (2048, 320), (4096, 640)):
        parts = crowded_tiles(side, tile)
        s = timed(lambda: merge_detections(parts, (side, side)), args.repeats)
        merge[f"{side} px sliced at {tile}"] = {"tiles": len(parts), "boxes": 300 * len(parts), "seconds": s}
        print(f"merge, {side} px sliced at {tile}: {len(parts)} tiles x 300 boxes in {s:.3f} s")
    write_json(args.out, {"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
                          "weights": args.weights, "threads": torch.get_num_threads(), "peak_rss": memory,
                          "speed_equal_pixels": speed, "merge": merge, "provenance": provenance("cpu")})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
