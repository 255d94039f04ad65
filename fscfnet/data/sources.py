"""Inference sources, read lazily so memory stays flat on large folders and long videos.

A source is an image file, a folder (``recursive`` for subfolders), a glob pattern, a video file, a list file
(``.txt``: one path per line, relative to the list), a sequence of those, or in-memory arrays. Iterating gives one
:class:`Frame` per image or video frame; a file that cannot be decoded gives a Frame whose ``image`` is None and
whose ``error`` says why, so callers report it and go on.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence, Union

import cv2
import numpy as np

from ..errors import UserError
from .dataset import read_image, to_channels
from .labels import IMAGE_SUFFIXES

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm"}
LIST_SUFFIXES = {".txt"}

Source = Union[str, Path, np.ndarray, Sequence[Union[str, Path, np.ndarray]]]


@dataclass
class Frame:
    """One image to run on. ``image``: ``(H, W, C)`` uint8, RGB when C = 3 (None when unreadable)."""

    path: str  # file the frame came from ("array0", ... for in-memory images)
    image: np.ndarray | None
    frame: int = -1  # index within a video, -1 for still images
    fps: float = 0.0  # video frame rate, 0 for still images
    error: str = ""


def _folder_files(folder: Path, recursive: bool) -> Iterator[Path]:
    """Files of ``folder`` in sorted order (subfolders too when ``recursive``), without listing them all first
    for nested trees."""
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    for e in entries:
        if e.is_file():
            yield Path(e.path)
        elif recursive and e.is_dir():
            yield from _folder_files(Path(e.path), recursive)


def _list_file(path: Path) -> Iterator[Path]:
    with path.open() as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                yield p if p.is_absolute() else path.parent / p


def source_files(source: str | Path, recursive: bool = False) -> Iterator[Path]:
    """The files a path-like source names (folders, globs and list files expanded); raises when it names none."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        yield from _folder_files(path, recursive)
    elif path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            yield from _list_file(path)
        else:
            yield path
    elif glob.has_magic(text):
        matches = sorted(glob.iglob(text, recursive=recursive))
        if not matches:
            raise UserError(f"--source {text}: the pattern matches no files")
        for m in matches:
            if Path(m).is_file():
                yield Path(m)
    else:
        raise UserError(f"--source {text}: no such file, folder or pattern")


def _video_frames(path: Path, channels: int) -> Iterator[Frame]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        yield Frame(str(path), None, error="cannot open this video")
        return
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    i = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield Frame(str(path), to_channels(bgr, channels), frame=i, fps=fps)
            i += 1
    finally:
        cap.release()
    if i == 0:
        yield Frame(str(path), None, error="no frame could be decoded")


def iter_frames(source: Source, channels: int = 3, recursive: bool = False) -> Iterator[Frame]:
    """Every frame of ``source`` in order. In-memory arrays are taken as OpenCV images (BGR or grey)."""
    items = source if isinstance(source, (list, tuple)) else [source]
    n_arrays = 0
    for item in items:
        if isinstance(item, np.ndarray):
            yield Frame(f"array{n_arrays}", to_channels(item, channels))
            n_arrays += 1
            continue
        for path in source_files(item, recursive):
            suffix = path.suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                yield from _video_frames(path, channels)
            elif suffix not in IMAGE_SUFFIXES:
                yield Frame(str(path), None, error=f"not an image or video ({suffix or 'no suffix'})")
            else:
                img = read_image(path, channels)
                yield Frame(str(path), img, error="" if img is not None else "cannot be decoded as an image")
