"""Letterbox: an image of any size into a square ``size x size`` network input and detections back again.

The long side is scaled to ``size`` (aspect kept), the image is padded, centred, with grey 114. One object holds
the arithmetic both ways, so the loader, the validator and the predictor cannot disagree:
``letterboxed = original * ratio + pad`` and ``original = (letterboxed - pad) / ratio``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """The map of an image of ``orig_hw`` (height, width) into a ``size x size`` input."""

    orig_hw: tuple[int, int]
    size: int

    @property
    def ratio(self) -> float:
        """Scale from original to letterboxed pixels (long side -> ``size``)."""
        return self.size / max(self.orig_hw)

    @property
    def resized_hw(self) -> tuple[int, int]:
        """(height, width) after scaling, before padding."""
        h, w = self.orig_hw
        r = self.ratio
        return (h, w) if r == 1 else (max(1, round(h * r)), max(1, round(w * r)))

    @property
    def pad(self) -> tuple[float, float]:
        """(left, top) offset of the scaled image inside the square, in letterboxed pixels."""
        h, w = self.resized_hw
        return float((self.size - w) // 2), float((self.size - h) // 2)

    def resize(self, img: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` original -> ``(h, w, C)`` scaled (bilinear), not padded."""
        h, w = self.resized_hw
        if (h, w) == img.shape[:2]:
            return img
        out = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        return out[:, :, None] if out.ndim == 2 else out

    def pad_image(self, resized: np.ndarray) -> np.ndarray:
        """A :meth:`resize`-d ``(h, w, C)`` image -> ``(size, size, C)``, centred on grey."""
        h, w = resized.shape[:2]
        left, top = (int(v) for v in self.pad)
        out = np.full((self.size, self.size, resized.shape[2]), PAD_VALUE, dtype=resized.dtype)
        out[top:top + h, left:left + w] = resized
        return out

    def __call__(self, img: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` original -> ``(size, size, C)`` network input."""
        return self.pad_image(self.resize(img))

    def boxes_to_resized(self, boxes: np.ndarray) -> np.ndarray:
        """``(n, 4)`` x1, y1, x2, y2 in original pixels -> pixels of the :meth:`resize`-d image (no padding)."""
        return boxes * self.ratio

    def boxes_to_input(self, boxes: np.ndarray) -> np.ndarray:
        """``(n, 4)`` x1, y1, x2, y2 in original pixels -> letterboxed pixels."""
        left, top = self.pad
        return self.boxes_to_resized(boxes) + np.array([left, top, left, top])

    def to_original(self, det: np.ndarray) -> np.ndarray:
        """``(n, 4 + k)`` letterboxed detections (x1, y1, x2, y2, ...) -> original pixels (float64), clipped to the
        image; boxes left empty by the clipping are dropped."""
        det = det.astype(np.float64)
        (h, w), r, (left, top) = self.orig_hw, self.ratio, self.pad
        det[:, [0, 2]] = ((det[:, [0, 2]] - left) / r).clip(0, w)
        det[:, [1, 3]] = ((det[:, [1, 3]] - top) / r).clip(0, h)
        return det[(det[:, 2] > det[:, 0]) & (det[:, 3] > det[:, 1])]
