"""Label formats: binary masks, Pascal VOC XML and COCO JSON to YOLO ``class cx cy w h`` (normalised), and
reading YOLO label files with checks that name ``file:line``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError
from .images import IMAGE_SUFFIXES

COORD_TOLERANCE = 1e-3  # normalised coordinates this far outside [0, 1] are rounding, clipped silently


def mask_to_boxes(mask: np.ndarray, threshold: int = 127) -> np.ndarray:
    """Tight pixel-inclusive boxes ``(n, 4)`` = x, y, w, h (ints) of the 8-connected components of ``mask > threshold``.

    A component covering columns x1..x2 has ``x = x1`` and ``w = x2 - x1 + 1``. Sorted by (y, x).
    """
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    n, _, stats, _ = cv2.connectedComponentsWithStats((mask > threshold).astype(np.uint8), connectivity=8)
    boxes = stats[1:, :4].astype(np.int64)  # row 0 is the background
    return boxes[np.lexsort((boxes[:, 0], boxes[:, 1]))] if n > 1 else np.zeros((0, 4), np.int64)


def xywh_pixels_to_yolo(boxes: np.ndarray, width: int, height: int, classes: np.ndarray | None = None) -> np.ndarray:
    """Pixel boxes x, y (top-left corner, continuous), w, h -> ``(n, 5)`` class, cx, cy, w, h normalised."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cls = np.zeros(len(boxes)) if classes is None else np.asarray(classes, dtype=np.float64)
    scale = np.array([width, height, width, height], dtype=np.float64)
    centre = np.concatenate([boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:]], 1) / scale
    return np.concatenate([cls[:, None], centre], 1)


def write_yolo_labels(path: Path, labels: np.ndarray) -> None:
    """One ``class cx cy w h`` line per row (an empty file for a background image)."""
    lines = [f"{int(c)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}" for c, cx, cy, w, h in np.asarray(labels).reshape(-1, 5)]
    path.write_text("".join(line + "\n" for line in lines))


def read_yolo_labels(path: Path, nc: int) -> np.ndarray:
    """``(n, 5)`` float32 class, cx, cy, w, h from a YOLO label file; bad lines raise ``DatasetError`` (file:line)."""
    rows = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{lineno}"
        if len(parts) != 5:
            raise DatasetError(f"{where}: expected 5 values 'class cx cy w h', got {len(parts)}")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise DatasetError(f"{where}: values must be numbers, got {line.strip()!r}") from None
        cls = values[0]
        if cls != int(cls) or not 0 <= cls < nc:
            raise DatasetError(f"{where}: class {parts[0]} is not an integer in 0..{nc - 1} (the dataset has nc={nc})")
        cx, cy, w, h = values[1:]
        if w <= 0 or h <= 0:
            raise DatasetError(f"{where}: box has zero or negative size (w={w}, h={h})")
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if min(x1, y1) < -COORD_TOLERANCE or max(x2, y2) > 1 + COORD_TOLERANCE:
            raise DatasetError(f"{where}: box {cx:g} {cy:g} {w:g} {h:g} reaches outside the image "
                               f"(normalised coordinates must lie in [0, 1])")
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0)
        rows.append([cls, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


def read_voc(path: Path) -> tuple[list[str], np.ndarray, tuple[int, int] | None]:
    """Class names, pixel boxes ``(n, 4)`` x, y, w, h and (width, height) from a Pascal VOC XML file.

    VOC corners are 1-based and pixel-inclusive: xmin=1, xmax=3 covers the first three pixels (x=0, w=3).
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DatasetError(f"{path}: not valid XML ({e})") from None
    size = root.find("size")
    wh = None
    if size is not None and size.findtext("width") and size.findtext("height"):
        wh = (int(float(size.findtext("width"))), int(float(size.findtext("height"))))
    names, boxes = [], []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        name = (obj.findtext("name") or "").strip()
        if box is None or not name:
            raise DatasetError(f"{path}: an <object> lacks <name> or <bndbox>")
        try:
            x1, y1, x2, y2 = (float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: <bndbox> of {name!r} needs numeric xmin, ymin, xmax, ymax") from None
        names.append(name)
        boxes.append([x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1])
    return names, np.array(boxes, dtype=np.float64).reshape(-1, 4), wh


def read_coco(path: Path) -> tuple[dict[str, tuple[int, int]], dict[str, list[tuple[int, list[float]]]], list[str]]:
    """From a COCO JSON: {file stem: (width, height)}, {file stem: [(class index, [x, y, w, h])]}, class names.

    Category ids map to class indices in ascending id order.
    """
    try:
        data = json.loads(Path(path).read_text())
        images = {im["id"]: im for im in data["images"]}
        cats = sorted(data.get("categories") or [{"id": a["category_id"], "name": str(a["category_id"])}
                                                 for a in data["annotations"]], key=lambda c: c["id"])
        annotations = data["annotations"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: not a COCO detection JSON with 'images' and 'annotations' ({e})") from None
    index = {c["id"]: i for i, c in enumerate({c["id"]: c for c in cats}.values())}
    sizes = {Path(im["file_name"]).stem: (int(im["width"]), int(im["height"])) for im in images.values()}
    boxes: dict[str, list[tuple[int, list[float]]]] = {stem: [] for stem in sizes}
    for a in annotations:
        image = images.get(a.get("image_id"))
        if image is None or a.get("category_id") not in index or len(a.get("bbox", [])) != 4:
            raise DatasetError(f"{path}: annotation {a.get('id')} names an unknown image or category, or lacks a bbox")
        boxes[Path(image["file_name"]).stem].append((index[a["category_id"]], [float(v) for v in a["bbox"]]))
    names = [str(c["name"]) for c in {c["id"]: c for c in cats}.values()]
    return sizes, boxes, names


def read_index(path: Path) -> list[str]:
    """Image stems from an index file, one per line (blank lines ignored; duplicates raise)."""
    if not path.is_file():
        raise DatasetError(f"{path}: index file not found")
    stems: list[str] = []
    seen = set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        name = line.strip()
        if not name:
            continue
        stem = Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES else name
        if stem in seen:
            raise DatasetError(f"{path}:{lineno}: image {stem!r} is listed twice")
        seen.add(stem)
        stems.append(stem)
    return stems
