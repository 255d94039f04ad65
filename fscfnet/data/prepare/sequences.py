"""Video datasets in the MOTChallenge convention, as ``prepare`` reads them: where each sequence's frames and
ground truth are, which split it belongs to, and its ground-truth rows checked with ``file:line`` errors.

Two layouts are recognised:

- **sequence folder** (``find_sequences``): ``SRC/videos/NAME.<any video OpenCV reads>`` or an image-sequence folder
  ``SRC/videos/NAME/`` (``sequences/`` works too), ``SRC/gt/NAME.txt``, split lists ``SRC/train.txt`` and
  ``SRC/test.txt`` of sequence names, and optionally ``SRC/videos.csv``: one row per sequence (first column its
  name), whose other columns become attributes of each of its frames (a distance bin, a sensor);
- **MOT17 / MOT20**: ``SRC/train/SEQ/img1/``, ``SRC/train/SEQ/gt/gt.txt``, ``SEQ/seqinfo.ini`` (likewise under
  ``test/``): the folder a sequence lies in is its split, unless ``SRC/train.txt`` / ``SRC/test.txt`` list them.

A ground-truth row is ``frame, id, bb_left, bb_top, bb_width, bb_height, conf, class, visibility`` with 1-based
frame numbers and pixel coordinates (the first pixel is 1); ``conf`` 0 marks a row to ignore (MOT17), and a row
without a class column is class 1.
"""

from __future__ import annotations

import configparser
import csv
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ...errors import DatasetError
from ..images import image_files
from ..labels import read_index

FRAME_COLUMNS = ("image", "sequence", "frame", "split")  # frames.csv's own columns; the attributes follow
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")
SEQUENCE_DIRS = ("videos", "sequences")


@dataclass
class Sequence:
    """One video: its frames (a video file or an ordered list of image files), its ground-truth file, its split
    and its attributes (``videos.csv``)."""

    name: str
    split: str
    gt: Path
    video: Path | None = None  # a video file ...
    frames: list[Path] = field(default_factory=list)  # ... or its frames, in order (frame k = frames[k - 1])
    attributes: dict[str, str] = field(default_factory=dict)

    def frame_count(self) -> int:
        if self.video is None:
            return len(self.frames)
        cap = cv2.VideoCapture(str(self.video))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        return n


@dataclass
class GroundTruth:
    """A sequence's boxes by 1-based frame number: ``(n, 5)`` class (0-based), x1, y1, x2, y2 in 0-based pixels,
    and the ground truth's track ID of each."""

    boxes: dict[int, np.ndarray]
    ids: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> (n,) track IDs, as ``boxes``
    ignored: int = 0  # rows marked conf 0
    skipped: list[str] = field(default_factory=list)  # "file:line: why" of bad rows skipped (skip_bad_rows)


def is_video_dataset(src: Path) -> bool:
    """Whether ``src`` holds a video dataset of either layout."""
    return bool((src / "gt").is_dir() and _sequence_dir(src)) or bool(_mot_sequences(src))


def find_sequences(src: Path) -> list[Sequence]:
    """The sequences of the video dataset in ``src``, each with its split; a one-line error for a sequence with
    no frames or no ground truth, a split list naming an unknown sequence, or a sequence in two splits."""
    if (src / "gt").is_dir() and _sequence_dir(src):
        found = _folder_sequences(src)
    else:
        found = _mot_sequences(src)
    lists = {s: src / f"{s}.txt" for s in ("train", "test") if (src / f"{s}.txt").is_file()}
    if lists:
        by_name = {q.name: q for q in found}
        seen: dict[str, str] = {}
        for split, path in lists.items():
            for name in read_index(path):
                if name not in by_name:
                    raise DatasetError(f"{path}: lists sequence {name!r}, which has no frames or no ground truth in {src}")
                if name in seen:
                    raise DatasetError(f"{path}: sequence {name!r} is also in the {seen[name]} list; a sequence "
                                       f"belongs to one split")
                seen[name] = split
                by_name[name].split = split
        found = [q for q in found if q.name in seen]
    if not any(q.split == "train" for q in found) or not any(q.split == "test" for q in found):
        raise DatasetError(f"{src}: a video dataset needs training and test sequences (train.txt and test.txt "
                           f"listing sequence names, or train/ and test/ folders)")
    attributes = _attributes(src / "videos.csv")
    for q in found:
        q.attributes = attributes.get(q.name, {})
    return sorted(found, key=lambda q: (q.split != "train", q.name))


def _sequence_dir(src: Path) -> Path | None:
    return next((src / d for d in SEQUENCE_DIRS if (src / d).is_dir()), None)


def _folder_sequences(src: Path) -> list[Sequence]:
    out = []
    for p in sorted(_sequence_dir(src).iterdir()):
        if p.is_dir():
            frames = [f for _, f in sorted(image_files(p).items())]
            if frames:
                out.append(Sequence(p.name, "", src / "gt" / f"{p.name}.txt", frames=frames))
        elif p.suffix.lower() in VIDEO_SUFFIXES:
            out.append(Sequence(p.stem, "", src / "gt" / f"{p.stem}.txt", video=p))
    missing = [q.gt for q in out if not q.gt.is_file()]
    if missing:
        raise DatasetError(f"{missing[0]}: no ground-truth file for sequence {missing[0].stem} "
                           f"({len(missing)} sequence(s) without one)")
    return out


def _mot_sequences(src: Path) -> list[Sequence]:
    out = []
    for split in ("train", "test"):
        for seq in sorted((src / split).glob("*/gt/gt.txt")) if (src / split).is_dir() else ():
            root = seq.parent.parent
            ini = configparser.ConfigParser()
            ini.read(root / "seqinfo.ini")
            img_dir = root / ini.get("Sequence", "imDir", fallback="img1")
            frames = [f for _, f in sorted(image_files(img_dir).items())] if img_dir.is_dir() else []
            if frames:
                out.append(Sequence(root.name, split, seq, frames=frames))
    return out


def _attributes(path: Path) -> dict[str, dict[str, str]]:
    """``videos.csv``: sequence name (first column) -> its other columns."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or len(rows[0]) < 2:
        return {}
    head = rows[0]
    taken = sorted(set(head[1:]) & set(FRAME_COLUMNS))
    if taken:
        raise DatasetError(f"{path}: column {taken[0]!r} is one frames.csv writes itself ({', '.join(FRAME_COLUMNS)}); "
                           f"rename it")
    return {r[0]: dict(zip(head[1:], r[1:])) for r in rows[1:] if r}


def read_ground_truth(seq: Sequence, n_frames: int, hw: tuple[int, int], nc: int | None,
                      skip_bad_rows: bool = False) -> GroundTruth:
    """The boxes of ``seq``'s gt file, clipped to the frame (``hw``). A row with a frame outside 1..``n_frames``, a
    zero or negative width or height, a box wholly outside the frame, a class outside 1..``nc`` (when ``nc`` is
    given) or too few numbers is a one-line :class:`DatasetError` naming ``file:line``; with ``skip_bad_rows`` it
    is skipped and counted instead."""
    h, w = hw
    boxes: dict[int, list[list[float]]] = {}
    gt = GroundTruth({})
    for lineno, line in enumerate(seq.gt.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{seq.gt}:{lineno}"
        why, row = _check_row(line, n_frames, w, h, nc)
        if why:
            if not skip_bad_rows:
                raise DatasetError(f"{where}: {why} (pass --skip-bad-rows to skip such rows)")
            gt.skipped.append(f"{where}: {why}")
            continue
        if row is None:
            gt.ignored += 1
            continue
        boxes.setdefault(int(row[0]), []).append(row[1:])
    rows = {k: np.array(v, np.float64).reshape(-1, 6) for k, v in boxes.items()}  # id, class, x1, y1, x2, y2
    gt.boxes = {k: r[:, 1:] for k, r in rows.items()}
    gt.ids = {k: r[:, 0].astype(int) for k, r in rows.items()}
    return gt


def _check_row(line: str, n_frames: int, w: int, h: int, nc: int | None) -> tuple[str, list[float] | None]:
    """(why the row is bad or "", [frame, id, class, x1, y1, x2, y2] or None for a row marked to ignore)."""
    try:
        v = [float(x) for x in line.replace(",", " ").split()]
    except ValueError:
        return f"values must be numbers, got {line.strip()!r}", None
    if len(v) < 6:
        return f"expected frame,id,bb_left,bb_top,bb_width,bb_height[,conf,class,visibility], got {len(v)} values", None
    frame, track_id, left, top, bw, bh = v[:6]
    cls = int(v[7]) if len(v) > 7 else 1
    if frame != int(frame) or not 1 <= frame <= n_frames:
        return f"frame {frame:g} is outside the sequence's frames 1..{n_frames}", None
    if bw <= 0 or bh <= 0:
        return f"box width and height must be positive, got {bw:g} x {bh:g}", None
    if len(v) > 6 and v[6] == 0:
        return "", None  # conf 0: a row to ignore
    if cls < 1 or (nc is not None and cls > nc):
        known = f"1..{nc}" if nc is not None else "1 or more"
        return f"class {cls} is unknown (classes are {known})", None
    x1, y1 = max(left - 1, 0.0), max(top - 1, 0.0)  # 1-based pixel coordinates
    x2, y2 = min(left - 1 + bw, float(w)), min(top - 1 + bh, float(h))
    if x2 <= x1 or y2 <= y1:
        return f"box {left:g},{top:g},{bw:g},{bh:g} lies outside the {w}x{h} frame", None
    return "", [frame, track_id, cls - 1, x1, y1, x2, y2]
