"""Score any detector's COCO-format results under this project's protocol (docs/design.md §6).

    python -m fscfnet.metrics --data NUAA-SIRST --split test --pred predictions.json [--conf 0.25] [--out metrics.json]

``predictions.json``: a list of {"image_id": "<image stem>", "category_id": <class index>,
"bbox": [x, y, w, h], "score": s} in original-image pixels. Prints the same table as val.py and writes the
same metrics.json keys (ms_per_image is null; no inference mode; ``provenance`` added), ``at_conf``, the
per-class rows and the confusion matrix included, and the same ``--by`` breakdowns. Every prediction in the
file is scored (val.py writes those scoring at least 0.001).
"""

from __future__ import annotations

import argparse
import json
import numbers
import sys
from pathlib import Path

import numpy as np

from ..data import open_dataset
from ..data.dataset import IRSTDDataset, original_targets
from ..errors import UserError
from ..utils.cli import add_budget_arguments, add_by_argument, check_conf, run_cli
from ..utils.files import write_json
from ..utils.provenance import provenance
from . import DEFAULT_CONF, evaluate, fa_budgets, format_table
from .groups import frame_attributes
from .split import ScoredSplit


def read_predictions(path: Path, stems: list[str], nc: int) -> list[np.ndarray]:
    """Per image of the split (in ``stems`` order) ``(n, 6)`` xyxy, score, class; bad entries raise ``UserError``."""
    if not path.is_file():
        raise UserError(f"{path}: predictions file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of COCO results, got {type(data).__name__}")
    index = {s: i for i, s in enumerate(stems)}
    rows: list[list[list[float]]] = [[] for _ in stems]
    for k, d in enumerate(data):
        where = f"{path}: entry {k}"
        if not isinstance(d, dict) or not {"image_id", "category_id", "bbox", "score"} <= set(d):
            raise UserError(f"{where}: needs keys image_id, category_id, bbox, score")
        bbox, score, cat = d["bbox"], d["score"], d["category_id"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, numbers.Real) for v in bbox)):
            raise UserError(f"{where}: 'bbox' must be 4 numbers [x, y, w, h], got {bbox!r}")
        if bbox[2] < 0 or bbox[3] < 0:
            raise UserError(f"{where}: 'bbox' has a negative width or height: {bbox!r}")
        if not isinstance(score, numbers.Real) or isinstance(score, bool):
            raise UserError(f"{where}: 'score' must be a number, got {score!r}")
        if not isinstance(cat, int) or isinstance(cat, bool) or not 0 <= cat < nc:
            raise UserError(f"{where}: 'category_id' must be a class index in 0..{nc - 1}, got {cat!r}")
        stem = str(d["image_id"])
        if stem not in index:
            raise UserError(f"{where}: image_id {stem!r} is not an image of this split")
        x, y, w, h = (float(v) for v in bbox)
        rows[index[stem]].append([x, y, x + w, y + h, float(score), float(cat)])
    return [np.array(r, np.float64).reshape(-1, 6) for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fscfnet.metrics", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset name or YAML")
    ap.add_argument("--split", default="test")
    ap.add_argument("--pred", required=True, type=Path, help="COCO-format results JSON")
    ap.add_argument("--conf", type=float, default=DEFAULT_CONF, help="operating point reported besides the "
                    f"F1-maximising one (metrics.json at_conf; default {DEFAULT_CONF}, as val.py)")
    ap.add_argument("--out", type=Path, default=None, help="write metrics.json here")
    add_by_argument(ap)
    add_budget_arguments(ap)
    args = ap.parse_args(argv)

    def run() -> None:
        check_conf(args.conf)
        budgets = fa_budgets(args.fa_per_image, args.fa_per_mpix)
        cfg = open_dataset(args.data)
        ds = IRSTDDataset(cfg, args.split, imgsz=32, log=lambda s: print(s, file=sys.stderr))
        preds = read_predictions(args.pred, [Path(p).stem for p in ds.paths], cfg.nc)
        targets, sizes = original_targets(ds), [tuple(s) for s in ds.shapes]
        v = ScoredSplit(evaluate(preds, targets, sizes), preds, [Path(p).stem for p in ds.paths], targets, sizes,
                        list(cfg.names))
        v.score(args.conf, budgets, frame_attributes(cfg.root) if args.by else None, args.by)
        if args.out:
            write_json(args.out, {**v.as_dict({"ms_per_image": None}), "provenance": provenance()})
        print(format_table(v.metrics))
        if tables := v.tables():
            print(tables)

    return run_cli(run)


if __name__ == "__main__":
    raise SystemExit(main())
