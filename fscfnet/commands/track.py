"""Detect and track targets over videos, image sequences and live streams: MOTChallenge results, one JSON line per
ended track, and annotated videos with track IDs, trails and zoomed insets, in a run folder.

    fscfnet track --weights best.pt --source clip.mp4                 # runs/track/exp/{mot/clip.txt, clip.mp4}
    fscfnet track --weights best.onnx --source frames/ --confirm 3 5  # a folder of frames is one sequence
    fscfnet track --weights best.pt --source rtsp://camera/stream --reconnects 5
    fscfnet track --weights best.pt --source 0                        # webcam 0

A track is reported once it is confirmed (hit in M of its first N frames); detections from --conf-low up to
--conf-high may extend a confirmed track but never start one. A live source that drops is reopened --reconnects
times in a row, then the run ends with every file complete.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fscfnet.commands.modes import add_mode_arguments, add_norm_argument, mode_from_args, norm_from_args
from fscfnet.engine.backends import load_inference_model
from fscfnet.errors import UserError
from fscfnet.track import TrackerConfig
from fscfnet.engine.tracking import run_track
from fscfnet.utils.cli import check_conf, run_cli
from fscfnet.utils.device import select_device
from fscfnet.utils.files import increment_path
from fscfnet.weights import DEFAULT

DEFAULTS = TrackerConfig()


def add_tracker_arguments(ap: argparse.ArgumentParser, live: bool = True) -> None:
    """The tracker's settings (shared with ``detect --track`` and ``val --track``); ``live``: and --reconnects."""
    ap.add_argument("--conf-low", type=float, default=DEFAULTS.low,
                    help=f"detections from this score may extend a confirmed track (default {DEFAULTS.low})")
    ap.add_argument("--confirm", type=int, nargs=2, default=[DEFAULTS.confirm_hits, DEFAULTS.confirm_window],
                    metavar=("M", "N"), help="a track is confirmed when hit in M of its first N frames "
                    f"(default {DEFAULTS.confirm_hits} {DEFAULTS.confirm_window})")
    ap.add_argument("--coast", type=int, default=DEFAULTS.max_coast, metavar="K",
                    help=f"frames a confirmed track may go unseen before it ends (default {DEFAULTS.max_coast})")
    ap.add_argument("--min-motion", type=float, default=DEFAULTS.min_motion, metavar="PX",
                    help="confirm only tracks whose detections span PX pixels: moving targets only; a staring "
                         "sensor's clutter stands still (default 0: off)")
    ap.add_argument("--gate", type=float, default=DEFAULTS.gate,
                    help=f"squared Mahalanobis distance a detection may lie from a track's prediction (default "
                         f"{DEFAULTS.gate}: 99.9 %% of a 2-D Gaussian)")
    if live:
        ap.add_argument("--reconnects", type=int, default=3, help="reopen a live source that drops this many times")


def tracker_config(args: argparse.Namespace, high: float) -> TrackerConfig:
    check_conf(high)
    check_conf(args.conf_low, "--conf-low")
    try:
        return TrackerConfig(high=high, low=args.conf_low, confirm_hits=args.confirm[0],
                             confirm_window=args.confirm[1], max_coast=args.coast, gate=args.gate,
                             min_motion=args.min_motion)
    except ValueError as e:
        raise UserError(str(e).replace("tracker: ", "--conf/--conf-low/--confirm/--coast/--gate/--min-motion: ")) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=DEFAULT, help="checkpoint written by train.py, an ONNX / TorchScript export, "
                                                        f"or a shipped checkpoint's name (default {DEFAULT})")
    ap.add_argument("--source", required=True, nargs="+",
                    help="video file, image-sequence folder, glob, .txt list, webcam index or stream URL (several)")
    ap.add_argument("--conf", type=float, default=DEFAULTS.high,
                    help=f"detections from this score start and extend tracks (default {DEFAULTS.high})")
    add_tracker_arguments(ap)
    ap.add_argument("--recursive", action="store_true", help="also read subfolders of a folder source")
    ap.add_argument("--nosave", action="store_true", help="do not write the annotated videos")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, or a CUDA index such as 0 or cuda:1")
    ap.add_argument("--project", default="runs/track")
    ap.add_argument("--name", default="exp")
    add_norm_argument(ap)
    add_mode_arguments(ap)
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> Path:
    config = tracker_config(args, args.conf)
    model = load_inference_model(args.weights, select_device(args.device))
    mode = mode_from_args(model, args)
    save_dir = increment_path(Path(args.project) / args.name)
    run_track(model, args.source, save_dir, mode, config, not args.nosave, args.recursive, norm_from_args(args),
              args.reconnects)
    return save_dir


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
