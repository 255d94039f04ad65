"""Large real frames under every inference mode: NUDT-SIRST's test frames tiled 4 x 4 (1024 x 1024) and 8 x 8
(2048 x 2048) with their boxes moved, and IRSTD-1K's 512 x 512 test frames as they are, scored by ``val.py`` for
each model under letterbox 320, letterbox 640, native, slice 320 and slice 640: AP50, AP50:95, Pd and false alarms
per image at conf 0.25, and ms per frame.

    python benchmarks/large_frames.py --models resize=PATH/best.pt native=PATH/best.pt \\
        --out benchmarks/results/large_frames.json

The tiled copies are written under ``--work`` (default a temporary folder), never into the datasets. Each
(model, set, mode) result is written to ``--out`` as soon as it is known, and a rerun skips those already there,
so an interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from fscfnet.data import open_dataset, read_index
from fscfnet.utils import provenance, write_json

ROOT = Path(__file__).resolve().parents[1]
MODES = {"letterbox 320": ["--imgsz", "320"], "letterbox 640": ["--imgsz", "640"], "native": ["--imgsz", "native"],
         "slice 320": ["--slice", "320"], "slice 640": ["--slice", "640"]}
CONF = 0.25


def read_boxes(label: Path, w: int, h: int) -> np.ndarray:
    """A YOLO label file as ``(n, 5)`` class, x1, y1, x2, y2 in pixels of a ``w`` x ``h`` image."""
    rows = np.loadtxt(label, ndmin=2) if label.is_file() and label.read_text().strip() else np.zeros((0, 5))
    cls, cx, cy, bw, bh = rows.T
    return np.stack([cls, (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], 1)


def tiled_copy(data: str, n: int, out: Path) -> Path:
    """The test split's frames of the commonest size, ``n`` x ``n`` to a frame in index order, with their boxes
    moved into the big frame (an incomplete last group is left out); returns the copy's YAML."""
    cfg = open_dataset(data)
    for sub in ("images", "labels", "img_idx"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    frames = []
    for stem in read_index(cfg.index_file("test")):
        img = cv2.imread(str(next((cfg.root / "images").glob(f"{stem}.*"))), cv2.IMREAD_UNCHANGED)
        frames.append((stem, img))
    shapes = [f[1].shape for f in frames]
    common = max(set(shapes), key=shapes.count)
    frames = [f for f in frames if f[1].shape == common]
    h, w = common[:2]
    stems = []
    for g in range(len(frames) // (n * n)):
        group = frames[g * n * n:(g + 1) * n * n]
        big = np.concatenate([np.concatenate([img for _, img in group[r * n:(r + 1) * n]], 1) for r in range(n)], 0)
        lines = []
        for k, (stem, _) in enumerate(group):
            ox, oy = (k % n) * w, (k // n) * h
            for c, x1, y1, x2, y2 in read_boxes(cfg.root / "labels" / f"{stem}.txt", w, h):
                cx, cy, bw, bh = (x1 + x2) / 2 + ox, (y1 + y2) / 2 + oy, x2 - x1, y2 - y1
                lines.append(f"{int(c)} {cx / (n * w):.8f} {cy / (n * h):.8f} {bw / (n * w):.8f} {bh / (n * h):.8f}")
        stem = f"tiled{n}x{n}_{g:03d}"
        cv2.imwrite(str(out / "images" / f"{stem}.png"), big)
        (out / "labels" / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))
        stems.append(stem)
    (out / "img_idx" / "test.txt").write_text("\n".join(stems) + "\n")
    yaml_path = out / "data.yaml"
    yaml_path.write_text(f"path: {out.resolve()}\ntrain: img_idx/test.txt\ntest: img_idx/test.txt\n"
                         f"names: {cfg.names}\n")
    return yaml_path


def score(weights: str, data: str, mode: str, work: Path, name: str, batch: int) -> dict:
    cmd = [sys.executable, str(ROOT / "val.py"), "--weights", weights, "--data", data, *MODES[mode], "--conf",
           str(CONF), "--batch", str(batch), "--workers", "2", "--device", "cpu", "--project", str(work),
           "--name", name]
    shutil.rmtree(work / name, ignore_errors=True)  # left by an interrupted run: val.py would pick name2
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{shlex.join(cmd)} failed:\n{(p.stdout + p.stderr)[-2000:]}")
    m = json.loads((work / name / "metrics.json").read_text())
    at = m["at_conf"]
    return {"command": shlex.join(cmd), "mode": m["mode"]["description"], "images": m["images"],
            "targets": m["targets"], "ap50": m["ap50"], "ap50_95": m["ap50_95"], "pd_at_conf": at["pd"],
            "false_alarms_per_image_at_conf": at["false_alarms_per_image"], "ms_per_frame": m["ms_per_image"]}


def run_all(args: argparse.Namespace, work: Path) -> None:
    sets = {"NUDT-SIRST 4x4 (1024 px)": str(tiled_copy(args.nudt, 4, work / "nudt4")),
            "NUDT-SIRST 8x8 (2048 px)": str(tiled_copy(args.nudt, 8, work / "nudt8")),
            "IRSTD-1K (512 px)": args.irstd}
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report.update({"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
                   "conf": CONF, "provenance": provenance("cpu")})
    results = report.setdefault("results", {})
    for spec in args.models:
        name, weights = spec.split("=", 1)
        for set_name, data in sets.items():
            for mode in args.modes:
                key = f"{name} | {set_name} | {mode}"
                if results.get(key, {}).get("weights") != weights:
                    run = "_".join("".join(c if c.isalnum() else " " for c in key).split())
                    results[key] = {"model": name, "weights": weights, "set": set_name,
                                    **score(weights, data, mode, work / "val", run, args.batch)}
                    write_json(args.out, report)
                r = results[key]
                print(f"{key:55s} AP50 {r['ap50']:.3f} AP50:95 {r['ap50_95']:.3f} Pd {r['pd_at_conf']:.3f} "
                      f"FA/img {r['false_alarms_per_image_at_conf']:.3f} {r['ms_per_frame']:.0f} ms/frame")


def markdown(results: dict) -> str:
    """One table per set: a row per model and mode."""
    out = []
    for set_name in dict.fromkeys(r["set"] for r in results.values()):
        out += [f"\n**{set_name}**\n", "| model | mode | AP50 | AP50:95 | Pd | FA/img | ms/frame |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {r['model']} | {r['mode']} | {r['ap50']:.3f} | {r['ap50_95']:.3f} | {r['pd_at_conf']:.3f} | "
                f"{r['false_alarms_per_image_at_conf']:.3f} | {r['ms_per_frame']:.0f} |"
                for r in results.values() if r["set"] == set_name]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", required=True, help="NAME=WEIGHTS")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--nudt", default="NUDT-SIRST")
    ap.add_argument("--irstd", default="IRSTD-1K")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="large_frames_") as tmp:
        run_all(args, args.work or Path(tmp))
    print(markdown(json.loads(args.out.read_text())["results"]))
    print(f"wrote {args.out}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
