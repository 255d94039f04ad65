"""Synthetic infrared-like demo dataset, generated on first use of ``--data demo`` (docs/design.md §5).

Grayscale 192x144 frames: smooth cloud/terrain clutter, sensor noise, bright structures (skylines, lines,
extended blobs), and 1-3 small targets (2-9 px Gaussian blobs of varying contrast) with their masks. Labels
come from the masks through the same mask -> box conversion as the real datasets. Deterministic from the seed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from ..utils.files import temp_dir_beside
from .labels import mask_to_boxes, write_yolo_labels, xywh_pixels_to_yolo

WIDTH, HEIGHT = 192, 144
N_TRAIN, N_TEST = 240, 80


def _smooth_noise(rng: np.random.Generator, sigma: float) -> np.ndarray:
    field = cv2.GaussianBlur(rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32), (0, 0), sigma)
    return field / (field.std() + 1e-6)


def _background(rng: np.random.Generator) -> np.ndarray:
    """Clouds / terrain at two scales, a vertical gradient, optional skyline, lines and extended blobs."""
    img = 110 + rng.uniform(-30, 30) + rng.uniform(8, 25) * _smooth_noise(rng, rng.uniform(14, 30))
    img += rng.uniform(2, 8) * _smooth_noise(rng, rng.uniform(2, 5))
    img += np.linspace(rng.uniform(-15, 15), rng.uniform(-15, 15), HEIGHT, dtype=np.float32)[:, None]
    if rng.random() < 0.5:  # buildings / terrain along the bottom, brighter or darker than the sky
        level = rng.uniform(-40, 50)
        x = 0
        while x < WIDTH:
            w, top = int(rng.integers(8, 40)), int(rng.integers(int(HEIGHT * 0.55), HEIGHT - 4))
            img[top:, x:x + w] += level + rng.uniform(-10, 10)
            x += w
    for _ in range(int(rng.integers(0, 3))):  # power lines, contrails
        p1 = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
        p2 = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
        line = np.zeros((HEIGHT, WIDTH), np.float32)
        cv2.line(line, p1, p2, 1.0, 1)
        img += rng.uniform(10, 35) * cv2.GaussianBlur(line, (0, 0), 0.7)
    for _ in range(int(rng.integers(0, 3))):  # extended bright clutter, larger than any target
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        cx, cy, s = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(7, 16)
        img += rng.uniform(15, 40) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    return img.astype(np.float32)


def _add_target(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, centres: list) -> bool:
    """Add one Gaussian blob of 2-9 px (half-maximum extent) where it keeps clear of the others."""
    size = rng.uniform(2.2, 8.0)
    for _ in range(20):
        cx, cy = rng.uniform(6, WIDTH - 6), rng.uniform(6, HEIGHT - 6)
        if all((cx - x) ** 2 + (cy - y) ** 2 > 16 ** 2 for x, y in centres):
            break
    else:
        return False
    aspect = rng.uniform(0.75, 1.33)
    sx, sy = size * aspect ** 0.5 / 2.355, size / aspect ** 0.5 / 2.355  # FWHM = size
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    blob = np.exp(-((xx + 0.5 - cx) ** 2 / (2 * sx * sx) + (yy + 0.5 - cy) ** 2 / (2 * sy * sy)))
    img += rng.uniform(22, 90) * blob
    half = blob >= 0.5
    if not half.any():
        half[int(cy), int(cx)] = True
    mask[half] = 255
    centres.append((cx, cy))
    return True


def make_frame(seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """One ``(image, mask)`` pair of uint8 ``(HEIGHT, WIDTH)`` arrays."""
    rng = np.random.default_rng([seed, index])
    img = _background(rng)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    centres: list = []
    for _ in range(int(rng.integers(1, 4))):
        _add_target(img, mask, rng, centres)
    img += rng.uniform(1.5, 5) * rng.standard_normal(img.shape).astype(np.float32)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8), mask


def generate_demo(root: Path, seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST) -> None:
    """Write the demo dataset to ``root`` (built in a temporary folder, then renamed into place)."""
    root = Path(root)
    tmp = temp_dir_beside(root)
    try:
        for sub in ("images", "labels", "masks", "img_idx"):
            (tmp / sub).mkdir()
        stems = [f"demo_{i:04d}" for i in range(n_train + n_test)]
        for i, stem in enumerate(stems):
            img, mask = make_frame(seed, i)
            cv2.imwrite(str(tmp / "images" / f"{stem}.png"), img)
            cv2.imwrite(str(tmp / "masks" / f"{stem}.png"), mask)
            write_yolo_labels(tmp / "labels" / f"{stem}.txt", xywh_pixels_to_yolo(mask_to_boxes(mask), WIDTH, HEIGHT))
        name = root.name
        (tmp / "img_idx" / f"train_{name}.txt").write_text("".join(s + "\n" for s in stems[:n_train]))
        (tmp / "img_idx" / f"test_{name}.txt").write_text("".join(s + "\n" for s in stems[n_train:]))
        try:
            tmp.rename(root)
        except OSError:
            if not (root / "img_idx").is_dir():
                raise
            shutil.rmtree(tmp)  # another process (a DDP rank) finished the same set first: keep theirs
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
