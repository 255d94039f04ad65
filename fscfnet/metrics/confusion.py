"""Which class a detector calls each target: the confusion matrix at one confidence, with a background row and
column (a false alarm, a missed target)."""

from __future__ import annotations

import numpy as np

from .detection import box_iou


def confusion_matrix(preds: list[np.ndarray], targets: list[np.ndarray], nc: int, conf: float,
                     iou: float = 0.5) -> np.ndarray:
    """``(nc + 1, nc + 1)`` counts, rows the predicted class, columns the true class, the last row and column
    background. Per image, the detections scoring at least ``conf`` are matched to targets whatever their class,
    in descending score, each taking the unmatched target of highest IoU >= ``iou``: a match counts at (predicted
    class, true class), an unmatched detection at (its class, background), an unmatched target at (background,
    its class). ``preds[i]``: ``(n, 6)`` x1, y1, x2, y2, score, class; ``targets[i]``: ``(m, 5)`` class, x1, y1,
    x2, y2."""
    m = np.zeros((nc + 1, nc + 1), np.int64)
    for p, t in zip(preds, targets):
        p = np.asarray(p, np.float64).reshape(-1, 6)
        t = np.asarray(t, np.float64).reshape(-1, 5)
        p = p[p[:, 4] >= conf]
        p = p[np.argsort(-p[:, 4], kind="stable")]
        free = np.ones(len(t), bool)
        overlap = box_iou(p[:, :4], t[:, 1:5]) if len(p) and len(t) else np.zeros((len(p), len(t)))
        for i, row in enumerate(overlap):
            row = np.where(free & (row >= iou - 1e-12), row, -1.0)
            j = int(row.argmax()) if len(row) else -1
            if j >= 0 and row[j] >= 0:
                free[j] = False
                m[int(p[i, 5]), int(t[j, 0])] += 1
            else:
                m[int(p[i, 5]), nc] += 1
        for c in t[free, 0]:
            m[nc, int(c)] += 1
    return m
