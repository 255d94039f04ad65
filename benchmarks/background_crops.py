"""A background test set from real clutter: target-free crops of the IRSTD-1K and NUDT-SIRST *test* frames, every
crop pixel at least 32 px from any mask pixel (or label box, for a dataset of boxes such as a prepared video), in
several sizes, written as a split without targets, so false alarms on real backgrounds are measured without
touching the training frames. The crops keep their datasets' class names, so a model of those classes validates
on them.

    python -m fscfnet.data.prepare ../shared/datasets/IRSTD-1K --dst datasets/IRSTD-1K     # once each
    python -m fscfnet.data.prepare ../shared/datasets/NUDT-SIRST --dst datasets/NUDT-SIRST
    python benchmarks/background_crops.py --data IRSTD-1K NUDT-SIRST --sizes 96 160 256 --per-frame 2 \\
        --out datasets/background-test
    fscfnet val --weights best.pt --data datasets/background-test/data.yaml --conf 0.25 --fa-per-image 0.1

With ``--split train`` it cuts the training frames instead, for background in training: list ``DIR/images`` under
the ``background:`` key of a dataset YAML (the crops of one split never meet the other split's frames).

Writes DIR/images/, DIR/img_idx/{train,test}_<name>.txt (both the same list; the split is for validation only),
DIR/data.yaml, and DIR/crops.json (each crop's source frame, position and size, and the command).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np

from fscfnet.cfg.data import data_yaml_text
from fscfnet.data import open_dataset, read_index, read_yolo_labels
from fscfnet.metrics.sites import NEAR_PX
from fscfnet.utils import write_json

MARGIN = NEAR_PX  # every crop pixel at least this far (px) from any target pixel: a false alarm there is background


def free_windows(mask: np.ndarray, size: int, margin: int = MARGIN) -> np.ndarray:
    """Top-left corners ``(n, 2)`` (x, y) of the ``size`` x ``size`` windows whose pixels all lie more than
    ``margin`` px (Chebyshev) from every target pixel (mask > 127, prepare's rule): the targets grown by
    ``margin`` leave them empty."""
    grown = cv2.dilate((mask > 127).astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    s = cv2.integral(grown)  # (h + 1, w + 1)
    h, w = mask.shape
    if h < size or w < size:
        return np.zeros((0, 2), int)
    ys, xs = np.mgrid[0:h - size + 1, 0:w - size + 1]
    inside = s[ys + size, xs + size] - s[ys, xs + size] - s[ys + size, xs] + s[ys, xs]
    return np.stack([xs[inside == 0], ys[inside == 0]], 1)


def target_mask(cfg, stem: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The frame's target pixels (255): its mask when the dataset has masks, else its label boxes filled in (a
    box dataset such as a prepared video); None when it has neither."""
    mask_path = next((cfg.root / "masks").glob(f"{stem}.*"), None)
    if mask_path is not None:
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        return cv2.resize(mask, shape[::-1], interpolation=cv2.INTER_NEAREST) if mask.shape != shape else mask
    label = cfg.root / "labels" / f"{stem}.txt"
    if not label.is_file():
        return None
    h, w = shape
    mask = np.zeros(shape, np.uint8)
    for _, cx, cy, bw, bh in read_yolo_labels(label, cfg.nc).astype(np.float64):
        # every pixel the box touches; 1e-3 px absorbs the float32 rounding of the label file's values
        x1, y1 = int(np.floor((cx - bw / 2) * w + 1e-3)), int(np.floor((cy - bh / 2) * h + 1e-3))
        x2, y2 = int(np.ceil((cx + bw / 2) * w - 1e-3)), int(np.ceil((cy + bh / 2) * h - 1e-3))
        mask[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = 255
    return mask


def crops_of(data: str, sizes: list[int], per_frame: int, rng: np.random.Generator, split: str = "test",
             every: int = 1) -> list[dict]:
    cfg = open_dataset(data)
    out = []
    for stem in read_index(cfg.index_file(split))[::every]:
        image = next(p for p in (cfg.root / "images").glob(f"{stem}.*"))
        img = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
        mask = None if img is None else target_mask(cfg, stem, img.shape[:2])
        if mask is None:
            continue
        for size in sizes:
            corners = free_windows(mask, size)
            for x, y in corners[rng.choice(len(corners), min(per_frame, len(corners)), replace=False)]:
                out.append({"data": cfg.name, "frame": stem, "x": int(x), "y": int(y), "size": size,
                            "pixels": img[y:y + size, x:x + size]})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", default=["IRSTD-1K", "NUDT-SIRST"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 160, 256])
    ap.add_argument("--per-frame", type=int, default=2, help="crops per test frame and size, at most")
    ap.add_argument("--every", type=int, default=1, help="cut every K-th frame of the split only (video frames a "
                    "frame apart are nearly the same picture)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="test", choices=["test", "train"],
                    help="frames to cut from: test (a background test set) or train (background for training, "
                         "listed under a dataset's background: key as DIR/images)")
    ap.add_argument("--out", type=Path, default=Path("datasets/background-test"))
    args = ap.parse_args(argv)
    names = {tuple(open_dataset(d).names) for d in args.data}
    if len(names) > 1:
        sys.exit(f"background_crops: --data {' '.join(args.data)}: the datasets name different classes {sorted(names)}")
    rng = np.random.default_rng(args.seed)
    crops = [c for d in args.data for c in crops_of(d, args.sizes, args.per_frame, rng, args.split, args.every)]
    name = args.out.name
    for sub in ("images", "img_idx"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    stems = []
    for c in crops:
        stem = f"{c['data']}_{c['frame']}_{c['size']}_{c['x']}_{c['y']}"
        cv2.imwrite(str(args.out / "images" / f"{stem}.png"), c.pop("pixels"))
        stems.append(stem)
    for split in ("train", "test"):
        (args.out / "img_idx" / f"{split}_{name}.txt").write_text("\n".join(stems) + "\n")
    (args.out / "data.yaml").write_text(data_yaml_text(
        args.out.resolve(), f"img_idx/train_{name}.txt", f"img_idx/test_{name}.txt", list(names.pop()),
        f"target-free crops of {args.split} frames (benchmarks/background_crops.py)"))
    by = {f"{d}/{s}": sum(c["data"] == d and c["size"] == s for c in crops) for d in {c["data"] for c in crops}
          for s in args.sizes}
    write_json(args.out / "crops.json", {"command": shlex.join([sys.executable, *sys.argv]), "split": args.split,
                                         "margin_px": MARGIN, "every": args.every,
                                         "crops": len(crops), "by_data_and_size": by, "items": crops})
    print(f"{len(crops)} target-free crops ({by}) in {args.out}; validate with --data {args.out / 'data.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
