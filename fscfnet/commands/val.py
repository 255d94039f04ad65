"""Validate a checkpoint (or an ONNX / TorchScript export) on a dataset split: metrics table, metrics.json, optional COCO predictions.json, curves.

    python val.py --weights runs/train/exp/weights/best.pt [--data NUAA-SIRST] [--split test] [--conf 0.25]
                  [--imgsz 640 | --imgsz native [--max-size 2048] | --slice 320 [--overlap 0.2] [--full-frame]]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fscfnet.commands.modes import (
    add_mode_arguments,
    add_norm_argument,
    mode_from_args,
    norm_from_args,
)
from fscfnet.commands.track import add_tracker_arguments, tracker_config
from fscfnet.engine.backends import load_inference_model
from fscfnet.engine.validator import validate_model
from fscfnet.metrics import AP_FLOOR, DEFAULT_CONF, fa_budgets, format_table
from fscfnet.track.evaluate import format_tracking
from fscfnet.track.metrics import CENTRE_PX
from fscfnet.utils.cli import add_budget_arguments, add_by_argument, run_cli
from fscfnet.utils.device import select_device
from fscfnet.utils.files import increment_path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True, help="checkpoint written by train.py, or an ONNX / TorchScript export")
    ap.add_argument("--data", default=None, help="dataset name or YAML (default: the one the model was trained on)")
    ap.add_argument("--split", default="test", help="index file to evaluate: train or test (default test)")
    ap.add_argument("--batch", type=int, default=16, help="network inputs (frames or tiles) per forward pass")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--conf", type=float, default=DEFAULT_CONF,
                    help=f"operating point reported besides the F1-maximising one (metrics.json at_conf; default "
                         f"{DEFAULT_CONF}, detect.py's); AP and the curves use every detection >= {AP_FLOOR}")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, or a CUDA index such as 0 or cuda:1")
    ap.add_argument("--save-json", action="store_true", help="also write predictions.json (COCO results format)")
    ap.add_argument("--project", default="runs/val")
    ap.add_argument("--name", default="exp")
    add_by_argument(ap)
    ap.add_argument("--track", action="store_true",
                    help="video datasets: also track each test sequence's detections (tracks start at --conf) and "
                         "report HOTA, MOTA, IDF1, Pd and false alarms of detections against confirmed tracks, and "
                         "the delay to confirmation")
    ap.add_argument("--track-dist", type=float, default=CENTRE_PX, metavar="PX",
                    help=f"with --track: centres within PX match for the centre-distance metrics (default {CENTRE_PX:g})")
    add_tracker_arguments(ap, live=False)
    add_budget_arguments(ap)
    add_norm_argument(ap)
    add_mode_arguments(ap)
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    model = load_inference_model(args.weights, select_device(args.device))
    mode = mode_from_args(model, args)
    norm = norm_from_args(args)
    print(f"model: {model.identity()}", file=sys.stderr)
    print(f"val: {mode.describe()}, input {norm or model.norm} ({model.format}, trained with scale {model.scale})",
          file=sys.stderr)
    save_dir = increment_path(Path(args.project) / args.name)
    budgets = fa_budgets(args.fa_per_image, args.fa_per_mpix)
    v = validate_model(model, args.data, args.split, mode, args.batch, args.workers, AP_FLOOR, save_dir,
                       args.save_json, log=lambda s: print(s, file=sys.stderr), at_conf=args.conf, fa_budgets=budgets,
                       norm=norm, by=args.by, track=tracker_config(args, args.conf) if args.track else None,
                       track_dist=args.track_dist)
    print(format_table(v.metrics, v.ms["total"]))
    if tables := v.tables():
        print(tables)
    if v.tracking is not None:
        print(format_tracking(v.tracking))
    print(f"speed per image: {v.ms['preprocess']:.1f} ms preprocess, {v.ms['inference']:.1f} ms inference, "
          f"{v.ms['postprocess']:.1f} ms postprocess, {mode.describe()} on {model.device} ({model.format})")
    print(f"results in {save_dir}")
    return v.metrics_dict()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
