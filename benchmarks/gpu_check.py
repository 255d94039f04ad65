"""The GPU check (issue: a trainer that keeps a GPU busy): one script, one run, at most 8 files in ``--out``.

    python benchmarks/gpu_check.py [--out DIR] [--dry-run]      # or: bash benchmarks/gpu_check.sh

1. ``python -m pytest -q -m cuda``                                    -> pytest_cuda.txt
2. NUAA-SIRST (BasicIRSTD 213/214), 640 px, 100 epochs, batch 16, seed 0, AMP, FSCFNet and YOLOv10-n trained
   side by side on the one GPU; best.pt validated                     -> {fscfnet,yolov10n}/results.csv, metrics.json
3. images/s per model, GPU utilisation and memory sampled with nvidia-smi every second during training,
4. batch-1 and batch-32 latency at 640 (fp16, fused) for both models, and ACA's value conv on CUDA as a plain
   grouped conv vs depthwise + group sum                               -> gpu_check.json (with versions, command)
A log of everything                                                    -> log.txt

``--dry-run``: the same steps on the CPU, 1 epoch at 64 px (demo data when NUAA-SIRST is not prepared), a few
latency iterations — to prove the script before spending GPU time. The prepared dataset must be at
``datasets/NUAA-SIRST`` (``python -m fscfnet.data.prepare ../shared/datasets/NUAA-SIRST --dst datasets/NUAA-SIRST``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODELS = ("fscfnet", "yolov10n")


class Log:
    def __init__(self, path: Path):
        self.f = path.open("a")

    def __call__(self, text: str) -> None:
        print(text, flush=True)
        self.f.write(text + "\n")
        self.f.flush()


class GpuSampler(threading.Thread):
    """nvidia-smi every ``period`` s: utilisation (%) and memory used (MiB) of GPU 0."""

    def __init__(self, period: float = 1.0):
        super().__init__(daemon=True)
        self.period, self.samples, self.stop = period, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                      "--format=csv,noheader,nounits", "-i", "0"], capture_output=True, text=True,
                                     timeout=10).stdout.strip().splitlines()[0]
                util, mem = (float(v) for v in out.split(","))
                self.samples.append((time.time(), util, mem))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                pass
            self.stop.wait(self.period)

    def summary(self, t0: float, t1: float) -> dict:
        s = [(u, m) for t, u, m in self.samples if t0 <= t <= t1]
        if not s:
            return {"samples": 0}
        util = sorted(u for u, _ in s)
        return {"samples": len(s), "util_mean_pct": sum(util) / len(util), "util_median_pct": util[len(util) // 2],
                "busy_fraction": sum(u >= 50 for u in util) / len(util), "memory_peak_mib": max(m for _, m in s)}


def run_pytest(out: Path, log: Log, dry: bool) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"]
    if dry:
        cmd += ["--co"]  # CPU: only collect (the tests skip without CUDA)
    t = time.time()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    (out / "pytest_cuda.txt").write_text(p.stdout + p.stderr)
    last = (p.stdout.strip().splitlines() or [""])[-1]
    log(f"pytest -m cuda: exit {p.returncode}: {last} ({time.time() - t:.0f} s)")
    return {"exit": p.returncode, "summary": last, "seconds": time.time() - t}


def train_both(out: Path, log: Log, args: argparse.Namespace, sampler: GpuSampler | None) -> dict:
    data = "NUAA-SIRST" if (ROOT / "datasets" / "NUAA-SIRST" / "img_idx").is_dir() else "demo"
    if data == "demo" and not args.dry_run:
        raise SystemExit("datasets/NUAA-SIRST is not prepared (see the docstring); carry it to the GPU machine")
    epochs, imgsz = (1, 64) if args.dry_run else (args.epochs, 640)
    workers = max(1, (os.cpu_count() or 2) // len(MODELS) - 1)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    procs, logs, t0 = {}, {}, time.time()
    for m in MODELS:
        cmd = [sys.executable, "train.py", "--model", f"cfg/models/{m}.yaml", "--data", data, "--imgsz", str(imgsz),
               "--epochs", str(epochs), "--batch", "16", "--seed", "0", "--workers", str(workers),
               "--device", "cpu" if args.dry_run else "0", "--amp", "off" if args.dry_run else "fp16",
               "--project", str(runs), "--name", m, "--set", "exist_ok=true"]
        log(" ".join(cmd))
        logs[m] = (runs / f"{m}.log").open("w")
        procs[m] = (subprocess.Popen(cmd, cwd=ROOT, stdout=logs[m], stderr=subprocess.STDOUT), time.time())
    result = {"data": data, "epochs": epochs, "imgsz": imgsz, "batch": 16, "workers_per_run": workers,
              "concurrent": True, "models": {}}
    deadline = t0 + args.train_budget_s
    for m, (p, start) in procs.items():
        try:
            code = p.wait(timeout=max(deadline - time.time(), 1))
        except subprocess.TimeoutExpired:  # out of time: SIGTERM saves nothing new; last.pt / best.pt stay valid
            log(f"{m}: training budget of {args.train_budget_s:.0f} s spent; stopping it (SIGTERM)")
            p.terminate()
            code = p.wait()
        wall = time.time() - start
        logs[m].close()
        text = (runs / f"{m}.log").read_text()
        rates = [float(x) for x in re.findall(r"epoch \d+/\d+: loss [\d.]+, ([\d.]+) img/s", text)]
        done = max(len(rates), 1)  # epochs finished (each logs one line)
        result["models"][m] = {"exit": code, "wall_s": wall, "epochs_done": len(rates),
                               "minutes_per_100_epochs": wall / 60 * 100 / done,
                               "train_images_per_s_mean": sum(rates) / len(rates) if rates else None,
                               "train_images_per_s_last": rates[-1] if rates else None}
        log(f"{m}: exit {code}, {len(rates)} epochs in {wall:.0f} s ({wall / done:.2f} s per epoch incl. validation); "
            f"training {result['models'][m]['train_images_per_s_mean']} img/s mean")
        if code:
            log(text[-3000:])
    t1 = time.time()
    if sampler is not None:
        result["gpu"] = sampler.summary(t0, t1)
        log(f"GPU during training: {result['gpu']}")
    import val  # validate best.pt of each run (one process; metrics.json into out/<model>/)

    for m in MODELS:
        best = runs / m / "weights" / "best.pt"
        if not best.is_file():
            continue
        (out / m).mkdir(exist_ok=True)
        (out / m / "results.csv").write_bytes((runs / m / "results.csv").read_bytes())
        code = val.main(["--weights", str(best), "--device", "cpu" if args.dry_run else "0", "--project",
                         str(runs / "val"), "--name", m, "--batch", "32"])
        metrics = json.loads((runs / "val" / m / "metrics.json").read_text()) if code == 0 else {}
        (out / m / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        result["models"][m]["metrics"] = {k: metrics.get(k) for k in
                                          ("precision", "recall", "f1", "ap50", "ap50_95", "pd", "fa", "pd_c", "fa_c")}
        log(f"{m} best.pt: {result['models'][m]['metrics']}")
    return result


def latency(log: Log, dry: bool) -> dict:
    import torch

    from fscfnet.nn import build_model
    from fscfnet.utils.timing import stats, time_forward

    device = torch.device("cpu" if dry else "cuda")
    size, iters = (64, 3) if dry else (640, 100)
    out = {}
    for m in MODELS:
        model = build_model(ROOT / "cfg" / "models" / f"{m}.yaml", nc=1).fuse().to(device)
        model = model.half() if not dry else model
        for batch in (1, 32):
            x = torch.rand(batch, 3, size, size, device=device, dtype=torch.float16 if not dry else torch.float32)
            s = stats(time_forward(model, x, iters, warmup=10 if not dry else 1))
            s["images_per_s"] = 1e3 * batch / s["median_ms"]
            out[f"{m}_b{batch}"] = s
            log(f"latency {m} batch {batch} at {size}{' fp16 fused' if not dry else ''}: {s['median_ms']:.2f} ms "
                f"median ({s['images_per_s']:.0f} images/s)")
    return out


def groupsum_vs_grouped(log: Log, dry: bool) -> dict:
    """ACA's value conv at P3 of a 640 input (64 -> 32 channels, 3x3, groups 32, 80x80, batch 16), forward +
    backward, as the plain grouped conv and as depthwise + per-group sum."""
    import torch
    import torch.nn.functional as F

    from fscfnet.nn.blocks import GroupSumConv2d
    from fscfnet.utils.timing import stats, time_calls

    device = torch.device("cpu" if dry else "cuda")
    conv = GroupSumConv2d(64, 32, 3, 1, 0, groups=32, bias=False).to(device)
    x = torch.rand(16 if not dry else 2, 64, 82, 82, device=device, requires_grad=True)
    c, m = 64, 2

    def grouped(t):
        F.conv2d(t, conv.weight, None, 1, 0, 1, 32).sum().backward()

    def groupsum(t):
        y = F.conv2d(t, conv.weight.reshape(c, 1, 3, 3), None, 1, 0, 1, c)
        (y[:, 0::m] + y[:, 1::m]).sum().backward()

    with torch.enable_grad():
        out = {name: stats(time_calls(fn, x, 5 if dry else 100, warmup=3)) for name, fn in
               (("grouped_conv", grouped), ("depthwise_group_sum", groupsum))}
    log(f"ACA value conv fwd+bwd on {device}: grouped {out['grouped_conv']['median_ms']:.3f} ms, depthwise + group "
        f"sum {out['depthwise_group_sum']['median_ms']:.3f} ms")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or "runs/gpu_check", help="results folder (default $OUT)")
    ap.add_argument("--runs", default="runs/gpu_check_runs", help="training runs (not copied to --out)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--train-budget-s", type=float, default=330.0,
                    help="stop the trainings (SIGTERM) after this many seconds and validate what they reached")
    ap.add_argument("--dry-run", action="store_true", help="CPU, 1 epoch at 64 px, few iterations")
    ap.add_argument("--skip", nargs="*", default=[], choices=["pytest", "train", "latency"])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "log.txt")
    t0 = time.time()
    from fscfnet.utils.provenance import provenance

    report: dict = {"dry_run": args.dry_run, "provenance": provenance("cpu" if args.dry_run else "cuda")}
    log(f"gpu_check: {report['provenance']}")
    sampler = None
    if not args.dry_run:
        sampler = GpuSampler()
        sampler.start()
    steps = (("pytest", lambda: run_pytest(out, log, args.dry_run)),
             ("train", lambda: train_both(out, log, args, sampler)),
             ("latency", lambda: {**latency(log, args.dry_run), "aca_value_conv": groupsum_vs_grouped(log, args.dry_run)}))
    for name, fn in steps:
        if name in args.skip:
            continue
        try:
            report[name] = fn()
        except Exception as e:  # one failing step must not lose the others' numbers
            report[name] = {"error": f"{type(e).__name__}: {e}"}
            log(f"{name} failed: {type(e).__name__}: {e}")
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    report["wall_s"] = time.time() - t0
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"done in {report['wall_s']:.0f} s; files: {sorted(str(p.relative_to(out)) for p in out.rglob('*') if p.is_file())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
