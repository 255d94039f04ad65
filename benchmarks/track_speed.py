"""Tracking speed end to end: frames per second of ``fscfnet track`` (decoding, detection and tracking, results
files written, no video) on one video, with a checkpoint and with its ONNX export, and the tracker's own
milliseconds per frame; with ``--ultralytics-python``, Ultralytics' ``model.track`` (ByteTrack) on the same video
in its own environment, for the ratio. One run after another, best of ``--rounds`` each; run it with nothing else
on the machine.

    python benchmarks/track_speed.py --weights W.pt --video ../shared/datasets/Drone-IR/videos/IR_DRONE_001.mp4 \\
        --ultralytics-python ULVENV/bin/python --ultralytics-model yolov10n.yaml --imgsz 320 \\
        --out benchmarks/results/track_speed.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

from fscfnet.engine.backends import load_inference_model
from fscfnet.engine.tracking import run_track
from fscfnet.export import export
from fscfnet.utils import provenance, write_json

ULTRALYTICS = """
import sys, time
from ultralytics import YOLO
model = YOLO(sys.argv[1])
best = None
for _ in range(int(sys.argv[4])):
    t0, n = time.perf_counter(), 0
    for r in model.track(source=sys.argv[2], imgsz=int(sys.argv[3]), stream=True, device="cpu", verbose=False,
                         tracker="bytetrack.yaml", persist=False, conf=0.1):
        n += 1
    fps = n / (time.perf_counter() - t0)
    best = fps if best is None else max(best, fps)
print(n, best)
"""


def ours(weights: Path, video: str, rounds: int) -> dict:
    model = load_inference_model(weights)
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            s = run_track(model, video, Path(tmp) / f"r{k}", save_video=False, log=lambda m: None, progress=False)
            if best is None or s.fps() > best.fps():
                best = s
    return {"frames": best.frames, "fps": best.fps(), "tracker_ms_per_frame": best.tracker_ms / best.frames,
            "detect_ms_per_frame": best.detect_ms, "mode": model.default_mode().describe(), "format": model.format}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ultralytics-python", default=None)
    ap.add_argument("--ultralytics-model", default="yolov10n.yaml", help="weights or a model YAML (speed only)")
    ap.add_argument("--imgsz", type=int, default=320, help="Ultralytics' inference size")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cap = cv2.VideoCapture(args.video)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    results = {"pytorch": ours(args.weights, args.video, args.rounds)}
    with tempfile.TemporaryDirectory() as tmp:
        onnx = export(args.weights, "onnx", dynamic=True, output=Path(tmp) / "model.onnx")
        results["onnx"] = ours(onnx, args.video, args.rounds)
    if args.ultralytics_python:
        out = subprocess.run([args.ultralytics_python, "-c", ULTRALYTICS, args.ultralytics_model, args.video,
                              str(args.imgsz), str(args.rounds)], capture_output=True, text=True, check=True)
        frames, fps = out.stdout.split()[-2:]
        results["ultralytics_track"] = {"frames": int(frames), "fps": float(fps), "model": args.ultralytics_model,
                                        "imgsz": args.imgsz}
        for k in ("pytorch", "onnx"):
            results[k]["fps_ratio_to_ultralytics"] = results[k]["fps"] / float(fps)
    report = {"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
              "video": args.video, "size": size, "rounds": args.rounds, "provenance": provenance("cpu"),
              "results": results}
    write_json(args.out, report)
    print(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
