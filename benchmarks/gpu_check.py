"""The GPU check: one run on a lent GPU machine that cannot come back empty.

    OUT=... bash benchmarks/gpu_check.sh [--deadline-s 510] [--dry-run] [--fail STAGE]

Everything happens before one global deadline (``--deadline-s`` seconds after the start, default 510, inside the
device tool's 540-s limit). A pre-flight file comes first, then the stages in order, each in a child process
with a timeout taken from what is left of the deadline (minus a reserve for the stages after it), so a hang
costs one stage, not the run:

  preflight.json       torch, CUDA, driver (nvidia-smi), /dev/shm and the loader workers it allows, the
                       dataset's label files, packages missing from the image
  1. train             NUAA-SIRST (213/214), 640 px, 100 epochs, batch 16, seed 0, AMP fp16, val_period 5,
                       FSCFNet and YOLOv10-n side by side on the GPU, stopped (SIGTERM) when their share of the
                       deadline is spent; nvidia-smi sampled every second    -> train_<model>.log, <model>_results.csv
  2. validate          best.pt of each run (last.pt when no epoch was validated yet), val.py on the GPU
  3. latency           batch 1 and 32 at 640, fp16, fused, both models; ACA's value conv as a grouped conv and as
                       depthwise + group sum (each measured on its own: one failure drops no other number)
  4. cuda_tests        python3 -m pytest -m cuda                               -> pytest_cuda.txt
  gpu_check.json       the report, rewritten the moment each result is known (and every 10 s while training)
  log.txt              what the script did

Any exception in a stage (``BaseException``, ``SystemExit`` included) is recorded in the report and the next stage
runs. At most 8 files in ``--out``. ``--dry-run`` proves the script here: the same stages on the CPU, 1 epoch at
64 px (the demo data when NUAA-SIRST is not prepared), few latency iterations, ``pytest --collect-only``.
``--fail STAGE`` makes that stage raise at its start (to show the others still report). The dataset must be
prepared at ``datasets/NUAA-SIRST`` and carried: ``python -m fscfnet.data.prepare ../shared/datasets/NUAA-SIRST
--dst datasets/NUAA-SIRST``. The interpreter is ``$PYTHON``, else ``python3``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("fscfnet", "yolov10n")
STAGES = ("train", "validate", "latency", "cuda_tests")
RESERVE_S = {"validate": 50, "latency": 50, "cuda_tests": 100}  # kept for each stage while earlier ones run
DRY_RESERVE_S = {"validate": 25, "latency": 15, "cuda_tests": 30}
OPTIONAL = ("pycocotools", "pytorch_wavelets", "pywt", "scipy", "onnx", "onnxscript", "onnxruntime")
REQUIRED = ("torch", "torchvision", "numpy", "cv2", "yaml", "tqdm", "matplotlib", "pytest")
SHM_PER_WORKER = 2 * 3 * 640 * 640 * (16 + 32)  # bytes a loader worker may hold in /dev/shm: 2 prefetched
#                                                  train (16) and val (32) uint8 batches at 640


class Report:
    """gpu_check.json, rewritten atomically after every change, and log.txt."""

    def __init__(self, out: Path):
        self.out, self.data = out, {}
        self.log_file = (out / "log.txt").open("a")

    def log(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def set(self, key: str, value: object) -> None:
        self.data[key] = value
        tmp = self.out / ".gpu_check.json.tmp"
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        os.replace(tmp, self.out / "gpu_check.json")


class GpuSampler(threading.Thread):
    """nvidia-smi every second: utilisation (%) and memory used (MiB) of GPU 0."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                line = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,"
                                       "nounits", "-i", "0"], capture_output=True, text=True, timeout=5).stdout
                util, mem = (float(v) for v in line.strip().splitlines()[0].split(","))
                self.samples.append((time.time(), util, mem))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                pass
            self.stop.wait(1.0)

    def summary(self) -> dict:
        if not self.samples:
            return {"samples": 0}
        util = [u for _, u, _ in self.samples]
        return {"samples": len(util), "util_mean_pct": statistics.mean(util), "util_median_pct": statistics.median(util),
                "busy_fraction": sum(u >= 50 for u in util) / len(util),
                "memory_peak_mib": max(m for _, _, m in self.samples)}


def python() -> str:
    return os.environ.get("PYTHON") or "python3"


def child_env(threads: int | None = None) -> dict:
    """The environment of every child: the checkout importable (the package need not be installed there), and
    for the side-by-side trainings a thread count that shares the CPUs instead of oversubscribing them (two
    processes each spinning on every core ran 15x slower here)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
           "PYTHONUNBUFFERED": "1"}
    return env if threads is None else {**env, "OMP_NUM_THREADS": str(threads)}


def run_child(cmd: list[str], timeout: float, log_path: Path | None = None) -> dict:
    """Run ``cmd`` in its own process group for at most ``timeout`` s (then SIGTERM to the group, SIGKILL 20 s
    later): its exit code, seconds, whether it timed out, and its output's tail when not sent to ``log_path``."""
    t0 = time.time()
    sink = log_path.open("w") if log_path else subprocess.PIPE
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                         env=child_env())
    timed_out = False
    try:
        out, _ = p.communicate(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        timed_out = True
        out = stop_group(p)
    finally:
        if log_path:
            sink.close()
    result = {"exit": p.returncode, "seconds": round(time.time() - t0, 1), "timed_out": timed_out}
    if out:
        result["output_tail"] = out[-3000:]
    return result


def stop_group(p: subprocess.Popen, grace: float = 20.0) -> str:
    """SIGTERM to ``p`` (the trainer takes it as Ctrl-C: last.pt / best.pt stay valid and its loader workers are
    shut down), SIGKILL to its whole process group after ``grace`` s; returns any captured output."""
    for kill, wait in ((lambda: p.send_signal(signal.SIGTERM), grace), (lambda: os.killpg(p.pid, signal.SIGKILL), 10.0)):
        try:
            kill()
        except ProcessLookupError:
            pass
        try:
            out, _ = p.communicate(timeout=wait)
            return out or ""
        except subprocess.TimeoutExpired:
            continue
    return ""


# --------------------------------------------------------------------------------------------------- pre-flight
def dataset_check(name: str) -> dict:
    """A prepared dataset: index files, and a label file with at least one line for the training images."""
    root = ROOT / "datasets" / name
    info: dict = {"path": str(root), "exists": root.is_dir()}
    for split in ("train", "test"):
        index = root / "img_idx" / f"{split}_{name}.txt"
        stems = [s.strip() for s in index.read_text().splitlines() if s.strip()] if index.is_file() else []
        labels = [root / "labels" / f"{s}.txt" for s in stems]
        present = [p for p in labels if p.is_file()]
        info[split] = {"images": len(stems), "label_files": len(present),
                       "targets": sum(len([ln for ln in p.read_text().splitlines() if ln.strip()]) for p in present)}
    info["prepared"] = info["train"]["targets"] > 0 and info["test"]["targets"] > 0
    return info


def shm_workers(cpus: int, runs: int) -> tuple[int, dict]:
    """Loader workers per training run: CPUs // runs - 1, lowered so that every run's workers fit in half of the
    free /dev/shm (a full /dev/shm kills workers with a bus error)."""
    by_cpu = max(1, cpus // runs - 1)
    try:
        usage = shutil.disk_usage("/dev/shm")
    except OSError:
        return by_cpu, {"shm": "unreadable"}
    by_shm = int(usage.free * 0.5 // (SHM_PER_WORKER * runs))
    return min(by_cpu, by_shm), {"shm_total_mib": usage.total >> 20, "shm_free_mib": usage.free >> 20,
                                 "workers_by_cpu": by_cpu, "workers_by_shm": by_shm}


def preflight(dry: bool) -> dict:
    info: dict = {"python": sys.version.split()[0], "executable": sys.executable, "machine": platform.machine(),
                  "cpus": os.cpu_count()}
    info["missing_required"] = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    info["missing_optional"] = [m for m in OPTIONAL if importlib.util.find_spec(m) is None]
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda_available"] = torch.cuda.is_available()
        info["cuda_runtime"] = torch.version.cuda
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["capability"] = list(torch.cuda.get_device_capability(0))
    except BaseException as e:  # noqa: BLE001 - a pre-flight never stops the run
        info["torch_error"] = f"{type(e).__name__}: {e}"
    try:
        info["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,memory.used",
                                             "--format=csv,noheader"], capture_output=True, text=True,
                                            timeout=15).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        info["nvidia_smi"] = f"unavailable: {type(e).__name__}"
    info["workers"], info["shm"] = shm_workers(os.cpu_count() or 2, len(MODELS))
    info["dataset"] = dataset_check("NUAA-SIRST")
    info["data"] = "NUAA-SIRST" if info["dataset"]["prepared"] else ("demo" if dry else None)
    return info


# --------------------------------------------------------------------------------------------------- stages
def read_results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def progress(run_dir: Path, n_train: int) -> dict:
    """Epochs finished, training images/s of the median epoch, the last validated epoch's AP50 (from results.csv)."""
    rows = read_results(run_dir / "results.csv")
    train_s = [float(r["train_s"]) for r in rows if r.get("train_s")]
    val_s = [float(r["val_s"]) for r in rows if r.get("val_s")]
    validated = [r for r in rows if r.get("ap50")]
    return {"epochs_done": len(rows), "train_images_per_s": n_train / statistics.median(train_s) if train_s else None,
            "train_s": sum(train_s), "val_s": sum(val_s), "validations": len(val_s),
            "last_validated": {k: validated[-1][k] for k in ("epoch", "ap50", "ap50_95", "precision", "recall")}
            if validated else None}


def stage_train(ctx: dict, budget: float, report: Report) -> dict:
    pre, dry = ctx["preflight"], ctx["dry"]
    if pre["data"] is None:
        raise RuntimeError(f"datasets/NUAA-SIRST is not prepared ({pre['dataset']}); prepare it here and carry it")
    if not dry and not pre.get("cuda_available"):
        raise RuntimeError("torch sees no CUDA device (see preflight.json)")
    epochs, imgsz = (1, 64) if dry else (ctx["epochs"], 640)
    n_train = pre["dataset"]["train"]["images"] if pre["data"] == "NUAA-SIRST" else None
    result: dict = {"data": pre["data"], "epochs": epochs, "imgsz": imgsz, "batch": 16, "val_period": 5,
                    "workers_per_run": pre["workers"], "budget_s": round(budget), "models": {}}
    procs, logs = {}, {}
    threads = max(1, (pre["cpus"] or 2) // len(MODELS) - pre["workers"])  # per training process, beside its workers
    result["threads_per_run"] = threads
    for m in MODELS:
        cmd = [python(), "train.py", "--model", m, "--data", pre["data"], "--imgsz", str(imgsz), "--epochs",
               str(epochs), "--batch", "16", "--seed", "0", "--workers", str(pre["workers"]), "--device",
               "cpu" if dry else "0", "--amp", "off" if dry else "fp16", "--project", str(ctx["runs"]), "--name", m,
               "--set", "exist_ok=true", "val_period=5"]
        report.log(" ".join(cmd))
        logs[m] = (ctx["out"] / f"train_{m}.log").open("w")
        procs[m] = subprocess.Popen(cmd, cwd=ROOT, stdout=logs[m], stderr=subprocess.STDOUT, start_new_session=True,
                                    env=child_env(threads))
    sampler = GpuSampler() if not dry else None
    if sampler:
        sampler.start()
    t0, end = time.time(), time.time() + budget
    try:
        while any(p.poll() is None for p in procs.values()) and time.time() < end:
            time.sleep(min(10.0, max(end - time.time(), 0.1)))
            result["elapsed_s"] = round(time.time() - t0)
            for m in MODELS:
                result["models"][m] = progress(ctx["runs"] / m, n_train or 0)
            if sampler:
                result["gpu"] = sampler.summary()
            report.set("train", {**result, "state": "running"})
    finally:
        for m, p in procs.items():
            stopped = p.poll() is None
            if stopped:
                report.log(f"{m}: its share of the deadline ({budget:.0f} s) is spent; stopping it")
                stop_group(p)
            logs[m].close()
            run_dir = ctx["runs"] / m
            if (run_dir / "results.csv").is_file():
                shutil.copyfile(run_dir / "results.csv", ctx["out"] / f"{m}_results.csv")
            n = n_train or len(read_index_lines(run_dir))
            result["models"][m] = {"exit": p.returncode, "stopped_at_deadline": stopped, **progress(run_dir, n)}
        if sampler:
            sampler.stop.set()
            result["gpu"] = sampler.summary()
    result["elapsed_s"] = round(time.time() - t0)
    for m, r in result["models"].items():
        report.log(f"{m}: exit {r['exit']}, {r['epochs_done']} epochs, {r['train_images_per_s']} img/s, "
                   f"last validated {r['last_validated']}")
    return result


def read_index_lines(run_dir: Path) -> list[str]:
    """The training images of a demo run (its args.yaml names the data); used for img/s in the dry run."""
    try:
        import yaml

        from fscfnet.cfg import load_data_config

        data = load_data_config(yaml.safe_load((run_dir / "args.yaml").read_text())["data"])
        return [s for s in data.index_file("train").read_text().splitlines() if s.strip()]
    except Exception:  # noqa: BLE001 - only the dry run's img/s depends on it
        return []


def stage_validate(ctx: dict, budget: float, report: Report) -> dict:
    out: dict = {}
    end = time.time() + budget
    for m in MODELS:
        weights = next((w for w in (ctx["runs"] / m / "weights" / n for n in ("best.pt", "last.pt")) if w.is_file()), None)
        if weights is None:
            out[m] = {"error": "no checkpoint was written (training stopped before its first epoch ended)"}
            continue
        name = f"val_{m}"
        shutil.rmtree(ctx["runs"] / name, ignore_errors=True)
        cmd = [python(), "val.py", "--weights", str(weights), "--device", "cpu" if ctx["dry"] else "0", "--batch",
               "32", "--workers", str(ctx["preflight"]["workers"]), "--project", str(ctx["runs"]), "--name", name]
        r = run_child(cmd, end - time.time())
        metrics_file = ctx["runs"] / name / "metrics.json"
        if metrics_file.is_file():
            metrics = json.loads(metrics_file.read_text())
            r["metrics"] = {k: metrics.get(k) for k in ("precision", "recall", "f1", "ap50", "ap50_95", "pd", "fa")}
            r.pop("output_tail", None)
        out[m] = {"weights": weights.name, **r}
        report.log(f"validate {m} {weights.name}: {out[m].get('metrics') or out[m]}")
        report.set("validate", out)
    return out


def stage_latency(ctx: dict, budget: float, report: Report) -> dict:
    result_file = ctx["runs"] / "latency.json"
    result_file.unlink(missing_ok=True)
    cmd = [python(), str(Path(__file__).resolve()), "--child-latency", str(result_file)] + (["--dry-run"] if ctx["dry"] else [])
    r = run_child(cmd, budget)
    if result_file.is_file():
        r.update(json.loads(result_file.read_text()))
        r.pop("output_tail", None)
    for k, v in r.items():
        if isinstance(v, dict):
            report.log(f"latency {k}: {v.get('median_ms', v)}")
    return r


def stage_cuda_tests(ctx: dict, budget: float, report: Report) -> dict:
    cmd = [python(), "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"] + (["--collect-only"] if ctx["dry"] else [])
    r = run_child(cmd, budget, ctx["out"] / "pytest_cuda.txt")
    lines = [ln for ln in (ctx["out"] / "pytest_cuda.txt").read_text().splitlines() if ln.strip()]
    r["summary"] = lines[-1] if lines else ""
    report.log(f"cuda tests: exit {r['exit']}, {r['summary']}")
    return r


# --------------------------------------------------------------------------------------------------- latency child
def child_latency(path: Path, dry: bool) -> None:
    """Each measurement on its own (a failure is recorded under its name); results written after each."""
    import torch

    from fscfnet.nn import build_model
    from fscfnet.utils import stats, time_calls, time_forward

    device = torch.device("cpu" if dry else "cuda")
    dtype = torch.float32 if dry else torch.float16
    size, iters, warmup = (64, 3, 1) if dry else (640, 100, 10)
    out: dict = {"device": str(device), "imgsz": size, "dtype": str(dtype)}

    def measure(name: str, fn: Callable[[], dict]) -> None:
        try:
            out[name] = fn()
        except BaseException as e:  # noqa: BLE001 - one measurement's failure loses no other
            out[name] = {"error": f"{type(e).__name__}: {e}"}
        path.write_text(json.dumps(out, indent=2) + "\n")

    def model_latency(m: str, batch: int) -> dict:
        model = build_model(m, nc=1).fuse().to(device, dtype).eval()
        x = torch.rand(batch, 3, size, size, device=device, dtype=dtype)
        s = stats(time_forward(model, x, iters, warmup))
        return {**s, "images_per_s": 1e3 * batch / s["median_ms"]}

    def aca_value_conv() -> dict:
        """ACA's value conv at P3 of a 640 input (64 -> 32 channels, 3x3, groups 32, 80x80, batch 16), forward +
        backward, as the plain grouped conv and as depthwise + per-group sum."""
        import torch.nn.functional as F

        w = torch.randn(32, 2, 3, 3, device=device, requires_grad=True)
        x = torch.rand(16 if not dry else 2, 64, 82, 82, device=device, requires_grad=True)

        def grouped(t):
            F.conv2d(t, w, None, 1, 0, 1, 32).sum().backward()

        def groupsum(t):
            y = F.conv2d(t, w.reshape(64, 1, 3, 3), None, 1, 0, 1, 64)
            (y[:, 0::2] + y[:, 1::2]).sum().backward()

        with torch.enable_grad():
            return {name: stats(time_calls(fn, x, iters, warmup)) for name, fn in
                    (("grouped_conv", grouped), ("depthwise_group_sum", groupsum))}

    for m in MODELS:
        for batch in (1, 32):
            measure(f"{m}_b{batch}", lambda m=m, batch=batch: model_latency(m, batch))
    measure("aca_value_conv", aca_value_conv)


# --------------------------------------------------------------------------------------------------- main
def stage_budget(stage: str, deadline: float, reserve: dict) -> float:
    """Seconds ``stage`` may use: what is left of the deadline minus the reserve of every later stage."""
    later = STAGES[STAGES.index(stage) + 1:]
    return deadline - time.time() - sum(reserve[s] for s in later)


def run_stages(stages: dict[str, Callable[[float], dict]], deadline: float, reserve: dict, report: Report,
               fail: str | None = None, min_s: float = 5.0) -> None:
    """Each stage in turn with its budget; its result (or its error, or 'skipped for time') into the report."""
    for name, fn in stages.items():
        budget = stage_budget(name, deadline, reserve)
        if budget < min_s:
            report.set(name, {"skipped": f"no time left ({budget:.0f} s of the deadline)"})
            report.log(f"{name}: skipped, no time left")
            continue
        report.log(f"{name}: starting with {budget:.0f} s")
        t0 = time.time()
        try:
            if name == fail:
                raise SystemExit(f"--fail {name}: a planted failure")
            result = fn(budget)
        except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too: the next stage runs
            result = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
            report.log(f"{name} failed: {type(e).__name__}: {e}")
        result["stage_s"] = round(time.time() - t0, 1)
        report.set(name, result)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "runs/gpu_check"),
                    help="results folder, at most 8 files (default $OUT)")
    ap.add_argument("--runs", type=Path, default=Path("runs/gpu_check_runs"), help="training runs (not copied)")
    ap.add_argument("--deadline-s", type=float, default=510.0, help="every stage ends within this many seconds")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--dry-run", action="store_true", help="the CPU, 1 epoch at 64 px, few iterations")
    ap.add_argument("--fail", choices=STAGES, help="make this stage raise at its start (proves the others report)")
    ap.add_argument("--child-latency", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_latency:
        child_latency(args.child_latency, args.dry_run)
        return 0
    t0 = time.time()
    deadline = t0 + args.deadline_s
    out, runs = args.out.resolve(), (ROOT / args.runs).resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    report = Report(out)
    report.set("command", " ".join([python(), "benchmarks/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]))
    pre = preflight(args.dry_run)
    (out / "preflight.json").write_text(json.dumps(pre, indent=2) + "\n")
    report.log(f"preflight: torch {pre.get('torch')}, CUDA {pre.get('cuda_available')} {pre.get('gpu', '')}, "
               f"workers {pre['workers']} ({pre['shm']}), data {pre['data']}, missing {pre['missing_optional']}")
    ctx = {"preflight": pre, "dry": args.dry_run, "out": out, "runs": runs, "epochs": args.epochs}
    stages = {name: (lambda budget, f=fn: f(ctx, budget, report)) for name, fn in
              (("train", stage_train), ("validate", stage_validate), ("latency", stage_latency),
               ("cuda_tests", stage_cuda_tests))}
    run_stages(stages, deadline, DRY_RESERVE_S if args.dry_run else RESERVE_S, report, args.fail)
    files = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    report.set("wall_s", round(time.time() - t0, 1))
    report.set("files", files)
    report.log(f"done in {time.time() - t0:.0f} s of {args.deadline_s:.0f}; {len(files)} files: {files}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
