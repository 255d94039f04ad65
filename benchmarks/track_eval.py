"""Trackers judged on a video dataset's test sequences from one set of detections: this project's tracker under
each ``--confirm M/N`` and ``--coast K`` given (and, from files, any other tracker's output), scored by
:func:`fscfnet.track.evaluate.score_tracks`: HOTA / MOTA / IDF1 by IoU and by centre distance, Pd and false
alarms per frame of the raw detections against the confirmed tracks, and the delay to confirmation.

    python val.py --weights W --data synthetic-tracks --save-json --project runs/track_eval --name det
    python benchmarks/track_eval.py --data synthetic-tracks --pred runs/track_eval/det/predictions.json \\
        --confirm 1/1 2/3 3/5 4/6 --coast 5 10 --out benchmarks/results/track_synthetic.json

The detections are read once (``predictions.json`` as ``val --save-json`` writes it); every tracker sees the same.
``--external NAME=FILE``: a JSON ``{sequence: {frame: [[id, x1, y1, x2, y2, score, class], ...]}}`` written by
another tracker (``ultralytics_trackers.py``), scored the same way.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from fscfnet.data import open_dataset
from fscfnet.data.dataset import IRSTDDataset, original_targets
from fscfnet.metrics.__main__ import read_predictions
from fscfnet.track import MotionModel, TrackerConfig
from fscfnet.track.evaluate import frame_sequences, run_tracker, score_tracks
from fscfnet.utils import provenance, write_json


def external(path: Path) -> dict:
    """Another tracker's output file as :func:`score_tracks` reads it."""
    raw = json.loads(path.read_text())
    return {seq: {int(f): np.array(rows, float).reshape(-1, 7) for f, rows in frames.items()}
            for seq, frames in raw.items()}


def row(name: str, r: dict) -> str:
    i, c, raw, tr = r["iou"], r["centre"], r["by_centre"]["raw_at_high"], r["by_centre"]["tracks"]
    d = r["delay_frames"]
    median = "-" if d["median"] is None else f"{d['median']:g}"
    return (f"| {name} | {i['HOTA']:.3f} | {i['MOTA']:.3f} | {i['IDF1']:.3f} | {c['HOTA']:.3f} | {c['MOTA']:.3f} | "
            f"{c['IDF1']:.3f} | {raw['pd']:.3f} | {raw['false_alarms_per_frame']:.4f} | "
            f"{tr['pd']:.3f} | {tr['false_alarms_per_frame']:.4f} | {median} ({d['confirmed']}/{d['targets']}) |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="a video dataset (prepared by fscfnet prepare)")
    ap.add_argument("--pred", type=Path, required=True, help="val --save-json's predictions.json on its test split")
    ap.add_argument("--conf", type=float, default=0.25, help="tracks start at this score (the raw detections' point)")
    ap.add_argument("--conf-low", type=float, default=0.1)
    ap.add_argument("--confirm", nargs="+", default=["3/5"], help="M/N settings to try")
    ap.add_argument("--coast", nargs="+", type=int, default=[10])
    ap.add_argument("--measure", nargs="+", type=float, default=[MotionModel.measure],
                    help="the Kalman filter's measurement noise (px) settings to try")
    ap.add_argument("--accel", nargs="+", type=float, default=[MotionModel.accel],
                    help="its process noise (px / frame^2) settings to try")
    ap.add_argument("--min-motion", nargs="+", type=float, default=[0.0],
                    help="px a tentative track must span to be confirmed: settings to try")
    ap.add_argument("--track-dist", type=float, default=3.0, help="px: centre-distance matching (default 3)")
    ap.add_argument("--external", nargs="*", default=[], help="NAME=FILE of another tracker's output")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = open_dataset(args.data)
    ds = IRSTDDataset(cfg, "test", imgsz=32, log=lambda s: print(s, file=sys.stderr))
    stems = [Path(p).stem for p in ds.paths]
    preds = read_predictions(args.pred, stems, cfg.nc)
    targets, sizes = original_targets(ds), [tuple(s) for s in ds.shapes]
    sequences = frame_sequences(stems, cfg.root)  # frames.csv, read once for every tracker
    base = TrackerConfig(high=args.conf, low=args.conf_low)
    results = {}
    for confirm, k, measure, accel, moved in itertools.product(args.confirm, args.coast, args.measure, args.accel,
                                                               args.min_motion):
        m, n = (int(v) for v in confirm.split("/"))
        motion = MotionModel(accel=accel, measure=measure)
        config = replace(base, confirm_hits=m, confirm_window=n, max_coast=k, motion=motion, min_motion=moved)
        t0 = time.perf_counter()
        tracked = run_tracker(preds, sequences, config)
        ms = (time.perf_counter() - t0) * 1e3 / len(stems)
        name = (f"fscfnet {m}/{n} coast {k}" + (f" measure {measure:g} accel {accel:g}" if motion != MotionModel() else "")
                + (f" min motion {moved:g}" if moved else ""))
        results[name] = {"tracker": asdict(config), "tracker_ms_per_frame": ms, **score_tracks(
            tracked, preds, targets, sizes, sequences, cfg.root, config.high, config.low, args.track_dist)}
    for spec in args.external:
        name, path = spec.split("=", 1)
        results[name] = score_tracks(external(Path(path)), preds, targets, sizes, sequences, cfg.root, args.conf,
                                     args.conf_low, args.track_dist)
    report = {"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
              "data": args.data, "pred": str(args.pred), "provenance": provenance("cpu"), "results": results}
    write_json(args.out, report)
    print("| tracker | HOTA (IoU) | MOTA | IDF1 | HOTA (centre) | MOTA | IDF1 | Pd raw | FA/frame raw | Pd tracks | "
          "FA/frame tracks | delay, median frames (confirmed/targets) |  (Pd, FA: centres within --track-dist)")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(row(name, r))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
