"""A one-class view of a dataset split: every class becomes ``target``, so that a one-class detector (such as one
trained on the IRSTD benchmarks) can be scored, class-agnostically, on a dataset of several classes it never saw.

    python benchmarks/one_class_view.py --data Drone-IR --split test --every 10 --out datasets/Drone-IR-target
    python benchmarks/one_class_view.py --data datasets/bg-test-Drone-IR/data.yaml \
        --out datasets/bg-test-Drone-IR-target

Writes OUT/data.yaml (``names: [target]``, the split as its ``test``), OUT/images (a link to the dataset's images:
nothing is copied), OUT/labels (each listed frame's boxes with class 0; none for a target-free frame),
OUT/img_idx/test.txt (every ``--every``-th frame of the split, in its order), and the dataset's frame records when
it has them: frames.csv (video frames: ``--by`` breakdowns) and crops.json (target-free crops: false alarms by crop
size in background_eval.py). The view is built in a folder beside OUT and renamed into place when complete, so
a failed or interrupted run leaves no half view to be mistaken for one.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from fscfnet.cfg.data import DataConfig, data_yaml_text, load_data_config
from fscfnet.data.labels import read_index, read_yolo_labels, write_yolo_labels
from fscfnet.errors import UserError
from fscfnet.metrics.groups import FRAMES_CSV
from fscfnet.utils import run_cli
from fscfnet.utils.files import temp_dir_beside

CROPS_JSON = "crops.json"  # background_crops.py's record of every crop
RECORDS = (FRAMES_CSV, CROPS_JSON)  # per-frame records, keyed by image stem, that scoring reads beside data.yaml


def one_class_view(data: str, split: str, every: int, out: Path) -> int:
    """Write the view (see the module docstring); returns the number of frames it lists."""
    cfg = load_data_config(data)
    if every > 1 and (cfg.root / CROPS_JSON).is_file():
        raise UserError(f"{cfg.root / CROPS_JSON}: a crop set's records list every crop; use --every 1")
    if not (cfg.root / "images").is_dir():
        raise UserError(f"{cfg.root / 'images'}: no images folder to view")
    stems = read_index(cfg.index_file(split))[::every]
    if out.exists():
        raise UserError(f"{out}: already exists; remove it or choose another --out")
    tmp = temp_dir_beside(out)
    try:
        _write_view(cfg, stems, tmp)
        (tmp / "data.yaml").write_text(data_yaml_text(
            out.resolve(), "img_idx/test.txt", "img_idx/test.txt", ["target"],
            f"{cfg.source or data}, split {split}, every {every}: one class (benchmarks/one_class_view.py; was "
            f"{', '.join(cfg.names)})"))
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(stems)


def _write_view(cfg: DataConfig, stems: list[str], tmp: Path) -> None:
    """Everything but data.yaml: the images link, the one-class labels, the index and the records."""
    (tmp / "labels").mkdir()
    (tmp / "img_idx").mkdir()
    (tmp / "images").symlink_to((cfg.root / "images").resolve(), target_is_directory=True)
    for s in stems:
        label = cfg.root / "labels" / f"{s}.txt"
        if label.is_file():
            boxes = read_yolo_labels(label, cfg.nc)
            boxes[:, 0] = 0
            write_yolo_labels(tmp / "labels" / f"{s}.txt", boxes)
    (tmp / "img_idx" / "test.txt").write_text("".join(f"{s}\n" for s in stems))
    for name in RECORDS:
        if (cfg.root / name).is_file():
            shutil.copyfile(cfg.root / name, tmp / name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset name or YAML")
    ap.add_argument("--split", default="test")
    ap.add_argument("--every", type=int, default=1, help="keep every K-th frame of the split (default: all)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.every < 1:
        ap.error(f"--every {args.every}: give a positive stride")

    def go() -> None:
        n = one_class_view(args.data, args.split, args.every, args.out)
        print(f"wrote {args.out / 'data.yaml'}: {n} frames of {args.data} {args.split}, one class")

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
