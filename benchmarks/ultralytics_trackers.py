"""Other trackers on the same detections: Ultralytics' ByteTrack and BoT-SORT (their tracker classes with their
shipped settings, ``bytetrack.yaml`` and ``botsort.yaml``) and norfair (Euclidean distance between centres).
Run in a virtual environment with ultralytics and norfair (never this project's); it reads this project's files
only, and writes each tracker's output in the form ``benchmarks/track_eval.py --external`` scores.

    ULVENV/bin/python benchmarks/ultralytics_trackers.py --dataset datasets/synthetic-tracks \\
        --pred runs/track_eval/det/predictions.json --out runs/track_eval/other

``--pred``: ``val.py --save-json``'s predictions (COCO form, image stems as ids); ``--dataset``: the prepared
video dataset (its ``frames.csv`` gives each image's sequence and frame; BoT-SORT's camera-motion compensation
reads the frames themselves from ``images/``). Writes ``OUT/bytetrack.json``, ``OUT/botsort.json``,
``OUT/norfair.json``: ``{sequence: {frame: [[id, x1, y1, x2, y2, score, class], ...]}}``, and ``OUT/speed.json``
(each tracker's milliseconds per frame).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import cv2
import numpy as np

NORFAIR_DISTANCE_PX = 10.0  # norfair's distance_threshold on centres: 2.5x the fastest synthetic motion per frame


class Detections:
    """What Ultralytics' trackers read from a detector: ``conf``, ``cls``, ``xywh`` (centre), boolean indexing."""

    def __init__(self, rows: np.ndarray):
        self.rows = rows.reshape(-1, 6)  # x1, y1, x2, y2, score, class

    @property
    def conf(self) -> np.ndarray:
        return self.rows[:, 4]

    @property
    def cls(self) -> np.ndarray:
        return self.rows[:, 5]

    @property
    def xyxy(self) -> np.ndarray:
        return self.rows[:, :4]

    @property
    def xywh(self) -> np.ndarray:
        b = self.rows[:, :4]
        return np.column_stack([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, mask) -> Detections:
        return Detections(self.rows[mask])


def sequences(dataset: Path, pred: Path) -> dict[str, list[tuple[int, str, np.ndarray]]]:
    """Sequence -> [(frame, image stem, detections (n, 6))] in frame order, test split only."""
    with open(dataset / "frames.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    by_stem: dict[str, list[list[float]]] = {r["image"]: [] for r in rows}
    for d in json.loads(pred.read_text()):
        x, y, w, h = d["bbox"]
        if d["image_id"] in by_stem:
            by_stem[d["image_id"]].append([x, y, x + w, y + h, d["score"], d["category_id"]])
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r["sequence"], []).append((int(r["frame"]), r["image"], np.array(by_stem[r["image"]])))
    return {k: sorted(v) for k, v in sorted(out.items())}


def run_ultralytics(kind: str, seqs: dict, dataset: Path) -> tuple[dict, float]:
    from ultralytics.trackers.bot_sort import BOTSORT
    from ultralytics.trackers.byte_tracker import BYTETracker
    from ultralytics.utils import IterableSimpleNamespace, YAML
    from ultralytics.utils.checks import check_yaml

    cfg = IterableSimpleNamespace(**YAML.load(check_yaml(f"{kind}.yaml")))
    out, seconds, frames = {}, 0.0, 0
    images = {p.stem: p for p in (dataset / "images").iterdir()}
    for name, items in seqs.items():
        tracker = (BYTETracker if kind == "bytetrack" else BOTSORT)(args=cfg)
        out[name] = {}
        for frame, stem, dets in items:
            img = cv2.imread(str(images[stem])) if kind == "botsort" else None  # camera-motion compensation
            t0 = time.perf_counter()
            tracks = tracker.update(Detections(dets), img)
            seconds += time.perf_counter() - t0
            frames += 1
            # [x1, y1, x2, y2, track_id, score, cls, idx] -> [id, x1, y1, x2, y2, score, cls]
            out[name][frame] = [[float(t[4]), *map(float, t[:4]), float(t[5]), float(t[6])] for t in tracks]
    return out, seconds * 1e3 / max(frames, 1)


def run_norfair(seqs: dict) -> tuple[dict, float]:
    from norfair import Detection, Tracker

    out, seconds, frames = {}, 0.0, 0
    for name, items in seqs.items():
        tracker = Tracker(distance_function="euclidean", distance_threshold=NORFAIR_DISTANCE_PX)
        out[name] = {}
        for frame, _, dets in items:
            dets = dets.reshape(-1, 6)
            dets = dets[dets[:, 4] >= 0.25]  # norfair has no score stages: the same start threshold as the others
            t0 = time.perf_counter()
            objs = tracker.update([Detection(points=((d[:2] + d[2:4]) / 2)[None], scores=d[4:5], data=(frame, d))
                                   for d in dets])
            seconds += time.perf_counter() - t0
            frames += 1
            rows = []
            for o in objs:  # the initialised objects; reported in the frames whose detection they took
                seen, d = o.last_detection.data
                if seen == frame:
                    rows.append([float(o.id), *map(float, d[:4]), float(d[4]), float(d[5])])
            out[name][frame] = rows
    return out, seconds * 1e3 / max(frames, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, required=True, help="the prepared video dataset's folder")
    ap.add_argument("--pred", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    seqs = sequences(args.dataset, args.pred)
    args.out.mkdir(parents=True, exist_ok=True)
    speed = {}
    for kind in ("bytetrack", "botsort"):
        tracks, speed[kind] = run_ultralytics(kind, seqs, args.dataset)
        (args.out / f"{kind}.json").write_text(json.dumps(tracks))
    tracks, speed["norfair"] = run_norfair(seqs)
    (args.out / "norfair.json").write_text(json.dumps(tracks))
    (args.out / "speed.json").write_text(json.dumps({"ms_per_frame": speed,
                                                     "norfair_distance_threshold_px": NORFAIR_DISTANCE_PX}))
    print(f"{sum(len(v) for v in seqs.values())} frames of {len(seqs)} sequences; ms per frame: {speed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
