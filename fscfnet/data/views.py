"""How a frame of any size becomes network inputs, and detections come back to its pixels.

An :class:`InferenceMode` turns a frame into :class:`View` s: each cuts a region of the frame, scales it by
``ratio`` (1 at native scale) and pads it into a rectangular input whose sides are stride multiples. Three modes:

- ``letterbox S``: the whole frame resized (long side S) and centred in an S x S input: what resize-trained models
  saw in training, and a 5-px target in a 1024-px frame becomes 1.6 px at S = 320;
- ``native``: the whole frame at its own resolution, padded right and bottom to a stride multiple; frames whose
  long side exceeds ``max_size`` are sliced into ``max_size`` tiles instead, so memory stays bounded;
- ``slice T``: T x T tiles at native scale overlapping by ``overlap`` of T, covering every pixel (the last tile
  of a row or column flush with the frame's edge; frames smaller than T are padded), optionally plus one
  letterboxed whole-frame pass (``full_frame``) for targets larger than a tile.

Detections of several views of one frame are merged by :func:`merge_detections`: a target cut by a seam becomes
the union of its parts, a target seen whole twice keeps its best-scored box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import UserError
from .letterbox import PAD_VALUE, Letterbox

MODES = ("letterbox", "native", "slice")
MERGE_IOS = 0.5  # boxes of one class overlapping by this much of the smaller box are one target


@dataclass(frozen=True)
class View:
    """The region ``x0, y0, w, h`` of a frame (original pixels), scaled by ``ratio`` and placed at ``left, top``
    in an input of ``shape`` (height, width)."""

    x0: int
    y0: int
    w: int
    h: int
    ratio: float
    left: int
    top: int
    shape: tuple[int, int]

    def image(self, frame: np.ndarray) -> np.ndarray:
        """The ``(H, W, C)`` input cut from ``frame`` ``(h, w, C)``, padded with grey."""
        crop = frame[self.y0:self.y0 + self.h, self.x0:self.x0 + self.w]
        if self.ratio != 1:
            size = (max(1, round(self.w * self.ratio)), max(1, round(self.h * self.ratio)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR).reshape(size[1], size[0], -1)
        out = np.full((*self.shape, frame.shape[2]), PAD_VALUE, dtype=frame.dtype)
        out[self.top:self.top + crop.shape[0], self.left:self.left + crop.shape[1]] = crop
        return out

    def to_frame(self, det: np.ndarray) -> np.ndarray:
        """``(n, 4 + k)`` detections in input pixels -> frame pixels (float64), clipped to this view's region;
        boxes left empty by the clipping are dropped."""
        det = det.astype(np.float64, copy=True)
        det[:, [0, 2]] = ((det[:, [0, 2]] - self.left) / self.ratio + self.x0).clip(self.x0, self.x0 + self.w)
        det[:, [1, 3]] = ((det[:, [1, 3]] - self.top) / self.ratio + self.y0).clip(self.y0, self.y0 + self.h)
        return det[(det[:, 2] > det[:, 0]) & (det[:, 3] > det[:, 1])]


def letterbox_view(hw: tuple[int, int], size: int) -> View:
    """The letterbox of a frame of ``hw`` (height, width) into ``size`` x ``size`` as a :class:`View`."""
    lb = Letterbox(hw, size)
    left, top = (int(v) for v in lb.pad)
    return View(0, 0, hw[1], hw[0], lb.ratio, left, top, (size, size))


def tile_origins(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of ``tile`` px covering ``length`` px, neighbours overlapping by at least
    ``overlap`` of a tile; the last tile ends at ``length`` (one tile at 0 when ``length <= tile``)."""
    if length <= tile:
        return [0]
    step = max(1, tile - math.ceil(overlap * tile))
    n = math.ceil((length - tile) / step) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def round_up(x: int, stride: int) -> int:
    return -(-x // stride) * stride


@dataclass(frozen=True)
class InferenceMode:
    kind: str = "letterbox"
    imgsz: int = 640  # letterbox size, and that of the full-frame pass of "slice"
    tile: int = 640  # "slice": the tile side
    overlap: float = 0.2
    max_size: int = 2048  # "native": frames with a longer side are sliced into tiles of this size
    full_frame: bool = False  # "slice": one letterboxed whole-frame pass besides the tiles

    def __post_init__(self) -> None:
        if self.kind not in MODES:
            raise UserError(f"inference mode {self.kind!r} is not one of {', '.join(MODES)}")
        if not 0 <= self.overlap < 1:
            raise UserError(f"--overlap {self.overlap} must lie in [0, 1)")

    @classmethod
    def matching(cls, scale: str, imgsz: int) -> "InferenceMode":
        """The mode that shows a model its frames as training did: native scale for a model trained on
        native-scale crops (``scale="native"``), else the letterbox at its training size."""
        return cls("native", imgsz=imgsz, tile=imgsz) if scale == "native" else cls("letterbox", imgsz=imgsz)

    def describe(self) -> str:
        if self.kind == "letterbox":
            return f"letterbox {self.imgsz}"
        if self.kind == "native":
            return f"native (frames over {self.max_size} px sliced)"
        return f"slice {self.tile} overlap {self.overlap:g}" + (f" + full frame {self.imgsz}" if self.full_frame else "")

    def as_dict(self) -> dict:
        return {"mode": self.kind, "imgsz": self.imgsz, "tile": self.tile, "overlap": self.overlap,
                "max_size": self.max_size, "full_frame": self.full_frame, "description": self.describe()}

    def views(self, hw: tuple[int, int], stride: int) -> list[View]:
        """The views of a frame of ``hw`` (height, width); every input side a multiple of ``stride``."""
        h, w = hw
        if self.kind == "letterbox":
            return [letterbox_view(hw, self.imgsz)]
        if self.kind == "native" and max(h, w) <= self.max_size:
            return [View(0, 0, w, h, 1.0, 0, 0, (round_up(h, stride), round_up(w, stride)))]
        tile = self.tile if self.kind == "slice" else self.max_size
        side = round_up(tile, stride)
        tiles = [View(x, y, min(tile, w - x), min(tile, h - y), 1.0, 0, 0, (side, side))
                 for y in tile_origins(h, tile, self.overlap) for x in tile_origins(w, tile, self.overlap)]
        return tiles + ([letterbox_view(hw, self.imgsz)] if self.full_frame else [])


def merge_detections(parts: list[tuple[View, np.ndarray]], hw: tuple[int, int], ios: float = MERGE_IOS) -> np.ndarray:
    """One frame's detections from its views (``(view, (n, 6))`` x1, y1, x2, y2, score, class in frame pixels)
    -> one box per target.

    In descending score, a box of the same class as an already kept box from another view, overlapping it by at
    least ``ios`` of the smaller box's area, is the same target seen twice: when either box touches a seam (an edge
    of its view's region inside the frame, where the view cut the target), the kept box grows to their union;
    otherwise the lower-scored box is dropped. A view's own boxes are never merged with each other.
    """
    if len(parts) <= 1:
        return parts[0][1] if parts else np.zeros((0, 6))
    rows = [(d, k, _at_seam(d, v, hw)) for k, (v, det) in enumerate(parts) for d in det]
    rows.sort(key=lambda r: -r[0][4])
    kept: list[list] = []  # [box row, view, at a seam]
    for d, k, seam in rows:
        for m in kept:
            if m[1] != k and m[0][5] == d[5] and _ios(m[0], d) >= ios:
                if seam or m[2]:
                    m[0][:2], m[0][2:4] = np.minimum(m[0][:2], d[:2]), np.maximum(m[0][2:4], d[2:4])
                    m[2] = m[2] and seam
                break
        else:
            kept.append([d.copy(), k, seam])
    return np.array([m[0] for m in kept]).reshape(-1, 6)


def _at_seam(d: np.ndarray, v: View, hw: tuple[int, int], tol: float = 1.0) -> bool:
    """Whether box ``d`` touches an edge of ``v``'s region that lies inside the frame (``hw``)."""
    h, w = hw
    return bool((v.x0 > 0 and d[0] <= v.x0 + tol) or (v.y0 > 0 and d[1] <= v.y0 + tol)
                or (v.x0 + v.w < w and d[2] >= v.x0 + v.w - tol) or (v.y0 + v.h < h and d[3] >= v.y0 + v.h - tol))


def _ios(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area of two x1, y1, x2, y2 boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller) if smaller > 0 else 0.0
