"""Which videos a detector's class confusions come from: frame counts of a video dataset's test split are
correlated within a video, so "453 airplanes called birds" may be one video or thirty.

    python -m fscfnet.metrics --data Drone-IR --pred runs/track_eval/droneir/fscfnet/predictions.json \\
        --by sequence --out benchmarks/results/drone_ir_by_sequence_fscfnet.json      # (the same for yolov10n)
    python benchmarks/confusions_by_video.py --dataset datasets/Drone-IR \\
        --metrics fscfnet=benchmarks/results/drone_ir_by_sequence_fscfnet.json \\
                  yolov10n=benchmarks/results/drone_ir_by_sequence_yolov10n.json \\
        --out benchmarks/results/drone_ir_confusions_by_video.json

Reads each metrics.json's per-sequence confusion matrices (at its ``--conf``, 0.25 by default) and writes, for each
pair of true and predicted class, the frames confused and the videos they are in (with each video's ``--column``, its
distance bin by default, when ``--dataset`` names the prepared dataset whose frames.csv gives it).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from fscfnet.metrics.groups import frame_attributes
from fscfnet.utils import provenance, write_json


def confusions_by_video(metrics: dict, attribute: dict[str, str], column: str) -> list[dict]:
    """One entry per (true, predicted) class pair with any confusion, most frames first; each video carries
    ``attribute[sequence]`` under ``column``."""
    names = metrics["confusion_matrix"]["names"][:-1]  # the last row / column is background
    pairs: dict[tuple[int, int], list[dict]] = {}
    for group in metrics["by"]["sequence"]:
        counts = group["confusion"]
        for p in range(len(names)):
            for t in range(len(names)):
                if p != t and counts[p][t]:
                    video = {"sequence": group["sequence"], "frames": counts[p][t],
                             column: attribute.get(group["sequence"], "")}
                    pairs.setdefault((t, p), []).append(video)
    rows = [{"true": names[t], "predicted": names[p], "frames": sum(v["frames"] for v in videos),
             "videos": sorted(videos, key=lambda v: -v["frames"])} for (t, p), videos in pairs.items()]
    return sorted(rows, key=lambda r: -r["frames"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--metrics", nargs="+", required=True, metavar="NAME=JSON",
                    help="metrics.json of python -m fscfnet.metrics ... --by sequence")
    ap.add_argument("--dataset", type=Path, default=None, help="the prepared video dataset (its frames.csv gives "
                    "each video's --column)")
    ap.add_argument("--column", default="distance_bin", help="the frames.csv column reported per video")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    frames = frame_attributes(args.dataset).values() if args.dataset else ()
    attribute = {row["sequence"]: row.get(args.column, "") for row in frames}
    results = {}
    for spec in args.metrics:
        name, sep, path = spec.partition("=")
        if not sep:
            sys.exit(f"--metrics {spec!r}: expected NAME=JSON")
        metrics = json.loads(Path(path).read_text())
        if "sequence" not in metrics.get("by", {}):
            sys.exit(f"{path}: no per-sequence rows; write it with python -m fscfnet.metrics ... --by sequence")
        results[name] = confusions_by_video(metrics, attribute, args.column)
        print(f"{name}:")
        for r in results[name]:
            top = ", ".join(f"{v['sequence']} {v['frames']}" for v in r["videos"][:4])
            print(f"  {r['true']} as {r['predicted']}: {r['frames']} frames in {len(r['videos'])} videos ({top})")
    command = shlex.join([sys.executable, *(sys.argv if argv is None else [__file__, *argv])])
    write_json(args.out, {"what": __doc__.split("\n")[0], "command": command, "provenance": provenance(),
                          "results": results})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
