"""Convert an upstream IRSTD dataset to the project's layout (datasets/README.md).

    python -m fscfnet.data.prepare SRC [--dst datasets/NAME] [--format masks|voc|coco] [--overwrite]
                                   [--stats-out stats.json]

Recognised sources (``--format masks``, the default):
  BasicIRSTD  SRC/images, SRC/masks, SRC/img_idx/train_*.txt + test_*.txt
  IRSTD-1K    SRC/IRSTD1k_Img, SRC/IRSTD1k_Label, SRC/trainval.txt + test.txt
  DNANet      SRC/images, SRC/masks, SRC/50_50/train.txt + test.txt
When a source holds several kinds of split files (IRSTD-1K ships its own trainval.txt/test.txt and
BasicIRSTD's img_idx/), BasicIRSTD's img_idx/ wins, and differing alternatives are reported as a warning.
``--format voc``: SRC/images (or JPEGImages), SRC/Annotations/*.xml, splits as above or ImageSets/Main.
``--format coco``: SRC/images, SRC/annotations/*.json (or SRC/*.json); a JSON whose name holds "train" or
"test" defines that split, otherwise the split files above are used.

Masks become boxes by 8-connected components of ``mask > 127`` (tight, pixel-inclusive). The source is
only read; the result is built in a temporary folder and renamed into place. The printed statistics can also be
written to a JSON file (``--stats-out``), with the command that produced them.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError, UserError
from ..utils.cli import run_cli
from ..utils.files import temp_dir_beside, write_json
from .images import image_files
from .labels import mask_to_boxes, read_coco, read_index, read_voc, write_yolo_labels, xywh_pixels_to_yolo

LABEL_FORMATS = ("masks", "voc", "coco")


@dataclass
class UpstreamSource:
    """What was found in SRC: image files, per-image pixel boxes (filled by a converter), split stems."""

    layout: str
    images: dict[str, Path]
    splits: dict[str, list[str]]
    split_files: dict[str, Path] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    names: list[str] = field(default_factory=lambda: ["target"])
    warnings: list[str] = field(default_factory=list)


def _first_dir(src: Path, *names: str) -> Path | None:
    return next((src / n for n in names if (src / n).is_dir()), None)


def _all_split_files(src: Path) -> list[tuple[str, dict[str, Path]]]:
    """Every pair of train/test index files in a source with the convention it follows, in order of preference."""
    found = []
    idx = src / "img_idx"
    if idx.is_dir():
        train, test = sorted(idx.glob("train*.txt")), sorted(idx.glob("test*.txt"))
        if len(train) == 1 and len(test) == 1:
            found.append(("BasicIRSTD", {"train": train[0], "test": test[0]}))
    for folder, convention in ((src, "IRSTD-1K"), (src / "50_50", "DNANet"), (src / "ImageSets" / "Main", "VOC")):
        for train_name in ("trainval.txt", "train.txt"):
            if (folder / train_name).is_file() and (folder / "test.txt").is_file():
                found.append((convention, {"train": folder / train_name, "test": folder / "test.txt"}))
                break
    return found


def _split_files(src: Path) -> tuple[str, dict[str, Path], list[str]]:
    """The train/test index files of a source (the first of :func:`_all_split_files`), the convention they
    follow, and a warning for each other pair that lists different images."""
    found = _all_split_files(src)
    if found:
        (convention, files), warnings = found[0], []
        chosen = {k: set(read_index(p)) for k, p in files.items()}
        used = " + ".join(str(p.relative_to(src)) for p in files.values())
        for other, other_files in found[1:]:
            names = " + ".join(str(p.relative_to(src)) for p in other_files.values())
            try:
                sets = {k: set(read_index(p)) for k, p in other_files.items()}
            except DatasetError as e:
                warnings.append(f"{names} ({other}) not compared with {used}: {e}")
                continue
            if sets != chosen:
                warnings.append(f"{src}: {names} ({other}) split the images otherwise "
                                f"({len(sets['train'])} / {len(sets['test'])}); using {used} ({convention}, "
                                f"{len(chosen['train'])} / {len(chosen['test'])})")
        return convention, files, warnings
    raise DatasetError(f"{src}: no split files found (expected img_idx/train_*.txt + test_*.txt, trainval.txt + "
                       f"test.txt, 50_50/train.txt + test.txt, or ImageSets/Main/train.txt + test.txt)")


def _unpaired(kind_a: str, a: set[str], kind_b: str, b: set[str]) -> list[str]:
    problems = []
    for missing, have, lacking in ((sorted(a - b), kind_a, kind_b), (sorted(b - a), kind_b, kind_a)):
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            problems.append(f"{len(missing)} {have} without {lacking}: {shown}")
    return problems


def find_source(src: Path, fmt: str) -> UpstreamSource:
    if not src.is_dir():
        raise UserError(f"{src}: source folder not found")
    if fmt == "masks":
        img_dir = _first_dir(src, "IRSTD1k_Img", "images")
        mask_dir = _first_dir(src, "IRSTD1k_Label", "masks")
        if img_dir is None or mask_dir is None:
            raise DatasetError(f"{src}: expected images/ + masks/ (BasicIRSTD, DNANet) or IRSTD1k_Img/ + IRSTD1k_Label/")
        layout = "IRSTD-1K" if img_dir.name == "IRSTD1k_Img" else None
    elif fmt == "voc":
        img_dir, mask_dir = _first_dir(src, "images", "JPEGImages"), None
        if img_dir is None or _first_dir(src, "Annotations", "annotations") is None:
            raise DatasetError(f"{src}: expected images/ (or JPEGImages/) and Annotations/ with VOC XML files")
        layout = "VOC"
    else:
        img_dir, mask_dir, layout = _first_dir(src, "images"), None, "COCO"
        if img_dir is None:
            raise DatasetError(f"{src}: expected images/ and COCO JSON files (annotations/*.json or *.json)")
    images = image_files(img_dir)
    source = UpstreamSource(layout or "", images, {})
    if mask_dir is not None:
        masks = {}
        for stem, p in image_files(mask_dir).items():
            masks[stem[: -len("_pixels0")] if stem.endswith("_pixels0") else stem] = p  # SIRST's mask names
        problems = _unpaired("images", set(images), "masks", set(masks))
        if problems:
            raise DatasetError(f"{src}: refusing to convert: " + "; ".join(problems))
        source.masks = masks
    if fmt != "coco" or not _coco_splits(src):
        convention, files, source.warnings = _split_files(src)
        source.layout = source.layout or convention
        source.split_files = files
        source.splits = {k: read_index(p) for k, p in files.items()}
    for split, stems in source.splits.items():
        missing = sorted(set(stems) - set(images))
        if missing:
            raise DatasetError(f"{source.split_files.get(split, src)}: {len(missing)} listed images have no image "
                               f"file: {', '.join(missing[:10])}")
    return source


def _coco_files(src: Path) -> list[Path]:
    folder = src / "annotations" if (src / "annotations").is_dir() else src
    return sorted(folder.glob("*.json"))


def _coco_splits(src: Path) -> dict[str, Path]:
    files = _coco_files(src)
    splits = {s: next((f for f in files if s in f.stem.lower()), None) for s in ("train", "test")}
    return splits if all(splits.values()) else {}


@dataclass
class Converted:
    labels: dict[str, np.ndarray]  # stem -> (n, 5) class, cx, cy, w, h
    pixel_wh: list[tuple[float, float]]  # every target's width and height in pixels
    names: list[str]
    warnings: list[str]
    channels: dict[int, int] = field(default_factory=dict)  # image channel count -> images (masks format)
    grey_masks: int = 0  # masks holding values other than 0 and 255
    faint_components: int = 0  # 8-connected components of mask > 0 with no pixel > 127: not targets


def _faint_components(mask: np.ndarray, threshold: int = 127) -> int:
    """Components of ``mask > 0`` that the ``> threshold`` rule drops entirely (grey specks)."""
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    n, lab = cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)
    on = mask > 0
    peak = np.zeros(n, np.int64)
    np.maximum.at(peak, lab[on], mask[on].astype(np.int64))
    return int((peak[1:] <= threshold).sum())


def convert(src: Path, source: UpstreamSource, fmt: str) -> Converted:
    labels, pixel_wh, warnings = {}, [], list(source.warnings)
    names = ["target"]
    grey = faint = 0
    channels: dict[int, int] = {}
    if fmt == "masks":
        for stem, img_path in sorted(source.images.items()):
            image = cv2.imread(str(img_path), cv2.IMREAD_UNCHANGED)
            mask = cv2.imread(str(source.masks[stem]), cv2.IMREAD_UNCHANGED)
            if image is None or mask is None:
                raise DatasetError(f"{img_path if image is None else source.masks[stem]}: cannot be read as an image")
            boxes = mask_to_boxes(mask).astype(np.float64)
            c = 1 if image.ndim == 2 else image.shape[2]
            channels[c] = channels.get(c, 0) + 1
            if ((mask > 0) & (mask < 255)).any():
                grey += 1
                faint += _faint_components(mask)
            if image.shape[:2] != mask.shape[:2]:
                # A mask drawn at another resolution of the same frame (NUAA-SIRST's Misc_111 is 1.82x): scale its
                # boxes to image pixels when the aspect ratios agree; anything else is an error.
                sx, sy = image.shape[1] / mask.shape[1], image.shape[0] / mask.shape[0]
                sizes = f"mask is {mask.shape[1]}x{mask.shape[0]} but its image is {image.shape[1]}x{image.shape[0]}"
                if abs(sx / sy - 1) > 0.01:
                    raise DatasetError(f"{source.masks[stem]}: {sizes}, with another aspect ratio")
                boxes *= np.array([sx, sy, sx, sy])
                warnings.append(f"{source.masks[stem]}: {sizes}; boxes scaled by {sx:.4f} x {sy:.4f}")
            labels[stem] = xywh_pixels_to_yolo(boxes, image.shape[1], image.shape[0])
            pixel_wh += [(w, h) for _, _, w, h in boxes]
    elif fmt == "voc":
        xml_dir = _first_dir(src, "Annotations", "annotations")
        parsed = {}
        for stem, img_path in sorted(source.images.items()):
            xml = xml_dir / f"{stem}.xml"
            if not xml.is_file():
                raise DatasetError(f"{xml}: missing annotation for image {img_path.name}")
            parsed[stem] = read_voc(xml)
        names = sorted({n for obj_names, _, _ in parsed.values() for n in obj_names}) or names
        for stem, (obj_names, boxes, wh) in parsed.items():
            if wh is None:
                image = cv2.imread(str(source.images[stem]), cv2.IMREAD_UNCHANGED)
                wh = (image.shape[1], image.shape[0])
            labels[stem] = xywh_pixels_to_yolo(boxes, *wh, classes=[names.index(n) for n in obj_names])
            pixel_wh += [(w, h) for _, _, w, h in boxes]
    else:
        split_json = _coco_splits(src)
        files = list(split_json.values()) or _coco_files(src)
        if not files:
            raise DatasetError(f"{src}: no COCO JSON files found")
        for split, f in split_json.items():
            sizes, _, _ = read_coco(f)
            source.splits[split] = sorted(sizes)
            source.split_files[split] = f
        for f in files:
            sizes, boxes, names = read_coco(f)
            for stem, anns in boxes.items():
                if stem not in source.images:
                    raise DatasetError(f"{f}: image {stem!r} has no file in {src / 'images'}")
                xywh = np.array([b for _, b in anns], dtype=np.float64).reshape(-1, 4)
                labels[stem] = xywh_pixels_to_yolo(xywh, *sizes[stem], classes=[c for c, _ in anns])
                pixel_wh += [(w, h) for _, _, w, h in xywh]
        unlabelled = sorted(set(source.images) - set(labels))
        for stem in unlabelled:
            labels[stem] = np.zeros((0, 5))
    return Converted(labels, pixel_wh, names, warnings, dict(sorted(channels.items())), grey, faint)


def prepare(src: Path, dst: Path, fmt: str = "masks", overwrite: bool = False) -> dict:
    """Convert ``src`` into ``dst``; returns the summary that :func:`format_summary` prints."""
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if fmt not in LABEL_FORMATS:
        raise UserError(f"unknown --format {fmt!r} (choose from {', '.join(LABEL_FORMATS)})")
    if dst == src or src in dst.parents:
        raise UserError(f"{dst}: the destination must lie outside the source (the source is never modified)")
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise UserError(f"{dst}: already exists and is not empty; pass --overwrite to replace it")
    source = find_source(src, fmt)
    converted = convert(src, source, fmt)
    name = dst.name
    tmp = temp_dir_beside(dst)
    try:
        for sub in ("images", "labels", "img_idx") + (("masks",) if source.masks else ()):
            (tmp / sub).mkdir()
        for stem, p in source.images.items():
            shutil.copy2(p, tmp / "images" / p.name)
            write_yolo_labels(tmp / "labels" / f"{stem}.txt", converted.labels[stem])
        for stem, p in source.masks.items():
            shutil.copy2(p, tmp / "masks" / f"{stem}{p.suffix}")
        for split, stems in source.splits.items():
            out = tmp / "img_idx" / f"{split}_{name}.txt"
            if source.split_files.get(split, Path()).suffix == ".txt":
                shutil.copyfile(source.split_files[split], out)  # carried over byte for byte
            else:
                out.write_text("".join(s + "\n" for s in stems))
        if dst.exists():
            shutil.rmtree(dst)
        tmp.rename(dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    wh = np.array(converted.pixel_wh, dtype=np.float64).reshape(-1, 2)
    summary = {
        "layout": source.layout, "src": str(src), "dst": str(dst), "images": len(source.images),
        "targets": int(sum(len(v) for v in converted.labels.values())),
        "empty_images": int(sum(len(v) == 0 for v in converted.labels.values())),
        "splits": {k: len(v) for k, v in source.splits.items()},
        "split_targets": {k: int(sum(len(converted.labels[s]) for s in v)) for k, v in source.splits.items()},
        "split_files": {k: str(p.relative_to(src)) if p.is_relative_to(src) else str(p)
                        for k, p in source.split_files.items()},
        "names": converted.names,
        "width_px_p5_p50_p95": np.percentile(wh[:, 0], [5, 50, 95]).tolist() if len(wh) else [],
        "height_px_p5_p50_p95": np.percentile(wh[:, 1], [5, 50, 95]).tolist() if len(wh) else [],
        "warnings": converted.warnings,
    }
    if fmt == "masks":
        summary.update(images_by_channels={str(k): v for k, v in converted.channels.items()}, mask_threshold=127,
                       grey_masks=converted.grey_masks,
                       faint_components_dropped=converted.faint_components)
    return summary


def format_summary(s: dict) -> str:
    pct = lambda v: " / ".join(f"{x:.1f}" for x in v) if v else "-"  # noqa: E731
    splits = ", ".join(f"{k} {v}" for k, v in s["splits"].items())
    split_targets = ", ".join(f"{k} {v}" for k, v in s["split_targets"].items())
    files = ", ".join(s["split_files"].values())
    masks = (f"\n  images by channels: {', '.join(f'{k}: {v}' for k, v in s['images_by_channels'].items())}; "
             f"masks > {s['mask_threshold']}: {s['grey_masks']} masks hold grey values, "
             f"{s['faint_components_dropped']} grey-only components dropped" if "grey_masks" in s else "")
    return (f"{s['layout']} -> {s['dst']}\n"
            f"  images {s['images']} ({splits}), targets {s['targets']} ({split_targets}), "
            f"empty images {s['empty_images']}, classes {s['names']}\n"
            f"  split files: {files or '-'}\n"
            f"  target width px  p5 / p50 / p95: {pct(s['width_px_p5_p50_p95'])}\n"
            f"  target height px p5 / p50 / p95: {pct(s['height_px_p5_p50_p95'])}"
            + masks + "".join(f"\n  warning: {w}" for w in s["warnings"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fscfnet.data.prepare", description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="upstream dataset folder")
    ap.add_argument("--dst", type=Path, default=None, help="output folder (default: datasets/<SRC name>)")
    ap.add_argument("--format", choices=LABEL_FORMATS, default="masks", help="annotation format (default: masks)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing, non-empty --dst")
    ap.add_argument("--stats-out", type=Path, default=None,
                    help="also write the printed statistics, and this command, to this JSON file")
    args = ap.parse_args(argv)
    from ..cfg import datasets_root

    dst = args.dst or datasets_root() / args.src.resolve().name
    command = "python -m fscfnet.data.prepare " + shlex.join(sys.argv[1:] if argv is None else argv)

    def run() -> None:
        if args.stats_out is not None and args.stats_out.is_dir():
            raise UserError(f"--stats-out {args.stats_out}: is a folder; name a JSON file")
        summary = prepare(args.src, dst, args.format, args.overwrite)
        if args.stats_out is not None:
            write_json(args.stats_out, {"command": command, **summary, "src": str(args.src), "dst": str(dst)})
        print(format_summary(summary))

    return run_cli(run)


if __name__ == "__main__":
    raise SystemExit(main())
