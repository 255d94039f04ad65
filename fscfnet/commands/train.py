"""Train FSCFNet (or any model config) on an IRSTD dataset; bare `python train.py` trains FSCFNet on the demo data.

    python train.py --model cfg/models/fscfnet.yaml --data NUAA-SIRST --epochs 100 --imgsz 320 --batch 16
    python train.py --data NUAA-SIRST NUDT-SIRST IRSTD-1K --scale native   # three datasets as one
    python train.py --resume                      # continue the newest runs/train/*/weights/last.pt
    torchrun --nproc_per_node 2 train.py ...      # DistributedDataParallel (gloo on CPU, NCCL on GPUs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from fscfnet.cfg.schema import parse_overrides
from fscfnet.cfg.train import (
    AMP_MODES,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    load_train_config,
)
from fscfnet.engine.trainer import Trainer
from fscfnet.errors import UserError
from fscfnet.utils.cli import add_set_argument, run_cli

FLAGS = ("model", "data", "epochs", "imgsz", "batch", "workers", "optimizer", "lr0", "seed", "weights", "patience",
         "close_mosaic", "project", "name", "device", "schedule", "amp", "deterministic")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = TrainConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help=f"model YAML (default {d.model})")
    ap.add_argument("--data", nargs="+", help="demo, IRSTD-1K, NUDT-SIRST, NUAA-SIRST or a dataset YAML (default demo); "
                                               "several: trained as one, each its share of every epoch, validated "
                                               "each on its own, best.pt on their mean (a YAML with datasets: sets "
                                               "shares and class maps)")
    ap.add_argument("--epochs", type=int, help="default: the dataset's suggestion, else 100")
    ap.add_argument("--imgsz", type=int, help="square training size (default: the dataset's suggestion, else 640)")
    ap.add_argument("--batch", type=int, help=f"total batch size over all processes (default {d.batch})")
    ap.add_argument("--workers", type=int, help="loader processes per training process (default: min(8, CPUs per process))")
    ap.add_argument("--optimizer", choices=OPTIMIZERS,
                    help="auto (default): AdamW for runs under 10,000 optimizer steps, SGD otherwise")
    ap.add_argument("--lr0", type=float, help="initial learning rate (default 0.01 SGD, 0.002 AdamW)")
    ap.add_argument("--schedule", choices=SCHEDULES, help="learning-rate decay (default linear)")
    ap.add_argument("--seed", type=int, help=f"default {d.seed}")
    ap.add_argument("--weights", help="start from a checkpoint: tensors with matching names and shapes are loaded")
    ap.add_argument("--resume", nargs="?", const="auto", help="continue a run from its last.pt (default: the newest)")
    ap.add_argument("--cache", action="store_true", help="keep resized training images in RAM")
    ap.add_argument("--patience", type=int, help=f"stop after this many epochs without a better fitness ({d.patience})")
    ap.add_argument("--close-mosaic", type=int, help=f"turn mosaic off for the last N epochs ({d.close_mosaic})")
    ap.add_argument("--project", help=f"default {d.project}")
    ap.add_argument("--name", help=f"run name, auto-incremented (default {d.name})")
    ap.add_argument("--device", help="auto (CUDA when available), cpu, cuda, 0; several GPUs: torchrun (see above)")
    ap.add_argument("--amp", choices=AMP_MODES, help="mixed precision: auto (default: fp16 on CUDA, off on CPU), fp16, bf16, off")
    ap.add_argument("--deterministic", action=argparse.BooleanOptionalAction,
                    help="deterministic kernels (default: on for CPU; off on CUDA, where cuDNN autotunes)")
    ap.add_argument("--cfg", type=Path, help="YAML of TrainConfig values (flags override it)")
    add_set_argument(ap, "loss.nwd_ratio=1.0 augment.mosaic=0 warmup_epochs=1")
    return ap.parse_args(argv)


def build_config(args: argparse.Namespace) -> TrainConfig:
    values: dict = {}
    if args.cfg:
        if not args.cfg.is_file():
            raise UserError(f"{args.cfg}: training config not found")
        values.update(yaml.safe_load(args.cfg.read_text()) or {})
    for key, value in parse_overrides(args.set).items():
        if isinstance(value, dict):
            values.setdefault(key, {}).update(value)
        else:
            values[key] = value
    values.update({k: getattr(args, k) for k in FLAGS if getattr(args, k) is not None})
    if args.cache:
        values["cache"] = True
    return load_train_config(values, "train.py settings")


def newest_last(project: str) -> Path:
    runs = sorted(Path(project).glob("*/weights/last.pt"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise UserError(f"--resume: no {project}/*/weights/last.pt to resume; pass the checkpoint path")
    return runs[-1]


def run(args: argparse.Namespace) -> None:
    cfg = build_config(args)
    resume = None
    if args.resume:
        resume = newest_last(cfg.project) if args.resume == "auto" else Path(args.resume)
    trainer = Trainer(cfg, resume=resume)
    best = trainer.train()
    if trainer.processes.is_main and best:
        print(f"best epoch {best['epoch']}: AP50 {best['ap50'] or 0:.3f}, AP50:95 {best['ap50_95'] or 0:.3f}, "
              f"P {best['precision'] or 0:.3f}, R {best['recall'] or 0:.3f}; weights in {trainer.wdir}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args), sigterm_as_interrupt=True)


if __name__ == "__main__":
    sys.exit(main())
