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
GRID = 64  # px: the cell of merge_detections' spatial index


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
    least ``ios`` (> 0) of the smaller box's area, is the same target seen twice: when either box touches a seam
    (an edge of its view's region inside the frame, where the view cut the target), the kept box grows to their
    union; otherwise the lower-scored box is dropped. A view's own boxes are never merged with each other. The
    first such kept box in keeping order takes it.
    """
    if len(parts) <= 1:
        return parts[0][1] if parts else np.zeros((0, 6))
    boxes = np.concatenate([det for _, det in parts]).reshape(-1, 6)
    view = np.repeat(np.arange(len(parts)), [len(det) for _, det in parts])
    seam = np.concatenate([_at_seam(det, v, hw) for v, det in parts])
    # Only boxes that intersect can merge, so each box is checked against the kept boxes sharing a grid cell
    # with it, in keeping order: the same answer as checking every kept box, without the quadratic cost of a
    # sliced 2048-px frame's thousands of low-scored boxes.
    grid: dict[tuple[int, int], list[int]] = {}
    kept: list[np.ndarray] = []
    kept_view: list[int] = []
    kept_seam: list[bool] = []
    for i in np.argsort(-boxes[:, 4], kind="stable"):
        d = boxes[i]
        near = sorted({j for c in _cells(d) for j in grid.get(c, ())})
        for j in near:
            m = kept[j]
            if kept_view[j] != view[i] and m[5] == d[5] and _ios(m, d) >= ios:
                if seam[i] or kept_seam[j]:
                    before = set(_cells(m))
                    m[:2], m[2:4] = np.minimum(m[:2], d[:2]), np.maximum(m[2:4], d[2:4])
                    for c in set(_cells(m)) - before:
                        grid.setdefault(c, []).append(j)
                    kept_seam[j] = kept_seam[j] and bool(seam[i])
                break
        else:
            for c in _cells(d):
                grid.setdefault(c, []).append(len(kept))
            kept.append(d.copy())
            kept_view.append(int(view[i]))
            kept_seam.append(bool(seam[i]))
    return np.array(kept).reshape(-1, 6)


def _cells(d: np.ndarray) -> list[tuple[int, int]]:
    """The grid cells box ``d`` (x1, y1, x2, y2, ...) touches, edges included."""
    x1, y1, x2, y2 = (int(math.floor(v / GRID)) for v in d[:4])
    return [(cx, cy) for cy in range(y1, y2 + 1) for cx in range(x1, x2 + 1)]


def _at_seam(det: np.ndarray, v: View, hw: tuple[int, int], tol: float = 1.0) -> np.ndarray:
    """``(n,)`` bool: which boxes of ``det`` touch an edge of ``v``'s region that lies inside the frame (``hw``)."""
    h, w = hw
    return (((v.x0 > 0) & (det[:, 0] <= v.x0 + tol)) | ((v.y0 > 0) & (det[:, 1] <= v.y0 + tol))
            | ((v.x0 + v.w < w) & (det[:, 2] >= v.x0 + v.w - tol))
            | ((v.y0 + v.h < h) & (det[:, 3] >= v.y0 + v.h - tol)))


def _ios(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area of two x1, y1, x2, y2 boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller) if smaller > 0 else 0.0
