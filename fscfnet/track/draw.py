"""Frames of a tracked video: each confirmed track's box, ID, class and score, its trail, and a strip of zoomed
insets of the tracked targets beside the frame (a fixed width, so every frame of a video has the same size)."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..utils.plots import BOX_COLOURS, text_scale, zoom_inset
from .tracker import TrackedBox


def track_colour(track_id: int) -> tuple[int, int, int]:
    return BOX_COLOURS[track_id % len(BOX_COLOURS)]


def draw_tracks(img: np.ndarray, tracked: Sequence[TrackedBox], trails: dict[int, list[tuple[float, float]]],
                names: Sequence[str], slots: int = 3) -> np.ndarray:
    """RGB uint8 ``(H, W + H // slots, 3)``: ``img`` ``(H, W, 3)`` with the tracks drawn, and a column of
    ``slots`` insets, the highest-scoring tracked targets zoomed (nearest-neighbour), each labelled with its ID.
    A grey ``img`` ``(H, W)`` or ``(H, W, 1)`` is drawn on in colour."""
    if img.ndim == 2 or img.shape[2] == 1:
        img = np.repeat(img.reshape(*img.shape[:2], 1), 3, axis=2)
    out = np.ascontiguousarray(img.copy())
    h, w = out.shape[:2]
    fs = text_scale(h, w)
    for tid, pts in trails.items():
        if len(pts) > 1:
            cv2.polylines(out, [np.round(np.array(pts)).astype(np.int32)], False, track_colour(tid), 1, cv2.LINE_AA)
    for t in tracked:
        x1, y1, x2, y2 = (int(round(v)) for v in t.box)
        colour = track_colour(t.id)
        cv2.rectangle(out, (x1 - 2, y1 - 2), (x2 + 1, y2 + 1), colour, 1)
        name = f" {names[t.cls]}" if len(names) > 1 and t.cls < len(names) else ""
        cv2.putText(out, f"{t.id}{name} {t.score:.2f}", (x1 - 2, max(y1 - 4, 8)), cv2.FONT_HERSHEY_SIMPLEX, fs,
                    colour, 1, cv2.LINE_AA)
    side = h // slots
    strip = np.full((h, side, 3), 32, np.uint8)
    if side >= 16:
        for k, t in enumerate(sorted(tracked, key=lambda t: -t.score)[:slots]):
            box = tuple(int(round(v)) for v in t.box)
            zoom = max(2, min(8, side // max(16, 2 * max(box[2] - box[0], box[3] - box[1]))))
            inset = zoom_inset(img, box, 0, zoom, side)
            cv2.rectangle(inset, (0, 0), (side - 1, side - 1), track_colour(t.id), 1)
            cv2.putText(inset, str(t.id), (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
            strip[k * side:(k + 1) * side] = inset
    return np.concatenate([out, strip], 1)
