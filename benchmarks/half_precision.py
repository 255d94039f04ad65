"""How far half-precision storage (a shipped checkpoint) moves a trained model's detections: the checkpoint and
its half-precision copy run on the same frames in the model's own inference mode, and every detection scoring
at least --cut (and clear of it by --margin) is paired with the other model's nearest box of its class.

    python benchmarks/half_precision.py --weights runs/.../best.pt --images "datasets/IRSTD-1K/images/*.png" \\
        --limit 60 --out benchmarks/results/half_precision.json

Prints and writes the largest box-coordinate change (pixels), the largest score change, the pairs compared, the
detections without a twin, and both files' sizes. With --max-px and --max-score it is a check: exit 1 (after
writing the file) when a change exceeds either or a detection has no twin.
"""

from __future__ import annotations

import argparse
import glob
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from fscfnet import FSCFNet
from fscfnet.engine.checkpoint import save_shipped
from fscfnet.utils import provenance, write_json


def compare(a, b, cut: float, margin: float) -> tuple[list[float], list[float], int]:
    """Box and score changes of ``a``'s detections (>= cut + margin) against their twins in ``b``; unpaired count."""
    boxes, scores, alone = [], [], 0
    for box, score, cls in zip(a.boxes, a.scores, a.classes):
        if score < cut + margin:
            continue
        same = np.flatnonzero(np.asarray(b.classes) == cls)
        if not len(same):
            alone += 1
            continue
        d = np.abs(np.asarray(b.boxes)[same] - box).max(1)
        j = same[d.argmin()]
        boxes.append(float(d.min()))
        scores.append(abs(float(b.scores[j]) - float(score)))
    return boxes, scores, alone


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--images", required=True, help="glob of frames")
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--cut", type=float, default=0.1)
    ap.add_argument("--margin", type=float, default=0.005)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-px", type=float, default=None, help="fail when a box moves more (pixels)")
    ap.add_argument("--max-score", type=float, default=None, help="fail when a score moves more")
    args = ap.parse_args()
    files = sorted(glob.glob(args.images))[:args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        half_path = save_shipped(args.weights, Path(tmp) / "half.pt", {"name": "half", "conf": 0.25})
        sizes = {"full_mb": args.weights.stat().st_size / 2**20, "half_mb": half_path.stat().st_size / 2**20}
        full, half = FSCFNet(args.weights, device="cpu"), FSCFNet(half_path, device="cpu")
        boxes, scores, alone = [], [], 0
        for f in files:
            ra, rb = full.predict(f, conf=args.cut - args.margin)[0], half.predict(f, conf=args.cut - args.margin)[0]
            for x, y in ((ra, rb), (rb, ra)):
                b, s, n = compare(x, y, args.cut, args.margin)
                boxes, scores, alone = boxes + b, scores + s, alone + n
    result = {"frames": len(files), "pairs": len(boxes), "unpaired": alone, "max_box_px": max(boxes, default=None),
              "max_score": max(scores, default=None), "mean_box_px": float(np.mean(boxes)) if boxes else None, **sizes}
    print(result)
    write_json(args.out, {"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
                          "weights": str(args.weights), "cut": args.cut, "margin": args.margin, **result,
                          "provenance": provenance("cpu")})
    limits = {"max_box_px": args.max_px, "max_score": args.max_score}
    problems = [f"{k} {result[k]:.4g} > {v:g}" for k, v in limits.items() if v is not None and (result[k] or 0) > v]
    if alone:
        problems.append(f"{alone} detections without a twin")
    if not boxes:
        problems.append("no detection to compare")
    if any(v is not None for v in limits.values()) and problems:
        print(f"half precision: {'; '.join(problems)} ({args.out})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
