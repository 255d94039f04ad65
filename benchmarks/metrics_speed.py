"""Time fscfnet.metrics.evaluate on a synthetic split (default: 1,000 images, 10 predictions each).

    python benchmarks/metrics_speed.py [--images 1000] [--per-image 10]

Writes benchmarks/results/metrics_speed.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from fscfnet.metrics import evaluate
from fscfnet.utils import write_json


def split(rng: np.random.Generator, n_images: int, per_image: int):
    preds, targets = [], []
    for _ in range(n_images):
        t = np.array([[0, x, y, x + w, y + h] for x, y, w, h in
                      zip(rng.uniform(0, 300, 3), rng.uniform(0, 220, 3), rng.uniform(2, 15, 3), rng.uniform(2, 15, 3))
                      ][: rng.integers(0, 4)]).reshape(-1, 5)
        p = []
        for _ in range(per_image):
            if len(t) and rng.random() < 0.5:
                p.append([*(t[rng.integers(len(t)), 1:] + rng.normal(0, 1.5, 4)), rng.random(), 0])
            else:
                x, y = rng.uniform(0, 300), rng.uniform(0, 220)
                p.append([x, y, x + 6, y + 6, rng.random() * 0.5, 0])
        preds.append(np.array(p))
        targets.append(t)
    return preds, targets, [(240, 320)] * n_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--per-image", type=int, default=10)
    args = ap.parse_args()
    preds, targets, sizes = split(np.random.default_rng(0), args.images, args.per_image)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        evaluate(preds, targets, sizes)
        times.append(time.perf_counter() - t)
    best, median = min(times), float(np.median(times))
    print(f"{args.images * args.per_image} predictions on {args.images} images: median {median:.3f} s (best {best:.3f} s)")
    write_json(ROOT / "benchmarks" / "results" / "metrics_speed.json",
               {"images": args.images, "predictions": args.images * args.per_image, "median_s": median, "best_s": best})


if __name__ == "__main__":
    main()
