"""Fixed-seed regression check: the same short training run in two checkouts must give the same numbers.

    python benchmarks/fixed_seed.py --before /path/to/worktree-of-old-commit [--after .] \
        --models yolov10n fscfnet --epochs 2 --out benchmarks/results/fixed_seed_<what>.json

Runs ``python train.py --data demo --epochs E --seed 0 --device cpu`` for each model in each checkout, one run
at a time, on one demo dataset shared by both (``$FSCFNET_DATASETS`` points at a temporary folder), and compares
every column of ``results.csv`` except the timings (loss terms, learning rate, P, R, F1, AP50, AP50:95, Pd, Fa).
Prints and writes, per model, whether the columns are identical and the first differing row. With
``--val-weights W --val-data NAME --imgsz S`` it also runs ``val.py`` on one trained checkpoint in both checkouts
and lists every metric that differs (with both values): the inference path on a model that detects something.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIME_COLUMNS = {"train_s", "val_s"}


def git_commit(checkout: Path) -> str:
    out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def train(checkout: Path, model: str, epochs: int, project: Path, name: str, env: dict) -> str:
    cmd = [sys.executable, "train.py", "--model", f"cfg/models/{model}.yaml", "--data", "demo", "--epochs",
           str(epochs), "--seed", "0", "--workers", "2", "--device", "cpu", "--project", str(project), "--name", name]
    subprocess.run(cmd, cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL)
    return (project / name / "results.csv").read_text()


def validate(checkout: Path, weights: Path, data: str, imgsz: int, out: Path, env: dict) -> dict:
    cmd = [sys.executable, "val.py", "--weights", str(weights), "--data", data, "--imgsz", str(imgsz), "--device",
           "cpu", "--workers", "2", "--project", str(out.parent), "--name", out.name]
    subprocess.run(cmd, cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL)
    metrics = json.loads((out / "metrics.json").read_text())
    metrics.pop("ms_per_image", None)
    metrics.pop("mode", None)  # how the frames were fed and read (recorded from 87d85cc on); the scores are compared
    metrics.pop("input_norm", None)
    at_conf = metrics.pop("at_conf", {})
    return {**metrics, **{f"at_conf.{k}": v for k, v in at_conf.items()}}


def comparable(text: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(io.StringIO(text))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="checkout of the earlier commit")
    ap.add_argument("--after", type=Path, default=ROOT, help="checkout of the later commit (default: this one)")
    ap.add_argument("--models", nargs="+", default=["yolov10n", "fscfnet"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--val-weights", type=Path, default=None, help="a trained checkpoint to validate in both")
    ap.add_argument("--val-data", default="NUAA-SIRST")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    result = {"what": __doc__.split("\n")[0], "command": " ".join(["python", *sys.argv]),
              "before": git_commit(args.before), "after": git_commit(args.after), "epochs": args.epochs, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FSCFNET_DATASETS": str(Path(tmp) / "datasets")}
        for model in args.models:
            runs = {side: train(checkout, model, args.epochs, Path(tmp) / "runs", f"{model}_{side}", env)
                    for side, checkout in (("before", args.before), ("after", args.after))}
            a, b = comparable(runs["before"]), comparable(runs["after"])
            differ = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None if len(a) == len(b) else 0)
            result["models"][model] = {"identical": differ is None, "first_differing_epoch":
                                       None if differ is None else differ + 1,
                                       "before_results_csv": runs["before"], "after_results_csv": runs["after"]}
            print(f"{model}: {'identical' if differ is None else f'differs from epoch {differ + 1}'} "
                  f"({result['before']} vs {result['after']}, {args.epochs} epochs, seed 0)")
        if args.val_weights:
            data_env = {k: v for k, v in env.items() if k != "FSCFNET_DATASETS"}  # each checkout's datasets/
            vals = {side: validate(checkout, args.val_weights.resolve(), args.val_data, args.imgsz,
                                   Path(tmp) / "val" / side, data_env)
                    for side, checkout in (("before", args.before), ("after", args.after))}
            diff = {k: [v, vals["after"].get(k)] for k, v in vals["before"].items() if vals["after"].get(k) != v}
            result["val"] = {"weights": str(args.val_weights), "data": args.val_data, "imgsz": args.imgsz,
                             "before": vals["before"], "differing": diff}
            print(f"val.py on {args.val_weights}: " + ("identical metrics" if not diff else
                  "; ".join(f"{k} {a!r} vs {b!r}" for k, (a, b) in diff.items())))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
