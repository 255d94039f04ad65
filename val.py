"""Validate a checkpoint on a dataset split: metrics table, metrics.json, optional COCO predictions.json, curves.

    python val.py --weights runs/train/exp/weights/best.pt [--data NUAA-SIRST] [--split test] [--imgsz 640]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from fscfnet.data.config import load_data_config
from fscfnet.data.dataset import IRSTDDataset
from fscfnet.engine.validator import coco_predictions, validate
from fscfnet.errors import UserError
from fscfnet.metrics import format_table
from fscfnet.utils.cli import run_cli
from fscfnet.utils.checkpoint import load_checkpoint, model_from_checkpoint
from fscfnet.utils.device import select_device
from fscfnet.utils.files import increment_path, write_json
from fscfnet.utils.plots import plot_f1_curve, plot_pr_curve


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True, help="checkpoint (.pt) written by train.py")
    ap.add_argument("--data", default=None, help="dataset name or YAML (default: the one the model was trained on)")
    ap.add_argument("--split", default="test", help="index file to evaluate: train or test (default test)")
    ap.add_argument("--imgsz", type=int, default=None, help="square inference size (default: the training size)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--conf", type=float, default=0.001, help="keep detections at or above this score")
    ap.add_argument("--device", default="auto", help="auto, cpu, or a CUDA index such as 0")
    ap.add_argument("--save-json", action="store_true", help="also write predictions.json (COCO results format)")
    ap.add_argument("--project", default="runs/val")
    ap.add_argument("--name", default="exp")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    ckpt = load_checkpoint(Path(args.weights))
    model = model_from_checkpoint(ckpt)
    train_args = ckpt.get("train_args", {})
    data = args.data or train_args.get("data")
    if not data:
        raise UserError(f"{args.weights}: the checkpoint names no dataset; pass --data NAME or a dataset YAML")
    cfg = load_data_config(data)
    if cfg.nc != model.nc:
        raise UserError(f"{args.weights}: the model predicts {model.nc} classes but {cfg.source} has {cfg.nc} "
                        f"({', '.join(cfg.names)}); validate on data with the model's classes")
    imgsz = args.imgsz or int(train_args.get("imgsz") or 640)
    stride = int(model.stride.max())
    if imgsz <= 0 or imgsz % stride:
        raise UserError(f"--imgsz {imgsz} must be a positive multiple of {stride}")
    if not 0 <= args.conf < 1:
        raise UserError(f"--conf {args.conf} must lie in [0, 1)")
    device = select_device(args.device)
    cpu = device.type == "cpu"
    model = model.fuse().to(device, memory_format=torch.channels_last if cpu else torch.contiguous_format)
    dataset = IRSTDDataset(cfg, args.split, imgsz, channels=model.ch, log=lambda s: print(s, file=sys.stderr))
    print(dataset.summary)
    v = validate(model, dataset, args.batch, args.workers, args.conf, device, channels_last=cpu)
    save_dir = increment_path(Path(args.project) / args.name)
    metrics = v.metrics_dict()
    write_json(save_dir / "metrics.json", metrics)
    if args.save_json:
        write_json(save_dir / "predictions.json", coco_predictions(v))
    c = v.metrics.curves
    plot_pr_curve(c.recall, c.precision, metrics["ap50"], save_dir / "PR_curve.png")
    plot_f1_curve(c.confidence, c.f1, metrics["conf_threshold"], save_dir / "F1_curve.png")
    print(format_table(v.metrics, v.ms["total"]))
    print(f"speed per image: {v.ms['preprocess']:.1f} ms preprocess, {v.ms['inference']:.1f} ms inference, "
          f"{v.ms['postprocess']:.1f} ms postprocess at {imgsz} on {device}")
    print(f"results in {save_dir}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
