"""The ``fscfnet`` console command, in the manner of ``yolo``: ``fscfnet SUBCOMMAND [options]``.

    fscfnet train --data demo --epochs 1 --imgsz 160      fscfnet val --weights best.pt
    fscfnet detect --weights best.pt --source frames/     fscfnet export --weights best.pt --format onnx
    fscfnet bench --model fscfnet --imgsz 640             fscfnet experiments --models yolov10n fscfnet ...
    fscfnet track --weights best.pt --source clip.mp4     fscfnet ship best.pt --name my-model --conf 0.3 --about ...
    fscfnet prepare path/to/NUAA-SIRST                    (datasets root: $FSCFNET_DATASETS, else ./datasets)

``fscfnet SUBCOMMAND --help`` lists each one's options. In a checkout, ``python train.py`` etc. are the same.
"""

from __future__ import annotations

import importlib
import sys

from ..cfg.schema import did_you_mean

SUBCOMMANDS = {
    "train": ("fscfnet.commands.train", "train a model"),
    "val": ("fscfnet.commands.val", "validate a checkpoint or export on a dataset split"),
    "detect": ("fscfnet.commands.detect", "detect targets in images, folders, globs, lists or videos"),
    "track": ("fscfnet.commands.track", "detect and track targets over videos, image sequences and live streams"),
    "export": ("fscfnet.export", "export a checkpoint to ONNX or TorchScript"),
    "ship": ("fscfnet.commands.ship", "pack a trained checkpoint as a shipped one (half precision, model card)"),
    "bench": ("fscfnet.bench", "parameters, GFLOPs and latency"),
    "experiments": ("fscfnet.experiments", "resumable (dataset x model x seed) experiment runner"),
    "prepare": ("fscfnet.data.prepare", "convert an upstream dataset (masks, VOC, COCO) to the project's layout"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "usage: fscfnet SUBCOMMAND [options]   (fscfnet SUBCOMMAND --help)\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"error: unknown subcommand {name!r}{did_you_mean(name, list(SUBCOMMANDS))}\n{usage()}", file=sys.stderr)
        return 2
    sys.argv[0] = f"fscfnet {name}"  # what argparse shows as the program name
    return int(importlib.import_module(SUBCOMMANDS[name][0]).main(rest) or 0)
