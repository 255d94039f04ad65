"""Tracking metrics: HOTA, MOTA and IDF1 computed by TrackEval's own metric classes, fed sequences whose
similarity between ground-truth and tracked boxes is either IoU or a centre-distance score.

TrackEval matches a pair when its similarity is at least 0.5 (MOTA, IDF1) and averages HOTA over similarity
thresholds 0.05 ... 0.95. With ``centre``, the similarity of two boxes whose centres lie ``d`` px apart is
``max(0, 1 - d / (2 * dist_px))``, so a pair matches for MOTA and IDF1 when its centres are within ``dist_px``
(the project's centroid rule, 3 px by default): a 3-px target's box can be a pixel off and have IoU below 0.5
while its detection is right.

TrackEval is installed without its declared dependencies (``pip install --no-deps trackeval``): the metric code
needs only numpy and scipy, while its opencv-python requirement would install a second OpenCV beside
opencv-python-headless.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from ..metrics.detection import box_iou

CENTRE_PX = 3.0  # the default centre-distance threshold, as the centroid Pd (metrics.detection)


def trackeval_metrics() -> tuple:
    """TrackEval's ``HOTA``, ``CLEAR`` and ``Identity`` classes, or a one-line error saying how to install it."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it reports optional dataset loaders it cannot import
            from trackeval.metrics import CLEAR, HOTA, Identity
    except ImportError:
        raise UserError("tracking metrics need TrackEval: pip install --no-deps trackeval (its metrics need only "
                        "numpy and scipy; with its dependencies it would add opencv-python beside "
                        "opencv-python-headless)") from None
    return HOTA, CLEAR, Identity


@dataclass
class SequenceBoxes:
    """One sequence's boxes: per 1-based frame, ``(ids (n,), boxes (n, 4) x1, y1, x2, y2)``."""

    frames: int
    gt: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    tracks: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def similarity(gt: np.ndarray, tr: np.ndarray, kind: str = "iou", dist_px: float = CENTRE_PX) -> np.ndarray:
    """``(n, m)`` similarity of ground-truth boxes ``gt`` ``(n, 4)`` and tracked boxes ``tr`` ``(m, 4)``."""
    if kind == "iou":
        return box_iou(gt, tr)
    if kind != "centre":
        raise ValueError(f"similarity: kind must be 'iou' or 'centre', got {kind!r}")
    d = np.linalg.norm(((gt[:, None, :2] + gt[:, None, 2:]) - (tr[None, :, :2] + tr[None, :, 2:])) / 2, axis=-1)
    return np.maximum(0.0, 1.0 - d / (2 * dist_px))


def trackeval_data(seq: SequenceBoxes, kind: str, dist_px: float) -> dict:
    """The per-sequence dictionary TrackEval's metrics read (IDs renumbered 0 ... n - 1 per sequence)."""
    gt_ids = {i: k for k, i in enumerate(sorted({int(i) for ids, _ in seq.gt.values() for i in ids}))}
    tr_ids = {i: k for k, i in enumerate(sorted({int(i) for ids, _ in seq.tracks.values() for i in ids}))}
    empty = (np.zeros(0, int), np.zeros((0, 4)))
    data = {"num_timesteps": seq.frames, "num_gt_ids": len(gt_ids), "num_tracker_ids": len(tr_ids),
            "gt_ids": [], "tracker_ids": [], "similarity_scores": [], "num_gt_dets": 0, "num_tracker_dets": 0}
    for t in range(1, seq.frames + 1):
        g_ids, g_boxes = seq.gt.get(t, empty)
        t_ids, t_boxes = seq.tracks.get(t, empty)
        data["gt_ids"].append(np.array([gt_ids[int(i)] for i in g_ids], int))
        data["tracker_ids"].append(np.array([tr_ids[int(i)] for i in t_ids], int))
        data["similarity_scores"].append(similarity(np.asarray(g_boxes, float).reshape(-1, 4),
                                                    np.asarray(t_boxes, float).reshape(-1, 4), kind, dist_px))
        data["num_gt_dets"] += len(g_ids)
        data["num_tracker_dets"] += len(t_ids)
    return data


def tracking_metrics(sequences: dict[str, SequenceBoxes], kind: str = "iou",
                     dist_px: float = CENTRE_PX) -> dict[str, float]:
    """HOTA, DetA, AssA (averaged over TrackEval's thresholds), MOTA, MOTP, IDF1, IDP, IDR, ID switches,
    fragmentations, and the counts, over all ``sequences`` combined as TrackEval combines them."""
    hota_cls, clear_cls, identity_cls = trackeval_metrics()
    out: dict[str, float] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for metric in (hota_cls(), clear_cls(), identity_cls()):
            per_seq = {name: metric.eval_sequence(trackeval_data(s, kind, dist_px)) for name, s in sequences.items()}
            res = metric.combine_sequences(per_seq)
            for key in ("HOTA", "DetA", "AssA", "MOTA", "MOTP", "IDF1", "IDP", "IDR", "IDSW", "Frag", "CLR_TP",
                        "CLR_FN", "CLR_FP"):
                if key in res:
                    value = res[key]
                    out[key] = float(np.mean(value)) if np.ndim(value) else float(value)
    return out
