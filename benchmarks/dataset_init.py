"""Time and peak memory of opening a dataset split (``IRSTDDataset``: every frame decoded once to check it reads
and to learn its size), in a fresh process per checkout, so that a change to it is measured against the code
before it.

    python benchmarks/dataset_init.py --data Drone-IR --split test [--before WORKTREE] \\
        --out benchmarks/results/dataset_init_drone_ir.json

Prints and writes, per checkout, the frames opened, the seconds, and the process's peak resident memory (MB).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from fscfnet.utils import provenance, write_json

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, resource, sys, time
from fscfnet.data import open_dataset
from fscfnet.data.dataset import IRSTDDataset
import fscfnet
t = time.perf_counter()
ds = IRSTDDataset(open_dataset(sys.argv[1]), sys.argv[2], imgsz=32, log=lambda s: None)
print(json.dumps({"package": fscfnet.__file__, "frames": len(ds.paths), "seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(checkout: Path, data: str, split: str) -> dict:
    # run in the checkout, so that its package is the one imported; the datasets stay this checkout's
    env = {**os.environ, "FSCFNET_DATASETS": os.environ.get("FSCFNET_DATASETS", str(ROOT / "datasets"))}
    done = subprocess.run([sys.executable, "-c", CHILD, data, split], capture_output=True, text=True, env=env,
                          cwd=checkout)
    if done.returncode:
        sys.exit(f"dataset_init: {checkout}: {done.stderr.strip()[-2000:]}")
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"checkout": str(checkout), "commit": commit, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--before", type=Path, default=None, help="a worktree of the code to compare against")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    runs = {"after": measure(ROOT, args.data, args.split)}
    if args.before is not None:
        runs = {"before": measure(args.before.resolve(), args.data, args.split), **runs}
    for name, r in runs.items():
        print(f"{name:6s} {r['commit']:10s} {r['package']}: {r['frames']} frames  {r['seconds']:.1f} s  peak {r['peak_rss_mb']:.0f} MB")
    write_json(args.out, {"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
                          "data": args.data, "split": args.split, "runs": runs, "provenance": provenance("cpu")})
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
