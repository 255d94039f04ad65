"""Training image and box transforms for tiny targets: mosaic, random affine, flips, brightness/contrast/gamma.

Images are ``(H, W, C)`` uint8 arrays; boxes are ``(n, 4)`` float pixel corners x1, y1, x2, y2 (continuous: a
pixel-inclusive box covering columns 3..4 is x1=3, x2=5) with a separate ``(n,)`` class array. Every random
choice comes from the ``np.random.Generator`` passed in, so a sample depends only on (seed, epoch, index).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .letterbox import PAD_VALUE


def mosaic(images: list[np.ndarray], boxes: list[np.ndarray], size: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Four images (long side ``size``) around a random centre of a ``2size x 2size`` canvas; boxes shifted."""
    c = images[0].shape[2]
    canvas = np.full((2 * size, 2 * size, c), PAD_VALUE, dtype=images[0].dtype)
    xc, yc = (int(rng.uniform(size * 0.5, size * 1.5)) for _ in range(2))
    out_boxes = []
    for i, (img, b) in enumerate(zip(images, boxes)):
        h, w = img.shape[:2]
        if i == 0:  # top left
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b, x2b, y2b = w - (x2a - x1a), h - (y2a - y1a), w, h
        elif i == 1:  # top right
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, 2 * size), yc
            x1b, y1b, x2b, y2b = 0, h - (y2a - y1a), min(w, x2a - x1a), h
        elif i == 2:  # bottom left
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(2 * size, yc + h)
            x1b, y1b, x2b, y2b = w - (x2a - x1a), 0, w, min(y2a - y1a, h)
        else:  # bottom right
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, 2 * size), min(2 * size, yc + h)
            x1b, y1b, x2b, y2b = 0, 0, min(w, x2a - x1a), min(y2a - y1a, h)
        canvas[y1a:y2a, x1a:x2a] = img[y1b:y2b, x1b:x2b]
        out_boxes.append(b + np.array([x1a - x1b, y1a - y1b] * 2, dtype=b.dtype))
    return canvas, np.concatenate(out_boxes).reshape(-1, 4)


def random_affine(img: np.ndarray, boxes: np.ndarray, out_size: int, translate: float, scale: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scale about the image centre by U(1 - scale, 1 + scale), move it to the output centre shifted by
    U(-translate, translate) * out_size, and crop to ``out_size`` square. Boxes follow exactly."""
    h, w = img.shape[:2]
    s = rng.uniform(1 - scale, 1 + scale)
    tx = out_size * (0.5 + rng.uniform(-translate, translate))
    ty = out_size * (0.5 + rng.uniform(-translate, translate))
    m = np.array([[s, 0, tx - s * w / 2], [0, s, ty - s * h / 2]], dtype=np.float64)
    out = cv2.warpAffine(img, m, (out_size, out_size), flags=cv2.INTER_LINEAR,
                         borderValue=(PAD_VALUE,) * min(img.shape[2], 4))
    if out.ndim == 2:
        out = out[:, :, None]
    return out, boxes * s + np.array([m[0, 2], m[1, 2]] * 2)


def flip(img: np.ndarray, boxes: np.ndarray, horizontal: bool) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    b = boxes.copy()
    if horizontal:
        b[:, [0, 2]] = w - boxes[:, [2, 0]]
        return np.ascontiguousarray(img[:, ::-1]), b
    b[:, [1, 3]] = h - boxes[:, [3, 1]]
    return np.ascontiguousarray(img[::-1]), b


def photometric(img: np.ndarray, brightness: float, contrast: float, gamma: float,
                rng: np.random.Generator) -> np.ndarray:
    """Gamma, contrast about the mean and brightness shift (no hue/saturation: infrared is grayscale)."""
    g = math.exp(rng.uniform(-gamma, gamma))
    a = 1 + rng.uniform(-contrast, contrast)
    b = 255 * rng.uniform(-brightness, brightness)
    lut = 255 * (np.arange(256, dtype=np.float32) / 255) ** g
    x = lut[img]
    x = (x - x.mean()) * a + x.mean() + b
    return np.clip(x, 0, 255).astype(np.uint8)


def filter_boxes(boxes: np.ndarray, classes: np.ndarray, width: int, height: int, min_px: float,
                 min_visible: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip boxes to the image; keep those at least ``min_px`` wide and high with ``min_visible`` of their
    area inside."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    keep = (w >= min_px - 1e-6) & (h >= min_px - 1e-6) & (w * h >= min_visible * area - 1e-6)
    return clipped[keep], classes[keep]
