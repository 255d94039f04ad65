"""Draw an example of what detect draws: a synthetic 768 x 432 frame (4 x 3 demo frames of held-out indices, so no
dataset image is copied) through `fscfnet detect --slice 320`, whose annotated output has the zoomed insets.

    python docs/assets/make_figure.py --weights runs/train/exp/weights/best.pt   # the demo run of the README

Writes docs/assets/detections.png (git-ignored: the repository tracks no pictures).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from fscfnet.commands.detect import main as detect
from fscfnet.data.demo import make_frame


def synthetic_frame(seed: int = 7, first: int = 1000) -> np.ndarray:
    """4 x 3 demo frames (indices beyond the demo set's 320) side by side: 768 x 432, grey."""
    rows = [np.concatenate([make_frame(seed, first + 4 * r + c)[0] for c in range(4)], 1) for r in range(3)]
    return np.concatenate(rows, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "detections.png")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        frame = Path(tmp) / "frame.png"
        cv2.imwrite(str(frame), synthetic_frame())
        assert detect(["--weights", args.weights, "--source", str(frame), "--slice", "320", "--conf", "0.4",
                       "--project", tmp, "--name", "d"]) == 0
        img = cv2.imread(str(Path(tmp) / "d" / "frame.png"))
    cv2.imwrite(str(args.out), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({img.shape[1]} x {img.shape[0]})")


if __name__ == "__main__":
    main()
