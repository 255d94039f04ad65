"""Inference sources, read lazily so memory stays flat on large folders and long videos.

A source is an image file, a folder (``recursive`` for subfolders), a glob pattern, a video file, a list file
(``.txt``: one path per line, relative to the list), a live source (a webcam index such as ``0``, or a stream URL:
``rtsp://``, ``rtmp://``, ``http://``, ``https://``), a sequence of those, or in-memory arrays. Iterating gives one
:class:`Frame` per image or video frame; a file that cannot be decoded gives a Frame whose ``image`` is None and
whose ``error`` says why, so callers report it and go on. Each Frame also carries ``rel``, the file's path relative
to its source root (inside a folder, below a glob's fixed folders, as a list names it), under which outputs are
saved.
"""

from __future__ import annotations

import glob
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Callable, Iterator, Sequence, TypeVar, Union

import cv2
import numpy as np

from ..errors import UserError
from .images import IMAGE_SUFFIXES, ImageReader

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm"}
LIST_SUFFIXES = {".txt"}
STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://")

Source = Union[str, Path, np.ndarray, Sequence[Union[str, Path, np.ndarray]]]


@dataclass
class Frame:
    """One image to run on. ``image``: ``(H, W, C)`` uint8, RGB when C = 3 (None when unreadable)."""

    path: str  # file the frame came from ("array0", ... for in-memory images)
    image: np.ndarray | None
    frame: int = -1  # index within a video, -1 for still images
    fps: float = 0.0  # video frame rate, 0 for still images
    error: str = ""
    rel: str = ""  # path relative to the source root ("sub/x.png" in a folder source), for naming outputs


def _folder_files(folder: Path, recursive: bool) -> Iterator[Path]:
    """Files of ``folder`` in sorted order (subfolders too when ``recursive``), without listing them all first
    for nested trees."""
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    for e in entries:
        if e.is_file():
            yield Path(e.path)
        elif recursive and e.is_dir():
            yield from _folder_files(Path(e.path), recursive)


def _list_file(path: Path) -> Iterator[tuple[Path, str]]:
    with path.open() as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                yield (p, p.name) if p.is_absolute() else (path.parent / p, _safe_rel(p))


def _safe_rel(rel: PurePath) -> str:
    """``rel`` as a relative POSIX path that stays inside an output folder (its file name when it would not)."""
    parts = [q for q in rel.parts if q not in ("", ".")]
    if not parts or rel.is_absolute() or ".." in parts:
        return rel.name
    return "/".join(parts)


def _glob_root(pattern: str) -> Path:
    """The folder a glob pattern starts in: its leading components without wildcards."""
    parts = Path(pattern).parts
    fixed = []
    for q in parts[:-1]:
        if glob.has_magic(q):
            break
        fixed.append(q)
    return Path(*fixed) if fixed else Path(".")


def source_files_rel(source: str | Path, recursive: bool = False) -> Iterator[tuple[Path, str]]:
    """``(file, rel)`` for each file a path-like source names (folders, globs and list files expanded); ``rel`` is
    the file's path relative to the source root. Raises when the source names nothing."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        for p in _folder_files(path, recursive):
            yield p, _safe_rel(p.relative_to(path))
    elif path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            yield from _list_file(path)
        else:
            yield path, path.name
    elif glob.has_magic(text):
        matches = sorted(glob.iglob(text, recursive=recursive))
        if not matches:
            raise UserError(f"--source {text}: the pattern matches no files")
        root = _glob_root(text)
        for m in matches:
            p = Path(m)
            if p.is_file():
                try:
                    yield p, _safe_rel(p.relative_to(root))
                except ValueError:
                    yield p, p.name
    else:
        raise UserError(f"--source {text}: no such file, folder or pattern")


def _video_frames(path: Path, reader: ImageReader, rel: str) -> Iterator[Frame]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        yield Frame(str(path), None, error="cannot open this video", rel=rel)
        return
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    i = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield Frame(str(path), reader(bgr, f"{path} frame {i}"), frame=i, fps=fps, rel=rel)
            i += 1
    finally:
        cap.release()
    if i == 0:
        yield Frame(str(path), None, error="no frame could be decoded", rel=rel)


def is_live(item: object) -> bool:
    """A webcam index (``0``, ``"1"``) or a stream URL."""
    text = str(item)
    return (isinstance(item, (int, str)) and text.isdigit()) or text.lower().startswith(STREAM_SCHEMES)


def live_name(item: object) -> str:
    """A file name for a live source's outputs: ``webcam0``, or the URL's host and path made safe."""
    text = str(item)
    if text.isdigit():
        return f"webcam{text}"
    body = text.split("://", 1)[1].split("?", 1)[0].split("@")[-1]
    return "".join(c if c.isalnum() or c == "-" else "_" for c in body).strip("_")[:80] or "stream"


def _live_frames(item: object, reader: ImageReader, reconnects: int, log: Callable[[str], None],
                 wait: float = 1.0) -> Iterator[Frame]:
    """Frames of a webcam or stream; when it stops delivering, reopen it up to ``reconnects`` times in a row
    (``wait`` s apart), then end. Frame numbers run on across reconnections."""
    text, name = str(item), live_name(item)
    target: int | str = int(text) if text.isdigit() else text
    i, tries = 0, 0
    while True:
        cap = cv2.VideoCapture(target)
        fps = (cap.get(cv2.CAP_PROP_FPS) or 25.0) if cap.isOpened() else 25.0
        try:
            while cap.isOpened():
                ok, bgr = cap.read()
                if not ok:
                    break
                tries = 0  # it delivers again
                yield Frame(text, reader(bgr, f"{text} frame {i}"), frame=i, fps=fps, rel=name)
                i += 1
        finally:
            cap.release()
        if tries >= reconnects:
            if i == 0:
                yield Frame(text, None, error="cannot open this stream or camera", rel=name)
            else:
                log(f"{text}: the stream ended or dropped; {reconnects} reconnection(s) failed, {i} frame(s) read")
            return
        tries += 1
        log(f"{text}: no frame; reconnecting ({tries} of {reconnects})")
        time.sleep(wait)


def iter_frames(source: Source, channels: int = 3, recursive: bool = False,
                reader: ImageReader | None = None, reconnects: int = 3,
                log: Callable[[str], None] = print) -> Iterator[Frame]:
    """Every frame of ``source`` in order, as ``reader`` makes it (default: 8bit input normalisation). In-memory
    arrays are taken as OpenCV images (BGR or grey, any bit depth); a live source that drops is reopened up to
    ``reconnects`` times in a row (each attempt reported through ``log``)."""
    items = source if isinstance(source, (list, tuple)) else [source]
    reader = reader or ImageReader(channels)
    n_arrays = 0
    for item in items:
        if isinstance(item, np.ndarray):
            yield Frame(f"array{n_arrays}", reader(item, f"array{n_arrays}"), rel=f"array{n_arrays}")
            n_arrays += 1
            continue
        if is_live(item) and not Path(str(item)).exists():
            yield from _live_frames(item, reader, reconnects, log)
            continue
        for path, rel in source_files_rel(item, recursive):
            suffix = path.suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                yield from _video_frames(path, reader, rel)
            elif suffix not in IMAGE_SUFFIXES:
                yield Frame(str(path), None, error=f"not an image or video ({suffix or 'no suffix'})", rel=rel)
            else:
                img = reader.read(path)
                yield Frame(str(path), img, error="" if img is not None else "cannot be decoded as an image",
                            rel=rel)


T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` ahead, so that decoding a video or a stream
    overlaps the model's work (OpenCV releases the GIL while it decodes). An exception in the thread is raised
    here, where the item would have come; closing the iterator early stops the thread."""
    if depth <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as e:  # handed to the consumer
            q.put((done, e))

    thread = threading.Thread(target=work, name="frame-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
