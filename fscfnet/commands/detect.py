"""Detect targets in images, folders, globs, list files or videos: annotated copies (and YOLO labels) in a run folder.

    python detect.py --source path/to/images      # the shipped fscfnet-irstd checkpoint, its recommended conf
    python detect.py --weights runs/train/exp/weights/best.pt --source path/to/images [--conf 0.25] [--save-txt]
    python detect.py --weights best.onnx --source "frames/*.png" --imgsz 640
    python detect.py --weights best.pt --source big_frames/ --slice 640 --batch 8 --save-crop   # large frames
    python detect.py --weights best.pt --source clip.mp4          # writes runs/detect/exp/clip.mp4
    python detect.py --weights best.pt --source clip.mp4 --track  # tracks as fscfnet track does

Outputs keep each file's path relative to its source: with --recursive, src/a/x.png and src/b/x.png become
runs/detect/exp/a/x.png and b/x.png (labels/a/x.txt, labels/b/x.txt); a name already taken by an earlier source
gets the file's parent folder (b/x.png), then _2, _3, ..., so nothing is overwritten. Unreadable and non-image
files are reported on stderr and skipped; the rest are processed.
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
from fscfnet.commands import track as track_cmd
from fscfnet.commands.track import add_tracker_arguments
from fscfnet.engine.backends import load_inference_model
from fscfnet.engine.predictor import run_detect
from fscfnet.utils.cli import check_conf, run_cli
from fscfnet.utils.device import select_device
from fscfnet.utils.files import increment_path
from fscfnet.weights import DEFAULT


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=DEFAULT, help="checkpoint written by train.py, an ONNX / TorchScript export, "
                                                        f"or a shipped checkpoint's name (default {DEFAULT})")
    ap.add_argument("--source", required=True, nargs="+",
                    help="image file, folder, glob, video file or .txt list of paths (several allowed)")
    ap.add_argument("--conf", type=float, default=None,
                    help="keep detections at or above this score (default: a shipped checkpoint's recommended "
                         "confidence, else 0.25; with --track, the tracker's)")
    ap.add_argument("--batch", type=int, default=1, help="network inputs (frames or tiles) per forward pass")
    ap.add_argument("--recursive", action="store_true",
                    help="also look in subfolders of a folder source (mirrored in the outputs)")
    ap.add_argument("--save-txt", action="store_true",
                    help="write labels/<path>.txt, <path> as for the annotated image (YOLO: class cx cy w h)")
    ap.add_argument("--save-conf", action="store_true", help="with --save-txt: append each detection's score")
    ap.add_argument("--save-crop", action="store_true",
                    help="write each detection's pixels to crops/<path>_<k>_x<x1>_y<y1>.png")
    ap.add_argument("--nosave", action="store_true", help="do not write annotated images or videos")
    ap.add_argument("--track", action="store_true",
                    help="track targets over each video or image sequence instead, as fscfnet track does (--conf "
                         "starts tracks; the tracker's options below)")
    add_tracker_arguments(ap)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, or a CUDA index such as 0 or cuda:1")
    ap.add_argument("--project", default="runs/detect")
    ap.add_argument("--name", default="exp")
    add_norm_argument(ap)
    add_mode_arguments(ap)
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> Path:
    if args.track:
        args.conf = track_cmd.DEFAULTS.high if args.conf is None else args.conf
        return track_cmd.run(args)
    model = load_inference_model(args.weights, select_device(args.device))
    mode = mode_from_args(model, args)
    conf = model.conf if args.conf is None else args.conf
    check_conf(conf)
    save_dir = increment_path(Path(args.project) / args.name)
    run_detect(model, args.source, save_dir, mode, conf, args.batch, not args.nosave, args.save_txt,
               args.save_conf, args.recursive, args.save_crop, norm=norm_from_args(args))
    return save_dir


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
