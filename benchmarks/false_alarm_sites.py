"""Where a detector's false alarms lie: on a target (a second or badly fitted box), beside one, or on the
background (:func:`fscfnet.metrics.sites.false_alarm_sites`: matched whatever the class at IoU 0.5; a false alarm
overlapping a target's box is ``on_target``, one within --near px of it ``near_target``, the rest ``background``).

    python benchmarks/false_alarm_sites.py --data Drone-IR --pred runs/track_eval/droneir/fscfnet/predictions.json \\
        --conf 0.25 --by distance_bin --out benchmarks/results/drone_ir_false_alarm_sites.json

Prints and writes the counts and false alarms per frame of each site, overall and per value of ``--by`` (a column
of the dataset's frames.csv).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from fscfnet.data import open_dataset
from fscfnet.data.dataset import IRSTDDataset, original_targets
from fscfnet.metrics.__main__ import read_predictions
from fscfnet.metrics.groups import frame_attributes
from fscfnet.metrics.sites import NEAR_PX, SITES, false_alarm_sites, tally_sites
from fscfnet.utils import provenance, write_json


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--pred", type=Path, required=True, help="COCO-format results of the test split")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--near", type=float, default=NEAR_PX, help="px: a false alarm this close to a target's box is "
                    "near it (the margin of background_crops.py)")
    ap.add_argument("--by", default=None, help="a column of frames.csv")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = open_dataset(args.data)
    ds = IRSTDDataset(cfg, "test", imgsz=32, log=lambda s: print(s, file=sys.stderr))
    stems = [Path(p).stem for p in ds.paths]
    preds, targets = read_predictions(args.pred, stems, cfg.nc), original_targets(ds)
    per_frame = [false_alarm_sites(p, t, args.conf, args.near) for p, t in zip(preds, targets)]
    report = {"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]), "data": args.data,
              "pred": str(args.pred), "conf": args.conf, "near_px": args.near, "all": tally_sites(per_frame)}
    if args.by:
        attrs = frame_attributes(cfg.root)
        groups: dict[str, list[list[str]]] = {}
        for stem, f in zip(stems, per_frame):
            groups.setdefault(attrs.get(stem, {}).get(args.by, "-"), []).append(f)
        report["by"] = {args.by: {v: tally_sites(g) for v, g in sorted(groups.items())}}
    report["provenance"] = provenance("cpu")
    write_json(args.out, report)
    rows = [("all", report["all"])] + [(f"{args.by} {v}", t) for v, t in report.get("by", {}).get(args.by, {}).items()]
    print(f"false alarms per frame at conf {args.conf:g} by site (near: within {args.near:g} px of a target's box)")
    print(f"{'group':22s} {'frames':>7s} " + " ".join(f"{s:>12s}" for s in SITES))
    for name, t in rows:
        print(f"{name:22s} {t['frames']:7d} " + " ".join(f"{t['per_frame'][s]:12.4f}" for s in SITES))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
