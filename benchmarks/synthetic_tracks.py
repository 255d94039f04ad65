"""Synthetic tiny-target sequences with known tracks, over real target-free infrared frames: 1-3 targets per
sequence, each a 2-D Gaussian (2-5 px wide at half maximum, 25-80 grey levels above the background) moving at a
constant velocity of 0-4 px per frame (reflected at the borders, with 0.2 px of jitter), on a frame that stays
put but carries fresh sensor noise every frame. Written as a video dataset source that ``fscfnet prepare`` reads
(``videos/NAME/*.png``, ``gt/NAME.txt`` in MOTChallenge form, ``train.txt`` / ``test.txt``, ``videos.csv`` with each
sequence's speed bin), seeded, so the same command gives the same sequences.

    python benchmarks/synthetic_tracks.py --background datasets/background-test/images --min-side 256 \\
        --sequences 24 --frames 60 --seed 0 --out runs/synthetic_tracks_src
    fscfnet prepare runs/synthetic_tracks_src --dst datasets/synthetic-tracks --names target

A target's box is its half-maximum extent (the demo set's rule), so a 2-px target has a 2 x 2 box: a target that
moves 3 px has no overlap with its last box.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

SPEED_BINS = ((0.0, 1.0, "0-1"), (1.0, 2.5, "1-2.5"), (2.5, 4.0, "2.5-4"))  # px per frame


def backgrounds(folder: Path, min_side: int) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp", ".tif", ".tiff"))
    out = [p for p in files if min(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).shape) >= min_side]
    if not out:
        raise SystemExit(f"{folder}: no image with both sides of at least {min_side} px")
    return out


def sequence(rng: np.random.Generator, frame: np.ndarray, n_frames: int, speed: tuple[float, float]) -> tuple:
    """The frames (uint8) and the ground-truth rows of one sequence on background ``frame``."""
    h, w = frame.shape
    targets = []
    for k in range(int(rng.integers(1, 4))):
        size = rng.uniform(2.0, 5.0)
        v = rng.uniform(*speed)
        angle = rng.uniform(0, 2 * np.pi)
        targets.append({"id": k + 1, "size": size, "amp": rng.uniform(25, 80),
                        "pos": rng.uniform(8, [w - 8, h - 8]), "vel": v * np.array([np.cos(angle), np.sin(angle)])})
    yy, xx = np.mgrid[0:h, 0:w]
    frames, rows = [], []
    for f in range(1, n_frames + 1):
        img = frame.astype(np.float32) + rng.normal(0, 2.0, frame.shape)
        for t in targets:
            if f > 1:
                t["pos"] = t["pos"] + t["vel"] + rng.normal(0, 0.2, 2)
                for axis, limit in ((0, w), (1, h)):  # reflect at the borders
                    if not 4 <= t["pos"][axis] <= limit - 4:
                        t["vel"][axis] *= -1
                        t["pos"][axis] = np.clip(t["pos"][axis], 4, limit - 4)
            s = t["size"] / 2.355  # FWHM = size
            cx, cy = t["pos"]
            blob = np.exp(-((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) / (2 * s * s))
            img += t["amp"] * blob
            ys, xs = np.nonzero(blob >= 0.5)
            if len(xs) == 0:
                xs, ys = np.array([int(cx)]), np.array([int(cy)])
            x1, y1 = xs.min(), ys.min()  # 0-based, pixel-inclusive: written 1-based
            rows.append(f"{f},{t['id']},{x1 + 1},{y1 + 1},{xs.max() - x1 + 1},{ys.max() - y1 + 1},1,1,1\n")
        frames.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
    return frames, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--background", type=Path, required=True, help="a folder of real target-free infrared frames")
    ap.add_argument("--min-side", type=int, default=256)
    ap.add_argument("--sequences", type=int, default=24, help="test sequences, a third in each speed bin")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    pool = backgrounds(args.background, args.min_side)
    (args.out / "gt").mkdir(parents=True, exist_ok=True)
    names = {"train": [], "test": []}
    meta = ["video,speed_bin,targets\n"]
    for k in range(args.sequences + 2):  # two training sequences: prepare wants both splits
        split = "train" if k >= args.sequences else "test"
        lo, hi, label = SPEED_BINS[k % len(SPEED_BINS)]
        name = f"synth_{k:03d}"
        bg = cv2.imread(str(pool[int(rng.integers(len(pool)))]), cv2.IMREAD_GRAYSCALE)
        frames, rows = sequence(rng, bg, args.frames, (lo, hi))
        folder = args.out / "videos" / name
        folder.mkdir(parents=True, exist_ok=True)
        for f, img in enumerate(frames, 1):
            cv2.imwrite(str(folder / f"{f:05d}.png"), img)
        (args.out / "gt" / f"{name}.txt").write_text("".join(rows))
        names[split].append(name)
        meta.append(f"{name},{label},{len({r.split(',')[1] for r in rows})}\n")
    for split, seqs in names.items():
        (args.out / f"{split}.txt").write_text("".join(f"{n}\n" for n in seqs))
    (args.out / "videos.csv").write_text("".join(meta))
    (args.out / "synthetic.json").write_text(json.dumps({"command": vars(args) | {"background": str(args.background),
                                                                                  "out": str(args.out)}}, indent=1))
    print(f"{args.sequences} test and 2 training sequences of {args.frames} frames in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
