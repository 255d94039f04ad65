"""Image files: which suffixes are images, the images of a folder, and decoding one (8-bit, 16-bit or float, any
channels) to the network's uint8 frame under an input normalisation. Training, validation and inference all read
images through :class:`ImageReader`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..cfg.norm import InputNorm
from ..errors import DatasetError
from .normalize import advice, dims, normalize

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
    """An OpenCV image (grey, BGR or BGRA, any dtype) -> ``(H, W, channels)``, RGB when ``channels`` is 3."""
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 2:
        img = img[:, :, None]
    if channels == 1 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    if channels == 3:
        return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else np.ascontiguousarray(img[:, :, ::-1])
    return img


def decode(path: Path) -> np.ndarray | None:
    """The file's values as stored (8-bit, 16-bit or float, grey or colour), or None when it cannot be decoded."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0 or img.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        return None
    return img


class ImageReader:
    """Frames as the network takes them: ``(H, W, channels)`` uint8 (RGB when 3), values mapped by ``norm``
    (:class:`~fscfnet.data.normalize.InputNorm`). The first frame the policy would dim is reported through
    ``warn``, with what to use instead; later ones are counted in ``dim_frames``."""

    def __init__(self, channels: int, norm: InputNorm | None = None, warn: Callable[[str], None] | None = None):
        self.channels, self.norm, self.warn = channels, norm or InputNorm(), warn
        self.dim_frames = 0

    def __call__(self, img: np.ndarray, name: str = "array") -> np.ndarray:
        """An image already decoded (a file's values, an array) -> the network's frame."""
        if dims(self.norm, img):
            self.dim_frames += 1
            if self.dim_frames == 1 and self.warn is not None:
                self.warn(f"warning: {name}: its values fill under a quarter of the range that input "
                          f"normalisation {self.norm} assumes, so the network would see it dim; {advice(img)}")
        return to_channels(normalize(self.norm, img), self.channels)

    def read(self, path: Path) -> np.ndarray | None:
        """The file's frame, or None when it cannot be decoded."""
        img = decode(path)
        return None if img is None else self(img, str(path))


def read_image(path: Path, channels: int, norm: InputNorm | None = None) -> np.ndarray | None:
    """``(H, W, channels)`` uint8 (RGB when 3) under ``norm`` (default 8bit), or None when it cannot be decoded."""
    return ImageReader(channels, norm).read(path)
