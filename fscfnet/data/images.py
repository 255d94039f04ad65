"""Image files: which suffixes are images, the images of a folder, and decoding one to the network's channels.
Training, validation and inference all read images through :func:`read_image`."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def image_files(folder: Path) -> dict[str, Path]:
    """{stem: path} of the image files directly in ``folder`` (duplicate stems raise)."""
    found: dict[str, Path] = {}
    with os.scandir(folder) as it:
        for entry in it:
            p = Path(entry.path)
            if entry.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                if p.stem in found:
                    raise DatasetError(f"{folder}: two images share the name {p.stem!r} ({found[p.stem].name}, {p.name})")
                found[p.stem] = p
    return found


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """An OpenCV uint8 image (grey, BGR or BGRA) -> ``(H, W, channels)``, RGB when ``channels`` is 3."""
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 2:
        img = img[:, :, None]
    if channels == 1 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    if channels == 3:
        return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else np.ascontiguousarray(img[:, :, ::-1])
    return img


def read_image(path: Path, channels: int) -> np.ndarray | None:
    """``(H, W, channels)`` uint8 (RGB when 3), or None when the file cannot be decoded."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        return None
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        return None
    return to_channels(img, channels)
