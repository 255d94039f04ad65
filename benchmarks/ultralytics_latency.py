"""Ultralytics' YOLOv10-n CPU latency, for comparison. Run with the Python of a separate venv holding ultralytics:

    /path/to/ulvenv/bin/python benchmarks/ultralytics_latency.py --imgsz 640 --threads 2 --iters 20

Prints one JSON line: {"ultralytics": version, "params": N, "times_ms": [...]}. Not a project dependency.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fscfnet.utils.timing import time_forward  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--nc", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import ultralytics
    from ultralytics.nn.tasks import DetectionModel

    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = DetectionModel("yolov10n.yaml", nc=args.nc, verbose=False).fuse(verbose=False).eval()
    model = model.to(memory_format=fmt)
    x = torch.randn(1, 3, args.imgsz, args.imgsz).contiguous(memory_format=fmt)
    times = time_forward(model, x, args.iters)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"ultralytics": ultralytics.__version__, "params": params, "times_ms": times}))


if __name__ == "__main__":
    main()
