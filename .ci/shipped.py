"""CI: the checkpoints the installed wheel ships, used as a new user would, by the console command in an empty
folder with no weights file and no network. Each must box a synthetic target where it was drawn; once the default
checkpoint ships, `fscfnet detect` with no --weights must do so too, and must box the real target of --real IMAGE
(its --mask marks the target) when that frame is at hand.

    python .ci/shipped.py FSCFNET_BIN [--real IMAGE --mask MASK]      # run from an empty folder

Run it with the wheel's python from outside the checkout, so that `fscfnet` is the installed package.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from fscfnet.weights import DEFAULT, shipped_names

TARGET = (201, 117)  # x, y of the synthetic target


def synthetic_frame(path: Path) -> None:
    """A smooth 320 x 256 sky with a 5 x 5 hot Gaussian target at TARGET."""
    rng = np.random.default_rng(0)
    sky = cv2.GaussianBlur(rng.normal(90, 6, (256, 320)), (0, 0), 8) + rng.normal(0, 1.5, (256, 320))
    yy, xx = np.mgrid[:256, :320]
    sky += 70 * np.exp(-((xx - TARGET[0]) ** 2 + (yy - TARGET[1]) ** 2) / (2 * 1.5 ** 2))
    cv2.imwrite(str(path), np.clip(sky, 0, 255).astype(np.uint8))


def boxes(fscfnet: str, image: Path, name: str, *weights: str) -> np.ndarray:
    """``fscfnet detect [--weights W] --source image --save-txt`` in run folder ``name``: (n, 4) pixel x1 y1 x2 y2."""
    subprocess.run([fscfnet, "detect", *weights, "--source", str(image), "--save-txt", "--device", "cpu",
                    "--project", "runs", "--name", name], check=True)
    label = Path("runs", name, "labels", f"{image.stem}.txt")
    rows = np.loadtxt(label, ndmin=2).reshape(-1, 5) if label.is_file() else np.zeros((0, 5))
    h, w = cv2.imread(str(image), cv2.IMREAD_UNCHANGED).shape[:2]
    cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)


def covers(found: np.ndarray, x: float, y: float, slack: float = 2.0) -> bool:
    return bool(((found[:, 0] - slack <= x) & (x <= found[:, 2] + slack) &
                 (found[:, 1] - slack <= y) & (y <= found[:, 3] + slack)).any())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fscfnet", help="the installed console command")
    ap.add_argument("--real", type=Path, default=None)
    ap.add_argument("--mask", type=Path, default=None)
    args = ap.parse_args()
    names = shipped_names()
    if not names:
        sys.exit("shipped: the installed package ships no checkpoint")
    frame = Path("synthetic.png").resolve()
    synthetic_frame(frame)
    runs = [(n, ["--weights", n]) for n in names] + ([("default", [])] if DEFAULT in names else [])
    for name, weights in runs:
        if not covers(boxes(args.fscfnet, frame, name, *weights), *TARGET):
            sys.exit(f"shipped: {name} put no box on the synthetic target at {TARGET}")
    if DEFAULT in names and args.real is not None and args.real.is_file():
        mask = cv2.imread(str(args.mask), cv2.IMREAD_GRAYSCALE) > 127
        ys, xs = np.nonzero(mask)
        found = boxes(args.fscfnet, args.real, "real")
        if not any(covers(found, x, y, 0.0) for x, y in zip(xs, ys)):
            sys.exit(f"shipped: {DEFAULT} put no box on the target of {args.real}")
    print(f"shipped checkpoints from the wheel ({', '.join(names)}): each boxes the synthetic target"
          + (f"; the default, {DEFAULT}, boxes the real target of {args.real.name}" if DEFAULT in names and args.real
             and args.real.is_file() else f"; the default, {DEFAULT}, is not shipped yet" if DEFAULT not in names
             else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
