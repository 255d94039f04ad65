"""Export a checkpoint for deployment: the fused, NMS-free one-to-one graph with the top-k selection inside,
output ``(B, max_det, 6)`` = x1, y1, x2, y2, score, class in input pixels; input ``(B, ch, S, S)`` float in [0, 1].

    python -m fscfnet.export --weights runs/train/exp/weights/best.pt --format onnx [--imgsz 640] [--dynamic]
    python -m fscfnet.export --weights best.pt --format torchscript

ONNX needs ``pip install onnx onnxscript`` (and ``onnxruntime`` to run it); the batch size is always dynamic,
``--dynamic`` also frees height and width (multiples of the stride). The model's class names, channels, stride
and size are stored in the file, so ``val.py`` and ``detect.py`` take it like a checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import warnings
from pathlib import Path

import torch

from .engine.backends import META_KEY, load_inference_model
from .errors import UserError
from .utils.cli import run_cli
from .utils.files import atomic_write

EXPORT_FORMATS = ("onnx", "torchscript")
MAX_SIDE = 4096  # largest height/width a --dynamic ONNX graph accepts


def write_onnx(model: torch.nn.Module, x: torch.Tensor, path: Path, meta: dict, dynamic: bool, stride: int) -> None:
    """``model`` traced on ``x`` as an ONNX graph at ``path`` with ``meta`` (:mod:`.engine.backends` reads it);
    ``dynamic``: any height and width that are stride multiples up to MAX_SIDE (the batch is always free)."""
    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxscript") is None:
        raise UserError("ONNX export needs the onnx and onnxscript packages: pip install onnx onnxscript")
    import onnx

    dims: dict[int, object] = {0: torch.export.Dim("batch", min=1, max=1024)}
    if dynamic:
        dims[2] = stride * torch.export.Dim("height", min=1, max=MAX_SIDE // stride)
        dims[3] = stride * torch.export.Dim("width", min=1, max=MAX_SIDE // stride)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # its progress lines
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (x,), dynamo=True, input_names=["images"], output_names=["detections"],
                                        dynamic_shapes=(dims,), verbose=False)
        proto = program.model_proto
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(meta)
        onnx.save(proto, str(tmp))

    atomic_write(path, write)


def write_torchscript(model: torch.nn.Module, x: torch.Tensor, path: Path, meta: dict) -> None:
    """``model`` traced on ``x`` as TorchScript at ``path``, ``meta`` stored beside the code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, x, strict=False)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # PyTorch deprecates TorchScript; it still runs
            torch.jit.save(traced, str(tmp), _extra_files={META_KEY: json.dumps(meta)})

    atomic_write(path, write)


def export(weights: Path | str, format: str = "onnx", imgsz: int | None = None, dynamic: bool = False,
           output: Path | str | None = None) -> Path:
    """Export checkpoint ``weights``; returns the written file (default: beside it, ``.onnx`` / ``.torchscript``)."""
    if format not in EXPORT_FORMATS:
        raise UserError(f"--format {format!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    loaded = load_inference_model(weights, torch.device("cpu"))
    if loaded.format != "pytorch":
        raise UserError(f"{weights}: is already a {loaded.format} export; export from the .pt checkpoint")
    size = loaded.check_imgsz(imgsz)
    model = loaded.module.to(memory_format=torch.contiguous_format).float().eval()
    # example batch 2, not 1: torch.export (torch 2.6) specialises a size-1 example dimension to a constant, which
    # would make the "dynamic" batch of the ONNX graph a fixed 1
    x = torch.zeros(2, loaded.ch, size, size)
    meta = {**loaded.metadata(), "imgsz": size, "dynamic": bool(dynamic) if format == "onnx" else False,
            "max_det": int(model.head.max_det)}
    path = Path(output) if output else Path(weights).with_suffix(f".{format}")
    if format == "onnx":
        write_onnx(model, x, path, meta, dynamic, loaded.stride)
    else:
        write_torchscript(model, x, path, meta)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m fscfnet.export", description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="checkpoint (.pt) written by train.py")
    ap.add_argument("--format", default="onnx", help="onnx (default) or torchscript")
    ap.add_argument("--imgsz", type=int, default=None, help="square input size (default: the training size)")
    ap.add_argument("--dynamic", action="store_true", help="ONNX: also accept other heights and widths")
    ap.add_argument("--output", type=Path, default=None, help="output file (default: beside the weights)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def go() -> None:
        path = export(args.weights, args.format, args.imgsz, args.dynamic, args.output)
        print(f"exported {args.weights} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
