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


def native_crop(img: np.ndarray, boxes: np.ndarray, size: int, jitter: float, background: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ``size x size`` window of ``img`` at its own pixel scale times a factor log-uniform in
    [1 / (1 + jitter), 1 + jitter]: around one of the targets, placed at a random offset within the window, or,
    with probability ``background`` (and always without targets), anywhere. A scaled image smaller than the
    window lies at a random place inside it, padded with grey, never upscaled to fill it. Boxes follow."""
    s = math.exp(rng.uniform(-math.log1p(jitter), math.log1p(jitter)))
    h, w = img.shape[:2]
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    if (sh, sw) != (h, w):
        img = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_LINEAR).reshape(sh, sw, -1)
        boxes = boxes * np.array([sw / w, sh / h, sw / w, sh / h])
    target = None if len(boxes) == 0 or rng.random() < background else boxes[rng.integers(len(boxes))]
    x0 = _window_start(sw, size, None if target is None else (target[0], target[2]), rng)
    y0 = _window_start(sh, size, None if target is None else (target[1], target[3]), rng)
    out = np.full((size, size, img.shape[2]), PAD_VALUE, dtype=img.dtype)
    sx, sy = max(x0, 0), max(y0, 0)
    crop = img[sy:min(y0 + size, sh), sx:min(x0 + size, sw)]
    out[sy - y0:sy - y0 + crop.shape[0], sx - x0:sx - x0 + crop.shape[1]] = crop
    return out, boxes - np.array([x0, y0, x0, y0], dtype=np.float64)


def _window_start(length: int, size: int, span: tuple[float, float] | None, rng: np.random.Generator) -> int:
    """Where a window of ``size`` starts along an axis of ``length``: inside it when ``length >= size``
    (containing ``span`` when given and it fits), else before it (the image then lies inside the window)."""
    if length < size:
        return int(rng.integers(length - size, 1))
    lo, hi = 0, length - size
    if span is not None:
        lo, hi = max(lo, math.ceil(span[1]) - size), min(hi, math.floor(span[0]))
        if lo > hi:  # a target wider than the window: start at its left edge
            lo = hi = min(max(math.floor(span[0]), 0), length - size)
    return int(rng.integers(lo, hi + 1))


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
