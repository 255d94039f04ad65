"""CPU latency of FSCFNet vs the project's YOLOv10-n (batch 1, fused, eval), optionally vs Ultralytics' YOLOv10-n.

    python benchmarks/latency_cpu.py --imgsz 640 --threads 2 [--channels-last] \
        [--ultralytics-python /path/to/venv/bin/python]

Rounds alternate the models so that drift on a shared machine hits all of them alike; the median over all
rounds' samples is the headline number. Also times FSCFNet unfused, to show what ``fuse()`` buys.
``--channels-last`` runs every model (Ultralytics' too) in channels-last memory format, which oneDNN
convolutions prefer on CPU. Writes ``benchmarks/results/latency_cpu_<imgsz>[_cl].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fscfnet import build_model  # noqa: E402
from fscfnet.utils.timing import stats, time_forward  # noqa: E402
from fscfnet.utils.files import write_json  # noqa: E402

MODELS = {
    "fscfnet": ("cfg/models/fscfnet.yaml", True),
    "yolov10n": ("cfg/models/yolov10n.yaml", True),
    "fscfnet-unfused": ("cfg/models/fscfnet.yaml", False),
}


def ultralytics_times(python: str, imgsz: int, threads: int, iters: int, channels_last: bool
                      ) -> tuple[list[float], str]:
    script = ROOT / "benchmarks" / "ultralytics_latency.py"
    cmd = [python, str(script), "--imgsz", str(imgsz), "--threads", str(threads), "--iters", str(iters)]
    cmd += ["--channels-last"] if channels_last else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    data = json.loads(out)
    return data["times_ms"], data["ultralytics"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20, help="timed forwards per model per round")
    ap.add_argument("--channels-last", action="store_true", help="channels-last memory format for all models")
    ap.add_argument("--ultralytics-python", default=None, help="python of a venv with ultralytics installed")
    ap.add_argument("--out", default=None, help="JSON output (default benchmarks/results/latency_cpu_<imgsz>.json)")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    models = {}
    for name, (cfg, fused) in MODELS.items():
        m = build_model(ROOT / cfg, nc=1).eval()
        models[name] = (m.fuse() if fused else m).to(memory_format=fmt)
    x = torch.randn(1, 3, args.imgsz, args.imgsz).contiguous(memory_format=fmt)
    times: dict[str, list[float]] = {name: [] for name in models}
    ul_version = None
    if args.ultralytics_python:
        times["ultralytics-yolov10n"] = []
    for r in range(args.rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for name in order:
            times[name] += time_forward(models[name], x, args.iters)
        if args.ultralytics_python:
            t, ul_version = ultralytics_times(args.ultralytics_python, args.imgsz, args.threads, args.iters,
                                              args.channels_last)
            times["ultralytics-yolov10n"] += t
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {stats(v)['median_ms']:.1f}" for k, v in times.items()))

    result = {k: stats(v) for k, v in times.items()}
    ratio = result["fscfnet"]["median_ms"] / result["yolov10n"]["median_ms"]
    summary = {
        "imgsz": args.imgsz, "threads": args.threads, "batch": 1, "channels_last": args.channels_last, "torch": torch.__version__,
        "cpu": os.uname().machine, "ultralytics": ul_version, "models": result,
        "fscfnet_over_yolov10n": ratio,
        "fuse_speedup": result["fscfnet-unfused"]["median_ms"] / result["fscfnet"]["median_ms"],
    }
    if ul_version:
        summary["project_yolov10n_over_ultralytics"] = result["yolov10n"]["median_ms"] / result["ultralytics-yolov10n"]["median_ms"]
    layout = "channels-last" if args.channels_last else "NCHW"
    print(f"\nCPU latency, batch 1, {args.imgsz}x{args.imgsz}, {args.threads} threads, {layout} (median / min ms):")
    for k, v in result.items():
        print(f"  {k:22s} {v['median_ms']:7.1f} / {v['min_ms']:7.1f}")
    print(f"  FSCFNet / YOLOv10-n (fused): {ratio:.3f}   fuse() speed-up: {summary['fuse_speedup']:.2f}x")
    if ul_version:
        print(f"  project YOLOv10-n / Ultralytics {ul_version} YOLOv10-n: {summary['project_yolov10n_over_ultralytics']:.3f}")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"latency_cpu_{args.imgsz}{'_cl' if args.channels_last else ''}.json")
    write_json(out, summary)
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
