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
the union of its parts, a target seen whole twice keeps its best-scored box, whether the tiles overlap or only
touch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import UserError
from .letterbox import PAD_VALUE, Letterbox

MODES = ("letterbox", "native", "slice")
MERGE_IOS = 0.5  # a box overlapping a better target's by this much of the smaller box, not agreeing: dropped
MATCH_IOU = 0.5  # two views' boxes agree on a target when their parts in the shared region overlap this much
SEAM_TOL = 1.0  # px: a box side this close to a view's inner edge was cut there


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
        for flag, value in (("--slice", self.tile), ("--max-size", self.max_size), ("--imgsz", self.imgsz)):
            if value <= 0:
                raise UserError(f"{flag} {value} must be a positive number of pixels")

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
    -> one box per target, in descending score.

    Two boxes of one class from different views show the same target when they agree where the two views' regions
    meet (:func:`_agree`: the shared strip, or the seam line of tiles that only touch); such boxes are joined,
    transitively, into one target with at most one box per view, strongest pairs first. A target's box is the
    best-scored box that no seam cut (a view saw it whole); when every box was cut, each side comes from the boxes
    that side was not cut on (the union of the pieces). Its score is its best box's. A target whose box overlaps a
    better-scored target's from other views by ``ios`` of the smaller box without agreeing with it (a looser box
    around the same object) is dropped. A view's own boxes are never joined.

    Every decision depends on the boxes alone, never on a score threshold applied first: merge once at the lowest
    score of interest, then cut at any confidence C, and the boxes >= C are the same whatever else was merged.
    """
    if len(parts) <= 1:
        return parts[0][1] if parts else np.zeros((0, 6))
    boxes = np.concatenate([det for _, det in parts]).reshape(-1, 6)
    view = np.repeat(np.arange(len(parts)), [len(det) for _, det in parts])
    cut = np.concatenate([_seam_sides(det, v, hw) for v, det in parts]).reshape(-1, 4)
    agree, overlap = _pairs(parts, ios)
    root = _join(boxes[:, 4], view, agree)
    targets: dict[int, list[int]] = {}
    for i, r in enumerate(root):
        targets.setdefault(int(r), []).append(i)
    members = sorted(targets.values(), key=lambda m: (-boxes[m, 4].max(), m[0]))
    index = {int(root[m[0]]): k for k, m in enumerate(members)}
    rivals: dict[int, set[int]] = {}
    for i, j in overlap:
        a, b = index[int(root[i])], index[int(root[j])]
        if a != b:
            rivals.setdefault(max(a, b), set()).add(min(a, b))
    views = [set(view[m].tolist()) for m in members]
    out, kept = [], set()
    for k, m in enumerate(members):
        if any(r in kept and not views[r] & views[k] for r in rivals.get(k, ())):
            continue
        kept.add(k)
        out.append(_target_box(boxes[m], cut[m]))
    return np.array(out).reshape(-1, 6)


def _region(v: View) -> np.ndarray:
    return np.array([v.x0, v.y0, v.x0 + v.w, v.y0 + v.h], np.float64)


def _pairs(parts: list[tuple[View, np.ndarray]], ios: float) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Index pairs (into the concatenated boxes) from different views: those that agree on one target, and those
    of one class that overlap by ``ios`` of the smaller box without agreeing. Two boxes of two views can only
    meet inside the views' common region, so each pair of views compares just its boxes that reach it."""
    starts = np.cumsum([0] + [len(d) for _, d in parts])
    agree: list[tuple[int, int]] = []
    overlap: list[tuple[int, int]] = []
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            ra, rb = _region(parts[a][0]), _region(parts[b][0])
            shared = np.r_[np.maximum(ra[:2], rb[:2]), np.minimum(ra[2:], rb[2:])]
            if (shared[2:] < shared[:2]).any():
                continue  # the views neither overlap nor touch
            da, db = parts[a][1], parts[b][1]
            ia, ib = np.nonzero(_reaches(da, shared))[0], np.nonzero(_reaches(db, shared))[0]
            if not len(ia) or not len(ib):
                continue
            pa, pb = da[ia][:, None], db[ib][None]
            same_class = pa[..., 5] == pb[..., 5]
            ok = _agree(pa, pb, shared) & same_class
            over = (_ios(pa, pb) >= ios) & same_class & ~ok
            for mask, into in ((ok, agree), (over, overlap)):
                i, j = np.nonzero(mask)
                into.extend(zip((starts[a] + ia[i]).tolist(), (starts[b] + ib[j]).tolist()))
    return agree, overlap


def _reaches(det: np.ndarray, r: np.ndarray, tol: float = SEAM_TOL) -> np.ndarray:
    """``(n,)`` bool: which boxes come within ``tol`` of the region ``r`` (x1, y1, x2, y2; possibly a line)."""
    return ((det[:, 2] >= r[0] - tol) & (det[:, 0] <= r[2] + tol)
            & (det[:, 3] >= r[1] - tol) & (det[:, 1] <= r[3] + tol))


def _agree(a: np.ndarray, b: np.ndarray, r: np.ndarray, tol: float = SEAM_TOL, iou: float = MATCH_IOU) -> np.ndarray:
    """Whether boxes ``a`` and ``b`` (broadcast, ``(..., >=4)``) of two views describe one target where the views
    meet, in their common region ``r``: along each axis their parts inside ``r`` overlap by ``iou`` (intersection
    over union of the two intervals); along an axis where ``r`` is only a seam line (tiles that touch), reaching it
    (:func:`_reaches`) is enough. So the two pieces of a target cut by a seam agree, a target seen whole by both
    views agrees with itself, and a box that merely contains another one (a loose box around it) does not."""
    ok = np.ones(np.broadcast_shapes(a.shape[:-1], b.shape[:-1]), bool)
    for lo, hi in ((0, 2), (1, 3)):
        if r[hi] - r[lo] < tol:
            continue  # a seam line
        a_lo, a_hi = np.clip(a[..., lo], r[lo], r[hi]), np.clip(a[..., hi], r[lo], r[hi])
        b_lo, b_hi = np.clip(b[..., lo], r[lo], r[hi]), np.clip(b[..., hi], r[lo], r[hi])
        inter = np.minimum(a_hi, b_hi) - np.maximum(a_lo, b_lo)
        union = np.maximum(a_hi, b_hi) - np.minimum(a_lo, b_lo)
        ok &= (inter > 0) & (inter >= iou * union)
    return ok


def _join(scores: np.ndarray, view: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Union-find over agreeing ``pairs``, the pair with the best (then second-best) score first; two groups join
    only when no view has a box in both. Returns each box's group root."""
    parent = np.arange(len(scores))
    views = {i: {int(v)} for i, v in enumerate(view)}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    order = sorted(pairs, key=lambda p: (-max(scores[p[0]], scores[p[1]]), -min(scores[p[0]], scores[p[1]]), p))
    for i, j in order:
        ri, rj = find(i), find(j)
        if ri != rj and not views[ri] & views[rj]:
            parent[rj] = ri
            views[ri] |= views.pop(rj)
    return np.array([find(i) for i in range(len(scores))])


def _target_box(det: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """One target's box from its views' boxes ``det`` ``(m, 6)`` and which of their sides a seam cut ``(m, 4)``."""
    best = int(np.argmax(det[:, 4]))
    out = det[best].copy()
    whole = np.nonzero(~cut.any(1))[0]
    if len(whole):
        out[:4] = det[whole[np.argmax(det[whole, 4])], :4]
        return out
    for k, pick in ((0, np.min), (1, np.min), (2, np.max), (3, np.max)):
        seen = ~cut[:, k]
        out[k] = pick(det[seen, k] if seen.any() else det[:, k])
    return out


def _seam_sides(det: np.ndarray, v: View, hw: tuple[int, int], tol: float = SEAM_TOL) -> np.ndarray:
    """``(n, 4)`` bool: which sides (x1, y1, x2, y2) of the boxes ``det`` lie on an edge of ``v``'s region that is
    inside the frame (``hw``), where the view may have cut the target."""
    h, w = hw
    return np.stack([(v.x0 > 0) & (det[:, 0] <= v.x0 + tol), (v.y0 > 0) & (det[:, 1] <= v.y0 + tol),
                     (v.x0 + v.w < w) & (det[:, 2] >= v.x0 + v.w - tol),
                     (v.y0 + v.h < h) & (det[:, 3] >= v.y0 + v.h - tol)], 1)


def _ios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area of x1, y1, x2, y2 boxes (broadcast); 0 for an empty box."""
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    smaller = np.minimum((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]), (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))
    return np.where(smaller > 0, inter / np.where(smaller > 0, smaller, 1.0), 0.0)
