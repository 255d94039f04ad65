"""Data loader throughput (mosaic training pipeline) and its share of an FSCFNet training step on CPU.

    python benchmarks/loader_speed.py --prepare-from ../shared/datasets/NUDT-SIRST --imgsz 640 --batch 16 --workers 2

Measures: images/s of the training loader with ``--workers`` processes (mosaic on); the time one process needs
to load one batch (the loader's CPU cost); and one FSCFNet training step at the same batch size (forward,
the YOLOv10 dual loss with NWD, backward, SGD step). Writes ``benchmarks/results/loader_<imgsz>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from fscfnet import build_model
from fscfnet.cfg import AugmentConfig, load_data_config
from fscfnet.data import IRSTDDataset, build_dataloader, open_dataset, prepare
from fscfnet.detection import V10DetectionLoss
from fscfnet.utils import write_json


def loader_rate(ds: IRSTDDataset, batch: int, workers: int, batches: int) -> tuple[float, float]:
    """(images/s including worker start-up, images/s after the first batch)."""
    t0 = time.perf_counter()
    n = first = 0
    t1 = t0
    for i, (images, _, _) in enumerate(build_dataloader(ds, batch, workers, shuffle=True)):
        if i == 0:
            t1, first = time.perf_counter(), len(images)
        n += len(images)
        if i + 1 == batches:
            break
    t2 = time.perf_counter()
    return n / (t2 - t0), (n - first) / (t2 - t1)


def train_step_seconds(ds: IRSTDDataset, batch: int, steps: int) -> float:
    """Median seconds of forward, the project's YOLOv10 loss, backward and an SGD step on one loaded batch."""
    model = build_model(ROOT / "cfg" / "models" / "fscfnet.yaml", nc=1).train()
    loss_fn = V10DetectionLoss(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images, targets, _ = next(iter(build_dataloader(ds, batch, 0, shuffle=True)))
    x = images.float() / 255
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        loss, _ = loss_fn(model(x), targets, (ds.imgsz, ds.imgsz))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset name or YAML (already prepared)")
    src.add_argument("--prepare-from", type=Path, help="upstream dataset to prepare into a temporary folder first")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        if args.prepare_from:
            dst = Path(tmp) / args.prepare_from.name
            prepare(args.prepare_from, dst)
            yaml_path = Path(tmp) / "data.yaml"
            name = dst.name
            yaml_path.write_text(f"path: {dst}\ntrain: img_idx/train_{name}.txt\ntest: img_idx/test_{name}.txt\n")
            cfg = load_data_config(yaml_path)
        else:
            cfg = open_dataset(args.data)
        ds = IRSTDDataset(cfg, "train", args.imgsz, AugmentConfig(), log=lambda s: None)
        print(ds.summary)
        with_start, steady = loader_rate(ds, args.batch, args.workers, args.batches)
        print(f"loader, {args.workers} workers, mosaic: {with_start:.1f} images/s ({steady:.1f} after the first batch)")
        single, _ = loader_rate(ds, args.batch, 0, max(3, args.batches // 3))
        load_batch = args.batch / single
        print(f"one process loads a batch of {args.batch} in {load_batch:.3f} s")
        step = train_step_seconds(ds, args.batch, args.steps)
    share = load_batch / step
    print(f"FSCFNet training step, batch {args.batch}, {args.imgsz}, CPU 2 threads: {step:.2f} s; "
          f"loading a batch costs {100 * share:.1f}% of it")
    result = {"dataset": cfg.name, "imgsz": args.imgsz, "batch": args.batch, "workers": args.workers,
              "loader_images_per_s": with_start, "loader_images_per_s_steady": steady,
              "single_process_batch_s": load_batch, "train_step_s": step, "load_share_of_step": share,
              "torch": torch.__version__}
    out = write_json(args.out or ROOT / "benchmarks" / "results" / f"loader_{args.imgsz}.json", result)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
