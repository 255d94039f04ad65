"""Where false alarms lie: on a target (a second or loosely fitted box, which IoU matching counts as a false
alarm), beside one, or on the background. Telling them apart says what a remedy can reach: one track per target
drops the extra boxes on it, confirmation over frames drops clutter that flickers but not clutter that persists."""

from __future__ import annotations

import numpy as np

from .detection import box_iou, class_agnostic, match_image

SITES = ("on_target", "near_target", "background")
NEAR_PX = 32  # the margin background_crops.py keeps between a target-free crop and any target


def false_alarm_sites(pred: np.ndarray, target: np.ndarray, conf: float, near: float = NEAR_PX) -> list[str]:
    """The site of each false alarm of one frame, in descending score. The detections scoring at least ``conf``
    are matched to the targets whatever the class (IoU >= 0.5, greedy by score, as Pd is counted); each one left
    over is ``on_target`` when it overlaps a target's box (IoU > 0), ``near_target`` when its box lies within
    ``near`` px of one (the Chebyshev gap between the boxes), else ``background``. ``pred``: ``(n, 6)`` x1, y1,
    x2, y2, score, class; ``target``: ``(m, 5)`` class, x1, y1, x2, y2."""
    pred = np.asarray(pred, np.float64).reshape(-1, 6)
    target = np.asarray(target, np.float64).reshape(-1, 5)
    pred = pred[pred[:, 4] >= conf]
    pred = pred[np.argsort(-pred[:, 4], kind="stable")]
    found = match_image(class_agnostic([pred], 5)[0], class_agnostic([target], 0)[0], np.array([0.5]))[:, 0]
    alarms = pred[~found, :4]
    if not len(alarms) or not len(target):
        return [SITES[2]] * len(alarms)
    boxes = target[:, 1:5]
    overlap = box_iou(alarms, boxes).max(1) > 0
    gap_x = np.maximum(boxes[None, :, 0] - alarms[:, None, 2], alarms[:, None, 0] - boxes[None, :, 2])
    gap_y = np.maximum(boxes[None, :, 1] - alarms[:, None, 3], alarms[:, None, 1] - boxes[None, :, 3])
    close = (np.maximum(gap_x, gap_y) <= near).any(1)
    return [SITES[0] if o else SITES[1] if c else SITES[2] for o, c in zip(overlap, close)]


def tally_sites(per_frame: list[list[str]]) -> dict:
    """Counts and false alarms per frame of each site over frames (``false_alarm_sites`` of each)."""
    n = max(len(per_frame), 1)
    counts = {s: sum(f.count(s) for f in per_frame) for s in SITES}
    return {"frames": len(per_frame), "false_alarms": sum(counts.values()), "counts": counts,
            "per_frame": {s: c / n for s, c in counts.items()}}


def sites_of(preds: list[np.ndarray], targets: list[np.ndarray], conf: float, near: float = NEAR_PX) -> dict:
    """:func:`tally_sites` of every frame's false alarms at ``conf``."""
    return tally_sites([false_alarm_sites(p, t, conf, near) for p, t in zip(preds, targets)])
