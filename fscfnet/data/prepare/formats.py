"""The annotation formats ``prepare`` reads, one class each: ``find(src)`` locates the images, annotations and
splits of an upstream folder (:class:`UpstreamSource`), ``convert(source)`` turns its annotations into YOLO
labels (:class:`Converted`) without changing the source description."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ...errors import DatasetError, UserError
from ..images import image_files
from ..labels import mask_to_boxes, read_coco, read_index, read_voc, xywh_pixels_to_yolo
from .splits import first_dir, split_files, unpaired

MASK_THRESHOLD = 127


@dataclass
class UpstreamSource:
    """What was found in SRC: its layout, image files, masks (mask formats), split stems and their files."""

    src: Path
    layout: str
    images: dict[str, Path]
    splits: dict[str, list[str]] = field(default_factory=dict)
    split_files: dict[str, Path] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def use_split_files(self) -> None:
        """Take the splits from the source's index files (:func:`split_files`)."""
        convention, files, self.warnings = split_files(self.src)
        self.layout = self.layout or convention
        self.split_files = files
        self.splits = {k: read_index(p) for k, p in files.items()}

    def check_splits(self) -> None:
        for split, stems in self.splits.items():
            missing = sorted(set(stems) - set(self.images))
            if missing:
                raise DatasetError(f"{self.split_files.get(split, self.src)}: {len(missing)} listed images have no "
                                   f"image file: {', '.join(missing[:10])}")


@dataclass
class Converted:
    labels: dict[str, np.ndarray]  # stem -> (n, 5) class, cx, cy, w, h
    pixel_wh: list[tuple[float, float]]  # every target's width and height in pixels
    names: list[str]
    warnings: list[str]
    stats: dict = field(default_factory=dict)  # format-specific counts for the summary


def _faint_components(mask: np.ndarray, threshold: int = MASK_THRESHOLD) -> int:
    """Components of ``mask > 0`` that the ``> threshold`` rule drops entirely (grey specks)."""
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    n, lab = cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)
    on = mask > 0
    peak = np.zeros(n, np.int64)
    np.maximum.at(peak, lab[on], mask[on].astype(np.int64))
    return int((peak[1:] <= threshold).sum())


class MaskFormat:
    """Binary target masks (BasicIRSTD, DNANet: ``images/`` + ``masks/``; IRSTD-1K: ``IRSTD1k_Img/`` +
    ``IRSTD1k_Label/``). Boxes are the 8-connected components of ``mask > 127``."""

    name = "masks"

    def find(self, src: Path) -> UpstreamSource:
        img_dir, mask_dir = first_dir(src, "IRSTD1k_Img", "images"), first_dir(src, "IRSTD1k_Label", "masks")
        if img_dir is None or mask_dir is None:
            raise DatasetError(f"{src}: expected images/ + masks/ (BasicIRSTD, DNANet) or IRSTD1k_Img/ + IRSTD1k_Label/")
        source = UpstreamSource(src, "IRSTD-1K" if img_dir.name == "IRSTD1k_Img" else "", image_files(img_dir))
        masks = {}
        for stem, p in image_files(mask_dir).items():
            masks[stem[: -len("_pixels0")] if stem.endswith("_pixels0") else stem] = p  # SIRST's mask names
        problems = unpaired("images", set(source.images), "masks", set(masks))
        if problems:
            raise DatasetError(f"{src}: refusing to convert: " + "; ".join(problems))
        source.masks = masks
        source.use_split_files()
        return source

    def convert(self, source: UpstreamSource) -> Converted:
        out = Converted({}, [], ["target"], list(source.warnings))
        grey = faint = 0
        channels: dict[int, int] = {}
        for stem, img_path in sorted(source.images.items()):
            image = cv2.imread(str(img_path), cv2.IMREAD_UNCHANGED)
            mask = cv2.imread(str(source.masks[stem]), cv2.IMREAD_UNCHANGED)
            if image is None or mask is None:
                raise DatasetError(f"{img_path if image is None else source.masks[stem]}: cannot be read as an image")
            c = 1 if image.ndim == 2 else image.shape[2]
            channels[c] = channels.get(c, 0) + 1
            if ((mask > 0) & (mask < 255)).any():
                grey += 1
                faint += _faint_components(mask)
            boxes = self._boxes(mask, image.shape[:2], source.masks[stem], out.warnings)
            out.labels[stem] = xywh_pixels_to_yolo(boxes, image.shape[1], image.shape[0])
            out.pixel_wh += [(w, h) for _, _, w, h in boxes]
        out.stats = {"images_by_channels": {str(k): v for k, v in sorted(channels.items())},
                     "mask_threshold": MASK_THRESHOLD, "grey_masks": grey, "faint_components_dropped": faint}
        return out

    @staticmethod
    def _boxes(mask: np.ndarray, image_hw: tuple[int, int], path: Path, warnings: list[str]) -> np.ndarray:
        """The mask's boxes (x, y, w, h) in image pixels. A mask drawn at another resolution of the same frame
        (NUAA-SIRST's Misc_111 is 1.82x) has its boxes scaled when the aspect ratios agree; else an error."""
        boxes = mask_to_boxes(mask, MASK_THRESHOLD).astype(np.float64)
        if image_hw == mask.shape[:2]:
            return boxes
        sx, sy = image_hw[1] / mask.shape[1], image_hw[0] / mask.shape[0]
        sizes = f"mask is {mask.shape[1]}x{mask.shape[0]} but its image is {image_hw[1]}x{image_hw[0]}"
        if abs(sx / sy - 1) > 0.01:
            raise DatasetError(f"{path}: {sizes}, with another aspect ratio")
        warnings.append(f"{path}: {sizes}; boxes scaled by {sx:.4f} x {sy:.4f}")
        return boxes * np.array([sx, sy, sx, sy])


class VocFormat:
    """Pascal VOC XML: ``images/`` (or ``JPEGImages/``) + ``Annotations/*.xml``; classes sorted by name."""

    name = "voc"

    def find(self, src: Path) -> UpstreamSource:
        img_dir = first_dir(src, "images", "JPEGImages")
        if img_dir is None or first_dir(src, "Annotations", "annotations") is None:
            raise DatasetError(f"{src}: expected images/ (or JPEGImages/) and Annotations/ with VOC XML files")
        source = UpstreamSource(src, "VOC", image_files(img_dir))
        source.use_split_files()
        return source

    def convert(self, source: UpstreamSource) -> Converted:
        xml_dir = first_dir(source.src, "Annotations", "annotations")
        parsed = {}
        for stem, img_path in sorted(source.images.items()):
            xml = xml_dir / f"{stem}.xml"
            if not xml.is_file():
                raise DatasetError(f"{xml}: missing annotation for image {img_path.name}")
            parsed[stem] = read_voc(xml)
        names = sorted({n for obj_names, _, _ in parsed.values() for n in obj_names}) or ["target"]
        out = Converted({}, [], names, list(source.warnings))
        for stem, (obj_names, boxes, wh) in parsed.items():
            if wh is None:
                image = cv2.imread(str(source.images[stem]), cv2.IMREAD_UNCHANGED)
                wh = (image.shape[1], image.shape[0])
            out.labels[stem] = xywh_pixels_to_yolo(boxes, *wh, classes=[names.index(n) for n in obj_names])
            out.pixel_wh += [(w, h) for _, _, w, h in boxes]
        return out


class CocoFormat:
    """COCO JSON: ``images/`` + ``annotations/*.json`` (or ``*.json``); a JSON whose name holds "train" or "test"
    defines that split, otherwise the split files are used. Images no JSON annotates are background."""

    name = "coco"

    @staticmethod
    def json_files(src: Path) -> list[Path]:
        folder = src / "annotations" if (src / "annotations").is_dir() else src
        return sorted(folder.glob("*.json"))

    def split_jsons(self, src: Path) -> dict[str, Path]:
        files = self.json_files(src)
        splits = {s: next((f for f in files if s in f.stem.lower()), None) for s in ("train", "test")}
        return splits if all(splits.values()) else {}

    def find(self, src: Path) -> UpstreamSource:
        img_dir = first_dir(src, "images")
        if img_dir is None:
            raise DatasetError(f"{src}: expected images/ and COCO JSON files (annotations/*.json or *.json)")
        if not self.json_files(src):
            raise DatasetError(f"{src}: no COCO JSON files found")
        source = UpstreamSource(src, "COCO", image_files(img_dir))
        split_json = self.split_jsons(src)
        if not split_json:
            source.use_split_files()
        for split, f in split_json.items():
            source.splits[split], source.split_files[split] = sorted(read_coco(f)[0]), f
        return source

    def convert(self, source: UpstreamSource) -> Converted:
        out = Converted({}, [], ["target"], list(source.warnings))
        for f in list(self.split_jsons(source.src).values()) or self.json_files(source.src):
            sizes, boxes, out.names = read_coco(f)
            for stem, anns in boxes.items():
                if stem not in source.images:
                    raise DatasetError(f"{f}: image {stem!r} has no file in {source.src / 'images'}")
                xywh = np.array([b for _, b in anns], dtype=np.float64).reshape(-1, 4)
                out.labels[stem] = xywh_pixels_to_yolo(xywh, *sizes[stem], classes=[c for c, _ in anns])
                out.pixel_wh += [(w, h) for _, _, w, h in xywh]
        for stem in sorted(set(source.images) - set(out.labels)):
            out.labels[stem] = np.zeros((0, 5))
        return out


FORMATS = {f.name: f for f in (MaskFormat(), VocFormat(), CocoFormat())}


def find_source(src: Path, fmt: str) -> UpstreamSource:
    """The upstream folder ``src`` read as format ``fmt``, its splits checked against its images."""
    if not src.is_dir():
        raise UserError(f"{src}: source folder not found")
    source = FORMATS[fmt].find(src)
    source.check_splits()
    return source
