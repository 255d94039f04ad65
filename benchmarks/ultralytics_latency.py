"""Ultralytics' YOLOv10-n latency under ``fscfnet bench``'s protocol, as a reference. Run it with the Python of a
separate venv that holds ultralytics (never a project dependency):

    /path/to/ulvenv/bin/python benchmarks/ultralytics_latency.py --imgsz 640 --threads 2 --rounds 5 --iters 20 \
        --warmup 3 [--layout nchw] --out benchmarks/results/ultralytics_latency_640.json

Same protocol as ``fscfnet bench`` (``fscfnet.utils.timing.time_rounds``, random input in [0, 1) seeded 0,
channels-last unless ``--layout nchw``), fused model in eval mode; pass the same numbers to both.
"""

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from fscfnet.utils import stats, time_rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--nc", type=int, default=1)
    ap.add_argument("--layout", choices=("channels-last", "nchw"), default="channels-last")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import ultralytics
    from ultralytics.nn.tasks import DetectionModel

    fmt = torch.channels_last if args.layout == "channels-last" else torch.contiguous_format
    model = DetectionModel("yolov10n.yaml", nc=args.nc, verbose=False).fuse(verbose=False).eval()
    model = model.to(memory_format=fmt)
    x = torch.rand(1, 3, args.imgsz, args.imgsz, generator=torch.Generator().manual_seed(0)).contiguous(memory_format=fmt)
    times = time_rounds({"yolov10n": (model, x)}, args.iters, args.warmup, args.rounds)["yolov10n"]
    s = stats(times)
    s["images_per_s"] = 1e3 / s["median_ms"]
    result = {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "python": platform.python_version(),
              "command": " ".join(["python", *sys.argv]), "imgsz": args.imgsz, "threads": args.threads,
              "layout": args.layout, "protocol": {"iters": args.iters, "warmup": args.warmup, "rounds": args.rounds},
              "params_fused": sum(p.numel() for p in model.parameters()), "latency": s}
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
