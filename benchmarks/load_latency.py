"""Load time and first-frame latency of a shipped checkpoint, as a new user meets them: each repeat is a fresh Python
process that imports the package, loads the model by name, and predicts one frame, then the same frame again.

    python benchmarks/load_latency.py --weights fscfnet-irstd --image datasets/IRSTD-1K/images/XDU0.png \\
        --repeats 5 --out benchmarks/results/load_latency_irstd.json

Prints and writes, per phase, the median and range over the repeats (milliseconds): ``import`` (``from fscfnet
import FSCFNet``), ``load`` (``FSCFNet(name)`` and reading its weights into the fused network), ``first_frame``
(the first ``predict``, which reads the frame and warms the kernels), ``next_frame`` (median of 10 further
predicts of the same frame), and ``process`` (the whole child process, interpreter start included). Time it on an
idle machine.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from fscfnet.utils import provenance, write_json

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from fscfnet import FSCFNet
t1 = time.perf_counter()
model = FSCFNet(sys.argv[1], device=sys.argv[3])
model.model  # loaded on first use: load it here
t2 = time.perf_counter()
first = model.predict(sys.argv[2])[0]
t3 = time.perf_counter()
later = []
for _ in range(10):
    s = time.perf_counter()
    model.predict(sys.argv[2])
    later.append(time.perf_counter() - s)
later.sort()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_frame": t3 - t2, "next_frame": later[len(later) // 2],
                  "boxes": len(first.boxes), "identity": model.model.identity()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default="fscfnet-irstd", help="a shipped name (or a checkpoint path)")
    ap.add_argument("--image", required=True, help="the frame to predict")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, args.weights, args.image, args.device],
                              capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"load_latency: the child process failed:\n{done.stderr.strip()}")
        runs.append({**json.loads(done.stdout.strip().splitlines()[-1]), "process": time.perf_counter() - start})
    phases = ("import", "load", "first_frame", "next_frame", "process")
    summary = {p: {"median_ms": 1000 * statistics.median(r[p] for r in runs),
                   "min_ms": 1000 * min(r[p] for r in runs), "max_ms": 1000 * max(r[p] for r in runs)}
               for p in phases}
    for p, s in summary.items():
        print(f"{p:12s} {s['median_ms']:8.1f} ms  (range {s['min_ms']:.1f}-{s['max_ms']:.1f}, {args.repeats} processes)")
    print(f"model: {runs[0]['identity']}; boxes on the frame: {runs[0]['boxes']}")
    write_json(args.out, {"weights": args.weights, "image": args.image, "device": args.device,
                          "repeats": args.repeats, "summary": summary, "runs": runs,
                          "identity": runs[0]["identity"], "command": shlex.join(sys.argv),
                          "provenance": provenance(args.device)})
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
