"""Detection metrics over a split (docs/design.md §6): AP50, AP50:95 (COCO protocol), P/R/F1 at the F1-maximising
confidence, Pd/Fa, and the segmentation literature's centroid-based Pd_c/Fa_c; the same at a chosen confidence
(:class:`OperatingPoint`, with false alarms per image and per megapixel) and over a grid of confidences (the
Pd-Fa curve, :func:`pdfa_curve`).

Inputs per image, in original-image pixels: predictions ``(n, 6)`` = x1, y1, x2, y2, score, class; targets
``(m, 5)`` = class, x1, y1, x2, y2; the image size ``(h, w)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import ROUND_FLOOR, Decimal
from typing import Sequence

import numpy as np

from ..errors import UserError

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
CENTROID_PX = 3.0
AP_FLOOR = 0.001  # AP and the F1-maximising point use every detection at or above this score
DEFAULT_CONF = 0.25  # the reported operating point: detect.py's and FSCFNet.predict()'s default threshold
PDFA_THRESHOLDS = np.round(np.r_[AP_FLOOR, np.arange(1, 100) / 100], 3)  # 0.001, 0.01, 0.02, ..., 0.99
DEFINITIONS = ("max F1 row: P, R, F1, Pd, Fa at the F1-maximising confidence (IoU 0.5); at conf row: the same at "
               "--conf; FA<=B rows: at the lowest confidence keeping false alarms within budget B on this split; "
               "AP: COCO 101-point, IoU .50:.95; Fa = unmatched predicted box pixels / image pixels; "
               "FA/img, FA/Mpix: unmatched boxes per image, per 1e6 image pixels; "
               "Pd_c, Fa_c: predicted centre < 3 px from the target's")


def _nan_to_none(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in d.items()}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of xyxy boxes (continuous coordinates, as COCO)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def match_image(pred: np.ndarray, target: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """``(n, len(thresholds))`` bool: whether each prediction (rows in descending score order) is a true positive.

    Greedy as COCO: each prediction takes the unmatched same-class target of highest IoU >= t.
    """
    tp = np.zeros((len(pred), len(thresholds)), bool)
    if not len(pred) or not len(target):
        return tp
    iou = box_iou(pred[:, :4], target[:, 1:5])
    iou[pred[:, 5][:, None] != target[:, 0][None, :]] = 0.0
    candidates = np.nonzero(iou.max(1) >= thresholds[0] - 1e-12)[0]  # the rest match at no threshold
    for k, t in enumerate(thresholds):
        free = np.ones(len(target), bool)
        for i in candidates:
            row = np.where(free & (iou[i] >= t - 1e-12), iou[i], -1.0)
            j = int(row.argmax())
            if row[j] >= 0:
                free[j] = False
                tp[i, k] = True
    return tp


def match_centroids(pred: np.ndarray, target: np.ndarray, radius: float = CENTROID_PX) -> np.ndarray:
    """``(n,)`` bool: prediction centre strictly within ``radius`` px of an unmatched target centre (greedy by score)."""
    hit = np.zeros(len(pred), bool)
    if not len(pred) or not len(target):
        return hit
    pc = (pred[:, :2] + pred[:, 2:4]) / 2
    tc = (target[:, 1:3] + target[:, 3:5]) / 2
    dist = np.sqrt(((pc[:, None] - tc[None]) ** 2).sum(-1))
    free = np.ones(len(target), bool)
    for i in np.nonzero(dist.min(1) < radius)[0]:
        row = np.where(free & (dist[i] < radius), dist[i], np.inf)
        j = int(row.argmin())
        if np.isfinite(row[j]):
            free[j] = False
            hit[i] = True
    return hit


def clipped_area(boxes: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    x = np.clip(boxes[:, [0, 2]], 0, w)
    y = np.clip(boxes[:, [1, 3]], 0, h)
    return (x[:, 1] - x[:, 0]) * (y[:, 1] - y[:, 0])


def coco_ap(tp: np.ndarray, n_targets: int) -> np.ndarray:
    """101-point interpolated AP per column of ``tp`` (rows sorted by descending score)."""
    if n_targets == 0:
        return np.full(tp.shape[1], np.nan)
    if len(tp) == 0:
        return np.zeros(tp.shape[1])
    tpc = np.cumsum(tp, 0)
    fpc = np.cumsum(~tp, 0)
    out = np.zeros(tp.shape[1])
    for k in range(tp.shape[1]):
        recall = tpc[:, k] / n_targets
        precision = tpc[:, k] / np.maximum(tpc[:, k] + fpc[:, k], np.finfo(float).eps)
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # precision envelope
        idx = np.searchsorted(recall, RECALL_POINTS, side="left")
        out[k] = np.where(idx < len(recall), precision[np.minimum(idx, len(recall) - 1)], 0.0).mean()
    return out


@dataclass
class Curves:
    """Pooled over classes at IoU 0.5, one point per prediction in descending score order."""

    confidence: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    # running totals over the same rows: IoU-0.5 true positives, clipped area of IoU-0.5 misses, centroid hits,
    # clipped area of centroid misses
    true_positives: np.ndarray
    false_area: np.ndarray
    centroid_hits: np.ndarray
    centroid_false_area: np.ndarray
    images: int
    targets: int
    pixels: float


@dataclass
class OperatingPoint:
    """Counts and rates over the detections scoring at least ``conf`` (IoU 0.5 matching, as everywhere).

    ``precision`` is NaN when no detection reaches ``conf``; ``recall``/``pd``/``pd_c``/``f1`` are NaN on a split
    without targets. ``false_alarms``: detections matching no target; per image and per 1e6 image pixels.
    """

    conf: float
    precision: float
    recall: float
    f1: float
    pd: float
    fa: float
    pd_c: float
    fa_c: float
    detections: int
    false_alarms: int
    false_alarms_per_image: float
    false_alarms_per_mpix: float

    def as_dict(self) -> dict:
        return _nan_to_none({f.name: getattr(self, f.name) for f in fields(self)})


def operating_point(c: Curves, conf: float) -> OperatingPoint:
    """The metrics of the detections with score >= ``conf`` (a prefix of the score-sorted rows: greedy matching
    in descending score makes each prefix's matches those of the whole)."""
    k = int(np.searchsorted(-c.confidence, -conf, side="right"))  # rows with confidence >= conf
    tp = int(c.true_positives[k - 1]) if k else 0
    hits = int(c.centroid_hits[k - 1]) if k else 0
    area = float(c.false_area[k - 1]) if k else 0.0
    area_c = float(c.centroid_false_area[k - 1]) if k else 0.0
    nan = float("nan")
    pixels = max(c.pixels, 1.0)
    fp = k - tp
    recall = tp / c.targets if c.targets else nan
    return OperatingPoint(
        conf=float(conf), precision=tp / k if k else nan, recall=recall,
        f1=2 * tp / (2 * tp + fp + (c.targets - tp)) if c.targets else nan, pd=recall, fa=area / pixels,
        pd_c=hits / c.targets if c.targets else nan, fa_c=area_c / pixels, detections=k, false_alarms=fp,
        false_alarms_per_image=fp / max(c.images, 1), false_alarms_per_mpix=fp / (pixels / 1e6))


@dataclass(frozen=True)
class FaBudget:
    """At most ``limit`` false alarms per image (``per="image"``) or per 1e6 image pixels (``per="mpix"``)."""

    limit: float
    per: str = "image"

    def __str__(self) -> str:
        return f"FA<={self.limit:g}/{'img' if self.per == 'image' else 'Mpix'}"


def fa_budgets(per_image: Sequence[float] = (), per_mpix: Sequence[float] = ()) -> list[FaBudget]:
    """The budgets of ``--fa-per-image`` and ``--fa-per-mpix``; a one-line error for a negative one."""
    if any(b < 0 for b in (*per_image, *per_mpix)):
        raise UserError("--fa-per-image / --fa-per-mpix: budgets must be >= 0")
    return [FaBudget(b, "image") for b in per_image] + [FaBudget(b, "mpix") for b in per_mpix]


def budget_point(c: Curves, budget: FaBudget) -> OperatingPoint:
    """The operating point of the lowest confidence threshold whose false alarms stay within ``budget`` on this
    split: the most detections, taken in descending score and cut between distinct scores, with false alarms per
    image (or per megapixel) at or under the limit. Its ``conf`` is the shortest decimal that keeps exactly those
    detections (above the next lower score, at most the lowest kept one), so the printed number, passed to
    ``detect --conf``, keeps the budget. When even the top-scoring detection breaks it (:func:`budget_met` false),
    the threshold lies above every score and nothing is kept."""
    n = len(c.confidence)
    false_alarms = np.arange(1, n + 1) - c.true_positives  # of each prefix
    per = max(c.images, 1) if budget.per == "image" else max(c.pixels, 1.0) / 1e6
    cut = np.r_[c.confidence[1:] != c.confidence[:-1], True] if n else np.zeros(0, bool)
    valid = np.nonzero((false_alarms / per <= budget.limit + 1e-12) & cut)[0]
    if len(valid):
        k = int(valid[-1])
        lowest = float(c.confidence[k])
        below = float(c.confidence[k + 1]) if k + 1 < n else float(np.nextafter(lowest, -np.inf))
        return operating_point(c, shortest_between(below, lowest))
    top = float(c.confidence[0]) if n else AP_FLOOR
    return operating_point(c, float(np.nextafter(top, np.inf)))


def budget_met(c: Curves, point: OperatingPoint) -> bool:
    """Whether a budget's point keeps any detection of a split that has some (else no threshold keeps the budget)."""
    return point.detections > 0 or len(c.confidence) == 0


def shortest_between(low: float, high: float) -> float:
    """The number with the fewest decimals in ``(low, high]`` (``high`` itself when none is shorter)."""
    for digits in range(1, 18):
        v = float(Decimal(repr(high)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR))
        if low < v <= high:
            return v
    return high


def pdfa_curve(c: Curves, thresholds: np.ndarray = PDFA_THRESHOLDS) -> dict:
    """Pd, Fa, Pd_c, Fa_c and false alarms (count, per image, per megapixel) at each confidence threshold, as
    JSON-ready lists (``None`` where undefined)."""
    points = [operating_point(c, float(t)) for t in thresholds]
    keys = ("pd", "fa", "pd_c", "fa_c", "false_alarms", "false_alarms_per_image", "false_alarms_per_mpix")
    curve = {"thresholds": [float(t) for t in thresholds]}
    for k in keys:
        curve[k] = [v[k] for v in (p.as_dict() for p in points)]
    return {**curve, "images": c.images, "targets": c.targets, "megapixels": c.pixels / 1e6}


@dataclass
class Metrics:
    precision: float
    recall: float
    f1: float
    ap50: float
    ap50_95: float
    pd: float
    fa: float
    pd_c: float
    fa_c: float
    conf_threshold: float
    images: int
    targets: int
    curves: Curves | None = field(default=None, repr=False)
    at_conf: OperatingPoint | None = None
    at_budgets: list[tuple[FaBudget, OperatingPoint]] = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)  # per class with targets: class, targets, P, R, AP50, AP50:95

    def as_dict(self) -> dict:
        """``metrics.json``'s keys (docs/design.md §7), NaN as ``None``; plus ``at_conf`` when an operating point was asked."""
        d = _nan_to_none({f.name: getattr(self, f.name) for f in fields(self)
                          if f.name not in ("curves", "at_conf", "at_budgets", "per_class")})
        d["per_class"] = [_nan_to_none(c) for c in self.per_class]
        if self.at_conf is not None:
            d["at_conf"] = self.at_conf.as_dict()
        if self.at_budgets:
            d["at_fa_budgets"] = [{"budget": b.limit, "per": b.per, "met": self.curves is None or budget_met(self.curves, p),
                                   **p.as_dict()} for b, p in self.at_budgets]
        return d


def evaluate(preds: list[np.ndarray], targets: list[np.ndarray], sizes: list[tuple[int, int]],
             conf: float | None = None) -> Metrics:
    """Metrics of a split; ``preds[i]``, ``targets[i]``, ``sizes[i]`` describe image i (see module doc). With
    ``conf``, also the operating point of the detections scoring at least ``conf`` (``Metrics.at_conf``)."""
    n_images = len(sizes)
    total_pixels = float(sum(h * w for h, w in sizes))
    rows = []  # per prediction: score, class, image, tp at 10 thresholds, centroid hit, clipped area
    for i, (p, t) in enumerate(zip(preds, targets)):
        p = np.asarray(p, np.float64).reshape(-1, 6)
        t = np.asarray(t, np.float64).reshape(-1, 5)
        p = p[np.argsort(-p[:, 4], kind="stable")]
        tp = match_image(p, t)
        hit = match_centroids(p, t)
        area = clipped_area(p[:, :4], sizes[i])
        rows.append(np.column_stack([p[:, 4], p[:, 5], np.full(len(p), i), tp, hit, area]))
    table = np.concatenate(rows) if rows else np.zeros((0, 15))
    table = table[np.argsort(-table[:, 0], kind="mergesort")]
    all_targets = np.concatenate([np.asarray(t, np.float64).reshape(-1, 5) for t in targets]) if targets else np.zeros((0, 5))
    n_targets = len(all_targets)

    classes = np.unique(all_targets[:, 0])
    aps = np.array([coco_ap(table[table[:, 1] == c][:, 3:13].astype(bool), int((all_targets[:, 0] == c).sum()))
                    for c in classes]).reshape(-1, 10)
    ap50 = float(aps[:, 0].mean()) if len(aps) else float("nan")
    ap50_95 = float(aps.mean()) if len(aps) else float("nan")

    tp50 = table[:, 3].astype(bool)
    tpc, fpc = np.cumsum(tp50), np.cumsum(~tp50)
    precision = tpc / np.maximum(tpc + fpc, 1)
    recall = tpc / n_targets if n_targets else np.zeros(len(tpc))
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    hit_c = table[:, 13].astype(bool)
    curves = Curves(table[:, 0], precision, recall, f1, tpc, np.cumsum(np.where(tp50, 0.0, table[:, 14])),
                    np.cumsum(hit_c), np.cumsum(np.where(hit_c, 0.0, table[:, 14])), n_images, n_targets, total_pixels)
    if n_targets and len(table):
        last = np.r_[table[1:, 0] != table[:-1, 0], True]  # cut only between distinct scores
        k = int(np.argmax(np.where(last, f1, -1.0)))
        kept, best_conf = table[: k + 1], float(table[k, 0])
        p, r, f = float(precision[k]), float(recall[k]), float(f1[k])
    else:  # no operating point: with no targets every prediction is a false alarm; with no predictions, nothing is
        kept, best_conf = table, 0.0
        nan = float("nan")
        p, r, f = (0.0 if len(table) else nan, nan, nan) if not n_targets else (0.0, 0.0, 0.0)
    false_area = kept[~kept[:, 3].astype(bool), 14].sum()
    hits = kept[:, 13].astype(bool)
    pixels = max(total_pixels, 1.0)
    pd_c = float(hits.sum()) / n_targets if n_targets else float("nan")
    per_class = [_class_row(int(c), kept[kept[:, 1] == c], int((all_targets[:, 0] == c).sum()), ap)
                 for c, ap in zip(classes, aps)]
    return Metrics(p, r, f, ap50, ap50_95, r, float(false_area) / pixels, pd_c, float(kept[~hits, 14].sum()) / pixels,
                   best_conf, n_images, n_targets, curves, None if conf is None else operating_point(curves, conf),
                   per_class=per_class)


def _class_row(c: int, kept: np.ndarray, targets: int, ap: np.ndarray) -> dict:
    """One class's P and R at the split's F1-maximising threshold (``kept``: its rows at or above it) and APs."""
    tp = int(kept[:, 3].sum())
    return {"class": c, "targets": targets, "precision": tp / len(kept) if len(kept) else float("nan"),
            "recall": tp / targets, "ap50": float(ap[0]), "ap50_95": float(ap.mean())}


def class_agnostic(rows: list[np.ndarray], column: int) -> list[np.ndarray]:
    """Copies of per-image prediction (class in ``column`` 5) or target (column 0) arrays with every class 0: a
    target found under another class counts as found."""
    out = []
    for r in rows:
        r = np.array(r, np.float64, copy=True)
        if len(r):
            r[:, column] = 0
        out.append(r)
    return out


def format_table(m: Metrics, ms_per_image: float | None = None) -> str:
    """The metrics as a table: the F1-maximising point, the ``--conf`` point when evaluated (``m.at_conf``), and
    the definitions on the line below."""
    cols = ["point", "images", "targets", "P", "R", "F1", "AP50", "AP50:95", "Pd", "Fa(e-4)", "Pd_c", "Fa_c(e-4)",
            "FA/img", "FA/Mpix", "conf"]

    def num(v: float | None, scale: float = 1.0) -> str:
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v * scale:.3f}"

    best = operating_point(m.curves, m.conf_threshold) if m.curves is not None else None
    rows = [["max F1", str(m.images), str(m.targets), num(m.precision), num(m.recall), num(m.f1), num(m.ap50),
             num(m.ap50_95), num(m.pd), num(m.fa, 1e4), num(m.pd_c), num(m.fa_c, 1e4),
             num(best.false_alarms_per_image if best else None), num(best.false_alarms_per_mpix if best else None),
             num(m.conf_threshold)]]
    points = [("at conf", m.at_conf, num(m.at_conf.conf))] if m.at_conf is not None else []
    unmet = []
    for b, p in m.at_budgets:  # the budget's threshold in full: rounded, it could let a false alarm through
        met = m.curves is None or budget_met(m.curves, p)
        points.append((str(b), p, repr(p.conf) if met else "unmet"))
        if not met:
            unmet.append(f"{b}: not met on this split: the detections scored {m.curves.confidence[0]:g} (the top "
                         f"score) already exceed it, so no threshold keeps it")
    for name, a, conf in points:
        rows.append([name, "", "", num(a.precision), num(a.recall), num(a.f1), "", "", num(a.pd), num(a.fa, 1e4),
                     num(a.pd_c), num(a.fa_c, 1e4), num(a.false_alarms_per_image), num(a.false_alarms_per_mpix),
                     conf])
    if ms_per_image is not None:
        cols.append("ms/img")
        rows[0].append(f"{ms_per_image:.1f}")
        rows[1:] = [r + [""] for r in rows[1:]]
    widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
    return "\n".join([" ".join(v.rjust(w) for v, w in zip(line, widths)).rstrip() for line in [cols, *rows]]
                     + unmet + [DEFINITIONS])
