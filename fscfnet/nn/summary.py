"""Layer table and totals (parameters, GFLOPs) of a model.

GFLOPs are counted with ``torch.utils.flop_counter`` (2 FLOPs per multiply-add, matmuls included, so the
attention in PSA and ACA counts) on one image of the given size; the training graph runs both heads.

    python -m fscfnet.nn.summary cfg/models/fscfnet.yaml --nc 1 --imgsz 640
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..utils.cli import check_imgsz, run_cli
from .builder import build_model
from .model import DetectionModel


@dataclass(frozen=True)
class Totals:
    params: int
    gflops: float


@dataclass(frozen=True)
class Summary:
    rows: list[tuple[int, str, int, int, str, str]]  # index, from, repeats, params, module, args
    train: Totals  # training graph (both heads), as built
    fused: Totals  # inference graph after fuse() (one-to-one head, BatchNorm folded)
    imgsz: int


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_gflops(model: torch.nn.Module, imgsz: int, ch: int, train: bool) -> float:
    """GFLOPs of one forward pass on a ``(1, ch, imgsz, imgsz)`` input (on a copy; the model is untouched)."""
    m = copy.deepcopy(model).train(train)
    p = next(m.parameters())
    x = torch.zeros(1, ch, imgsz, imgsz, device=p.device, dtype=p.dtype)
    with FlopCounterMode(display=False) as counter:
        m(x)
    return counter.get_total_flops() / 1e9


def summarize(model: DetectionModel, imgsz: int = 640) -> Summary:
    rows = []
    for spec, layer in zip(model.specs, model.layers):
        rel = [-1 if a == spec.index - 1 else a for a in spec.sources]  # YAML form: -1 = previous layer
        src = rel[0] if spec.single_input else rel
        rows.append((spec.index, str(src), spec.repeats, count_params(layer), spec.module, str(list(spec.args))))
    train = Totals(count_params(model), count_gflops(model, imgsz, model.ch, train=True))
    fused_model = copy.deepcopy(model).fuse()
    fused = Totals(count_params(fused_model), count_gflops(fused_model, imgsz, model.ch, train=False))
    return Summary(rows, train, fused, imgsz)


def format_summary(s: Summary) -> str:
    head = f"{'':>3} {'from':>12} {'n':>3} {'params':>10}  {'module':<12} args"
    lines = [head] + [f"{i:>3} {f:>12} {n:>3} {p:>10,}  {m:<12} {a}" for i, f, n, p, m, a in s.rows]
    lines.append(f"training graph:  {s.train.params:,} parameters, {s.train.gflops:.2f} GFLOPs at {s.imgsz}")
    lines.append(f"fused inference: {s.fused.params:,} parameters, {s.fused.gflops:.2f} GFLOPs at {s.imgsz}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fscfnet.nn.summary", description=__doc__.split("\n")[0])
    ap.add_argument("cfg", help="model YAML, e.g. cfg/models/fscfnet.yaml")
    ap.add_argument("--nc", type=int, default=None, help="number of classes (default: the config's nc)")
    ap.add_argument("--ch", type=int, default=None, help="input channels (default: the config's ch, else 3)")
    ap.add_argument("--imgsz", type=int, default=640, help="square input size for GFLOPs (default 640)")
    args = ap.parse_args(argv)

    def run() -> None:
        model = build_model(args.cfg, nc=args.nc, ch=args.ch)
        check_imgsz(args.imgsz, int(model.stride.max()))
        print(format_summary(summarize(model, args.imgsz)))

    return run_cli(run)


if __name__ == "__main__":
    raise SystemExit(main())
