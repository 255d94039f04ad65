"""The options val.py and detect.py share: the inference mode (docs: inference.md, "Large frames") and the input
normalisation of the frames (docs: inference.md, "Bit depth")."""

from __future__ import annotations

import argparse

from ..cfg.norm import InputNorm
from ..data.views import InferenceMode
from ..engine.backends import InferenceModel
from ..engine.inference import mode_from_flags


def add_mode_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("inference mode (default: the one matching the model's training)")
    g.add_argument("--imgsz", default=None,
                   help="N: letterbox every frame into N x N; native: every frame at its own resolution, padded to "
                        "a stride multiple")
    g.add_argument("--slice", type=int, default=None, metavar="S",
                   help="S x S tiles at native scale, --batch at a time, merged at the seams")
    g.add_argument("--overlap", type=float, default=0.2, help="--slice: tile overlap, a fraction of S (0.2)")
    g.add_argument("--max-size", type=int, default=None,
                   help="--imgsz native: frames with a longer side are sliced into tiles of this size (2048)")
    g.add_argument("--full-frame", action="store_true",
                   help="--slice: also one letterboxed pass of the whole frame at --imgsz (large targets)")


def add_norm_argument(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--norm", default=None, metavar="POLICY",
                    help="how frame values become 0..255: 8bit, \"range LO HI\" or \"percentile PLO PHI\" (default: "
                         "the model's, as in training)")


def norm_from_args(args: argparse.Namespace) -> InputNorm | None:
    return None if args.norm is None else InputNorm.parse(args.norm)


def mode_from_args(model: InferenceModel, args: argparse.Namespace) -> InferenceMode:
    return mode_from_flags(model, args.imgsz, args.slice, args.overlap, args.max_size, args.full_frame)
