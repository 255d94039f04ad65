"""Ultralytics' YOLOv10-n as the anchor to beat: trained by Ultralytics itself (in its own virtual environment,
never a dependency of this project) on a prepared dataset plus background images, and its detections written in
this project's COCO results form, so ``python -m fscfnet.metrics`` scores them under the same protocol.

    # the project's venv: Ultralytics' dataset files (image lists; labels beside images/ in labels/)
    python benchmarks/ultralytics_anchor.py data --data IRSTD-1K --background DIR/images --background-count 267 \\
        --out runs/ultralytics/irstd1k
    # Ultralytics' venv (ULPY): train, resuming an interrupted run; then detections for any image list
    ULPY benchmarks/ultralytics_anchor.py train runs/ultralytics/irstd1k --epochs 50 --imgsz 320 --batch 16
    ULPY benchmarks/ultralytics_anchor.py predict runs/ultralytics/irstd1k/ul/weights/last.pt \\
        --images runs/ultralytics/irstd1k/test.txt --imgsz 320 --out predictions.json

Training runs with Ultralytics' defaults except the budget (epochs, size, batch, seed 0, CPU, no AMP) and
``val=False``: the anchor is scored afterwards on the same sets as this project's models, at its last epoch
(``last.pt``; Ultralytics still validates once at the end).
Background images are a fixed random subset (``--background-count``, drawn from ``--seed``), listed once, as
Ultralytics has no per-epoch ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def write_data(data: str, background: Path | None, count: int, seed: int, out: Path) -> Path:
    """Ultralytics' dataset YAML over a prepared dataset: train.txt (target images and ``count`` background
    images), test.txt; returns the YAML."""
    from fscfnet.data import open_dataset, read_index

    cfg = open_dataset(data)
    images = {p.stem: p.resolve() for p in (cfg.root / "images").iterdir()}
    out.mkdir(parents=True, exist_ok=True)
    train = [images[s] for s in read_index(cfg.index_file("train"))]
    if background is not None:
        pool = sorted(p.resolve() for p in background.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        train += random.Random(seed).sample(pool, min(count, len(pool)))
    (out / "train.txt").write_text("".join(f"{p}\n" for p in train))
    (out / "test.txt").write_text("".join(f"{images[s]}\n" for s in read_index(cfg.index_file("test"))))
    names = ", ".join(f"{i}: {n}" for i, n in enumerate(cfg.names))
    yaml_path = out / "data.yaml"
    yaml_path.write_text(f"train: {out.resolve() / 'train.txt'}\nval: {out.resolve() / 'test.txt'}\n"
                         f"names: {{{names}}}\n")
    return yaml_path


def train(folder: Path, epochs: int, imgsz: int, batch: int, workers: int, close_mosaic: int = 10) -> None:
    """Train, or resume an interrupted run; a finished one (``ul/done``) is left alone."""
    import torch
    from ultralytics import YOLO

    done, last = folder / "ul" / "done", folder / "ul" / "weights" / "last.pt"
    if done.is_file():
        print(f"{folder}: finished")
        return
    if last.is_file():
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        # A finished run's last.pt is stripped (epoch -1, no optimizer); resume=True would then start a new
        # training on Ultralytics' default dataset instead of saying so.
        if ckpt.get("epoch", -1) >= 0 and ckpt.get("optimizer") is not None:
            try:
                YOLO(str(last)).train(resume=True)
            except AssertionError as e:  # saved after the last epoch, not yet stripped: nothing left to train
                print(f"not resumed: {e}")
        done.write_text("finished\n")
        return
    YOLO("yolov10n.yaml").train(data=str(folder / "data.yaml"), epochs=epochs, imgsz=imgsz, batch=batch,
                                workers=workers, device="cpu", project=str(folder.resolve()), name="ul",
                                exist_ok=True, seed=0, amp=False, val=False, plots=False, close_mosaic=close_mosaic)
    done.write_text("finished\n")


def predict(weights: str, images: Path, imgsz: int, out: Path) -> None:
    """Every detection scoring at least 0.001 (up to 300 per image, as val.py keeps) in COCO results form, and
    Ultralytics' mean time per image (preprocess + inference + postprocess) in ``speed.json`` beside it."""
    from ultralytics import YOLO

    model = YOLO(weights)
    paths = [line.strip() for line in images.read_text().splitlines() if line.strip()]
    rows, ms = [], []
    # The list file as the source: Ultralytics then reads one image per step with OpenCV, as in training (a Python
    # list of paths would go through the network as one batch of every image).
    for r in model.predict(str(images), imgsz=imgsz, conf=0.001, max_det=300, device="cpu", stream=True,
                           verbose=False):
        ms.append(sum(r.speed.values()))  # preprocess + inference + postprocess, ms
        for (x1, y1, x2, y2), score, cls in zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist(), r.boxes.cls.tolist()):
            rows.append({"image_id": Path(r.path).stem, "category_id": int(cls), "bbox": [x1, y1, x2 - x1, y2 - y1],
                         "score": score})
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows))
    tmp.replace(out)
    # Ultralytics' own per-image timings, beside the detections (read by video_eval.py)
    out.with_name("speed.json").write_text(json.dumps({"ms_per_image": sum(ms) / max(len(ms), 1),
                                                       "images": len(ms)}))
    print(f"{len(rows)} detections on {len(paths)} images in {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("--data", required=True)
    d.add_argument("--background", type=Path, default=None)
    d.add_argument("--background-count", type=int, default=0)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("folder", type=Path)
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--imgsz", type=int, default=320)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--close-mosaic", type=int, default=10, help="mosaic off for the last N epochs (default 10, as both)")
    p = sub.add_parser("predict")
    p.add_argument("weights")
    p.add_argument("--images", type=Path, required=True, help="a text file of image paths")
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.cmd == "data":
        print(write_data(args.data, args.background, args.background_count, args.seed, args.out))
    elif args.cmd == "train":
        train(args.folder, args.epochs, args.imgsz, args.batch, args.workers, args.close_mosaic)
    else:
        predict(args.weights, args.images, args.imgsz, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
