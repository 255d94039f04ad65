"""Where a CPU training step's time goes: forward (by module family: ACA, FSConv and its Haar DWT, MRCB, ...),
the loss (and its task-aligned assigner), backward and the optimizer step, measured with torch.profiler.

    python benchmarks/profile_train.py --data NUAA-SIRST --imgsz 320 --batch 16 --steps 4

One real training batch (mosaic on) is reused for every step. Writes benchmarks/results/profile_train_<imgsz>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

ROOT = Path(__file__).resolve().parents[1]

from fscfnet import build_model
from fscfnet.cfg import AugmentConfig
from fscfnet.data import IRSTDDataset, build_dataloader, open_dataset
from fscfnet.detection import V10DetectionLoss
from fscfnet.utils import write_json

FAMILIES = ("ConvACA", "FSConv", "HaarDWT", "MRCB", "PSA", "C2f", "C2fCIB", "SCDown", "SPPF", "V10Detect")
PHASES = ("forward", "loss", "assigner", "backward", "optimizer")


def label_modules(model: torch.nn.Module) -> None:
    """Wrap the forward of every module of a family in a profiler range named after it."""
    for m in model.modules():
        name = type(m).__name__
        if name in FAMILIES:
            stack: list[contextlib.AbstractContextManager] = []

            def pre(mod, args, name=name, stack=stack):
                ctx = record_function(f"fwd/{name}")
                ctx.__enter__()
                stack.append(ctx)

            def post(mod, args, out, stack=stack):
                stack.pop().__exit__(None, None, None)

            m.register_forward_pre_hook(pre)
            m.register_forward_hook(post)


def profile_model(cfg: str, images: torch.Tensor, targets: torch.Tensor, imgsz: int, steps: int) -> dict:
    model = build_model(ROOT / "cfg" / "models" / f"{cfg}.yaml", nc=1).train()
    loss_fn = V10DetectionLoss(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = images.float() / 255

    def step() -> None:
        with record_function("forward"):
            out = model(x)
        with record_function("loss"):
            loss, _ = loss_fn(out, targets)
        opt.zero_grad()
        with record_function("backward"):
            loss.backward()
        with record_function("optimizer"):
            opt.step()

    step()  # warm-up, unprofiled
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    wall = (time.perf_counter() - t0) / steps
    label_modules(model)
    with profile(activities=[ProfilerActivity.CPU]) as prof:  # the loss labels its assigner "assigner" itself
        for _ in range(steps):
            step()
    totals = {e.key: e.cpu_time_total / 1e3 / steps for e in prof.key_averages()}  # ms per step
    result = {"step_ms_unprofiled": 1e3 * wall,
              "phases_ms": {p: totals.get(p, 0.0) for p in PHASES},
              "forward_by_family_ms": {f: totals.get(f"fwd/{f}", 0.0) for f in FAMILIES if f"fwd/{f}" in totals},
              "top_ops_self_ms": {e.key: e.self_cpu_time_total / 1e3 / steps for e in
                                  sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]}}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="NUAA-SIRST")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--models", nargs="+", default=["fscfnet", "yolov10n"])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    ds = IRSTDDataset(open_dataset(args.data), "train", args.imgsz, AugmentConfig(), log=lambda s: None)
    images, targets, _ = next(iter(build_dataloader(ds, args.batch, 0, shuffle=True)))
    out = {"data": args.data, "imgsz": args.imgsz, "batch": args.batch, "threads": torch.get_num_threads(),
           "torch": torch.__version__, "models": {}}
    for cfg in args.models:
        r = profile_model(cfg, images, targets, args.imgsz, args.steps)
        out["models"][cfg] = r
        print(f"{cfg}: {r['step_ms_unprofiled']:.0f} ms per step ({args.batch * 1e3 / r['step_ms_unprofiled']:.1f} "
              f"images/s without loading or validation)")
        for p, ms in r["phases_ms"].items():
            print(f"  {p:<10} {ms:8.1f} ms")
        for f, ms in r["forward_by_family_ms"].items():
            print(f"  forward {f:<10} {ms:8.1f} ms")
    path = write_json(args.out or ROOT / "benchmarks" / "results" / f"profile_train_{args.imgsz}.json", out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
