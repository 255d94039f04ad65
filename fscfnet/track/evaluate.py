"""``val --track``: the tracker run over a video dataset's validated detections, sequence by sequence, and judged
as the field judges it: HOTA, MOTA and IDF1 (IoU and centre-distance similarity, :mod:`.metrics`), Pd and false
alarms per frame of the raw detections against the confirmed tracks, and the delay from a target's first frame
to the first frame its confirmed track covers it.

The sequences and frame numbers come from the dataset's ``frames.csv``, the ground-truth track IDs from its
``gt/SEQUENCE.txt`` (both written by ``fscfnet prepare`` for video datasets). No inference is repeated: the
tracker reads the detections validation already holds, from the tracker's ``low`` score up.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..metrics import class_agnostic, evaluate, operating_point
from ..metrics.detection import box_iou
from ..metrics.groups import frame_attributes
from ..metrics.sites import sites_of
from .metrics import CENTRE_PX, SequenceBoxes, tracking_metrics
from .tracker import Tracker, TrackerConfig


def read_mot_gt(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """A MOTChallenge ground-truth file as frame -> (track IDs (n,), boxes (n, 4) x1, y1, x2, y2, 0-based)."""
    if not path.is_file():
        raise UserError(f"val --track: {path} not found; tracking metrics need the ground truth's track IDs, which "
                        f"fscfnet prepare writes to gt/ for video datasets (prepare the dataset again)")
    rows = np.loadtxt(path, delimiter=",", ndmin=2) if path.stat().st_size else np.zeros((0, 9))
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for f in np.unique(rows[:, 0]).astype(int) if len(rows) else []:
        r = rows[rows[:, 0] == f]
        x1, y1 = r[:, 2] - 1, r[:, 3] - 1
        out[int(f)] = (r[:, 1].astype(int), np.column_stack([x1, y1, x1 + r[:, 4], y1 + r[:, 5]]))
    return out


Sequences = dict[str, list[tuple[int, int]]]  # sequence -> [(frame number, image index)] in frame order


def frame_sequences(stems: list[str], root: Path) -> Sequences:
    """Sequence -> [(frame number, index into ``stems``)] in frame order."""
    rows = frame_attributes(root)
    out: dict[str, list[tuple[int, int]]] = {}
    for i, stem in enumerate(stems):
        row = rows.get(stem)
        if row is None or not row.get("sequence") or not row.get("frame"):
            raise UserError(f"val --track: {root / 'frames.csv'} gives no sequence and frame for image {stem}")
        out.setdefault(row["sequence"], []).append((int(row["frame"]), i))
    return {k: sorted(v) for k, v in sorted(out.items())}


def first_cover_delay(gt: dict[int, tuple[np.ndarray, np.ndarray]], tracks: dict[int, tuple[np.ndarray, np.ndarray]],
                      frames: list[int]) -> list[int | None]:
    """Per ground-truth ID: frames from its first appearance (among ``frames``) to the first frame a confirmed
    track's box covers it (IoU >= 0.5), None when none ever does."""
    first: dict[int, int] = {}
    covered: dict[int, int] = {}
    for f in frames:
        ids, boxes = gt.get(f, (np.zeros(0, int), np.zeros((0, 4))))
        if not len(ids):
            continue
        _, t_boxes = tracks.get(f, (np.zeros(0, int), np.zeros((0, 4))))
        hit = (box_iou(boxes, t_boxes) >= 0.5).any(1) if len(t_boxes) else np.zeros(len(ids), bool)
        for i, h in zip(ids.tolist(), hit):
            first.setdefault(i, f)
            if h and i not in covered:
                covered[i] = f
    return [covered[i] - first[i] if i in covered else None for i in sorted(first)]


Tracked = dict[str, dict[int, np.ndarray]]  # sequence -> frame -> (n, 7): id, x1, y1, x2, y2, score, class


def run_tracker(predictions: list[np.ndarray], sequences: Sequences, config: TrackerConfig) -> Tracked:
    """Each sequence's detections (``predictions[i]`` ``(n, 6)`` of image ``i``, from ``config.low`` up) through a
    fresh :class:`Tracker`, in frame order: the confirmed tracks of every frame."""
    out: Tracked = {}
    for name, frames in sequences.items():
        tracker, seq = Tracker(config), {}
        for f, i in frames:
            p = predictions[i][predictions[i][:, 4] >= config.low]
            seq[f] = np.array([[t.id, *t.box, t.score, t.cls] for t in tracker.update(p[:, :4], p[:, 4], p[:, 5],
                                                                                        frame=f)]).reshape(-1, 7)
        out[name] = seq
    return out


def centre_point(predictions: list[np.ndarray], targets: list[np.ndarray], conf: float, dist_px: float) -> dict:
    """Pd and false alarms per frame with matching by centre distance: per frame, detections scoring at least
    ``conf`` in descending score each take the nearest unmatched target whose centre lies within ``dist_px``; the
    rest are false alarms. For 2-5 px targets, whose boxes miss IoU 0.5 by a pixel, this separates mislocated
    finds from clutter, which IoU counting cannot."""
    found = alarms = total = 0
    for p, t in zip(predictions, targets):
        p = p[p[:, 4] >= conf]
        p = p[np.argsort(-p[:, 4], kind="stable")]
        tc = (t[:, 1:3] + t[:, 3:5]) / 2
        free = np.ones(len(t), bool)
        for box in p[:, :4]:
            d = np.linalg.norm(tc - (box[:2] + box[2:]) / 2, axis=1) if len(t) else np.zeros(0)
            d = np.where(free, d, np.inf)
            if len(d) and d.min() <= dist_px:
                free[int(d.argmin())] = False
                found += 1
            else:
                alarms += 1
        total += len(t)
    return {"conf": conf, "pd": found / total if total else float("nan"),
            "false_alarms_per_frame": alarms / max(len(predictions), 1), "false_alarms": alarms}


def score_tracks(tracked: Tracked, predictions: list[np.ndarray], targets: list[np.ndarray],
                 sizes: list[tuple[int, int]], sequences: Sequences, root: Path, high: float, low: float,
                 dist_px: float = CENTRE_PX) -> dict:
    """Any tracker's output (``tracked``) judged against the dataset's ground truth: HOTA / MOTA / IDF1 by IoU and
    by centre distance, Pd and false alarms per frame of the raw detections at ``high`` and ``low`` and of the
    tracks, and the delay to a covering track."""
    boxes: dict[str, SequenceBoxes] = {}
    tracked_preds = [np.zeros((0, 6)) for _ in predictions]
    delays: list[int | None] = []
    for name, frames in sequences.items():
        gt = read_mot_gt(root / "gt" / f"{name}.txt")
        kept = [f for f, _ in frames]
        present = set(kept)
        seq = SequenceBoxes(kept[-1], {f: v for f, v in gt.items() if f in present})  # the frames validated
        for f, i in frames:
            rows = tracked.get(name, {}).get(f, np.zeros((0, 7)))
            seq.tracks[f] = (rows[:, 0].astype(int), rows[:, 1:5])
            tracked_preds[i] = rows[:, 1:7]
        boxes[name] = seq
        delays += first_cover_delay(seq.gt, seq.tracks, kept)
    any_class = class_agnostic(targets, 0)
    raw = evaluate(class_agnostic(predictions, 5), any_class, sizes).curves
    tracks = evaluate(class_agnostic(tracked_preds, 5), any_class, sizes).curves

    def point(curves, conf: float) -> dict:
        p = operating_point(curves, conf)
        return {"conf": conf, "pd": p.pd, "pd_c": p.pd_c, "false_alarms_per_frame": p.false_alarms_per_image,
                "false_alarms": p.false_alarms}

    done = [d for d in delays if d is not None]
    by_centre = {"raw_at_high": centre_point(predictions, targets, high, dist_px),
                 "raw_at_low": centre_point(predictions, targets, low, dist_px),
                 "tracks": centre_point(tracked_preds, targets, 0.0, dist_px)}
    # where the false alarms (IoU counting) lie, raw and on tracks: which kind confirmation removes (extra boxes
    # on a target, or clutter on the background)
    sites = {"raw_at_high": sites_of(predictions, targets, high), "tracks": sites_of(tracked_preds, targets, 0.0)}
    return {"sequences": len(boxes), "frames": len(predictions), "centre_px": dist_px,
            "iou": tracking_metrics(boxes, "iou"), "centre": tracking_metrics(boxes, "centre", dist_px),
            "raw_at_high": point(raw, high), "raw_at_low": point(raw, low), "tracks": point(tracks, 0.0),
            "by_centre": by_centre, "false_alarm_sites": sites,
            "delay_frames": {"targets": len(delays), "confirmed": len(done),
                             "median": float(np.median(done)) if done else None,
                             "p90": float(np.percentile(done, 90)) if done else None}}


def track_validation(predictions: list[np.ndarray], targets: list[np.ndarray], sizes: list[tuple[int, int]],
                     stems: list[str], root: Path, config: TrackerConfig, dist_px: float = CENTRE_PX) -> dict:
    """This project's tracker over validation's detections, scored (the ``tracking`` entry of ``metrics.json``)."""
    sequences = frame_sequences(stems, root)  # frames.csv, read once
    tracked = run_tracker(predictions, sequences, config)
    return {"tracker": asdict(config), **score_tracks(tracked, predictions, targets, sizes, sequences, root,
                                                     config.high, config.low, dist_px)}


def format_tracking(t: dict) -> str:
    """The printed summary of :func:`track_validation`'s result."""
    c = t["tracker"]
    lines = [f"tracking ({t['sequences']} sequences, {t['frames']} frames; tracks start at {c['high']}, extend from "
             f"{c['low']}, confirmed after {c['confirm_hits']} of {c['confirm_window']} frames, coast "
             f"{c['max_coast']}):",
             "  similarity   HOTA   DetA   AssA   MOTA   IDF1  IDSW"]
    for kind, label in (("iou", "IoU"), ("centre", f"centre {t['centre_px']:g}px")):
        m = t[kind]
        lines.append(f"  {label:<11} {m['HOTA']:.3f}  {m['DetA']:.3f}  {m['AssA']:.3f}  {m['MOTA']:.3f}  "
                     f"{m['IDF1']:.3f}  {int(m['IDSW']):4d}")
    for key, label in (("raw_at_high", f"detections >= {c['high']}"), ("raw_at_low", f"detections >= {c['low']}"),
                       ("tracks", "confirmed tracks")):
        p = t[key]
        c = t["by_centre"][key]
        lines.append(f"  {label:<22} Pd {p['pd']:.3f}  false alarms/frame {p['false_alarms_per_frame']:.4f} (IoU); "
                     f"Pd {c['pd']:.3f}  false alarms/frame {c['false_alarms_per_frame']:.4f} (centres within "
                     f"{t['centre_px']:g} px)")
    d = t["delay_frames"]
    median = "-" if d["median"] is None else f"{d['median']:g}"
    lines.append(f"  delay to a confirmed track: median {median} frames ({d['confirmed']} of {d['targets']} targets "
                 f"ever confirmed)")
    return "\n".join(lines)
