"""Inference on files, folders, globs, list files and videos: frames of any size through any loaded model
(checkpoint, ONNX, TorchScript) in an inference mode (letterbox, native or sliced), detections mapped back to
original pixels, streamed one result at a time.

``Predictor`` yields :class:`Result` objects; ``run_detect`` is what ``detect.py`` does with them: annotated
images and videos, YOLO txt labels, a line per image and the speed.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

import cv2

from ..cfg.norm import InputNorm
from ..data.images import IMAGE_SUFFIXES, ImageReader
from ..data.sources import Frame, Source, iter_frames, prefetch
from ..data.views import InferenceMode
from ..errors import UserError
from ..utils.cli import check_conf
from ..utils.files import atomic_write_text
from ..utils.timing import StageTimer
from .backends import InferenceModel
from .inference import Inferencer, resolve_mode
from .result import Result


@dataclass
class PredictStats:
    images: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    ms: dict[str, float] = field(default_factory=lambda: {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0})

    def per_image(self) -> dict[str, float]:
        return {k: v / max(self.images, 1) for k, v in self.ms.items()}


class Predictor:
    """``Predictor(model, mode, conf, batch)(source)`` -> iterator of :class:`Result`. ``mode``: an
    :class:`InferenceMode`, a letterbox size, ``"native"``, or None (the mode matching the model's training).
    Frames are read under ``norm`` (default: the model's input normalisation; a frame it would dim is reported
    through ``warn``, stderr by default). Unreadable files are recorded in ``stats.skipped`` and passed to
    ``on_skip``; ``keep_images=False`` drops each original image from its result (nothing to draw, less memory).
    ``read_ahead``: frames decoded ahead by a background thread (0: none); ``reconnects``: how often a live source
    that drops is reopened in a row before it ends."""

    def __init__(self, model: InferenceModel, mode: InferenceMode | int | str | None = None, conf: float = 0.25,
                 batch: int = 1, keep_images: bool = True, on_skip: Callable[[Frame], None] | None = None,
                 norm: InputNorm | None = None, warn: Callable[[str], None] | None = None, read_ahead: int = 0,
                 reconnects: int = 3):
        check_conf(conf)
        self.model, self.mode, self.conf, self.batch = model, resolve_mode(model, mode), conf, batch
        self.warn = warn or (lambda s: print(s, file=sys.stderr))
        self.reader = ImageReader(model.ch, norm or model.norm, self.warn)
        self.inferencer = Inferencer(model, self.mode, conf, batch)
        self.keep_images, self.on_skip = keep_images, on_skip
        self.read_ahead, self.reconnects = read_ahead, reconnects
        self.stats = PredictStats()

    def __call__(self, source: Source, recursive: bool = False) -> Iterator[Result]:
        pending: list[Frame] = []
        frames = iter_frames(source, self.model.ch, recursive, self.reader, self.reconnects, self.warn)
        for frame in prefetch(frames, self.read_ahead):
            if frame.image is None:
                self.stats.skipped.append((frame.path, frame.error))
                if self.on_skip:
                    self.on_skip(frame)
                continue
            pending.append(frame)
            if len(pending) == self.batch:
                yield from self._run(pending)
                pending = []
        if pending:
            yield from self._run(pending)

    def _run(self, frames: list[Frame]) -> list[Result]:
        timer = StageTimer()  # the model's backend returns CPU tensors: its work is done when it returns
        dets = self.inferencer([f.image for f in frames], timer)
        with timer("postprocess"):
            results = [Result(f.path, f.image.shape[:2], det[:, :4], det[:, 4], det[:, 5].astype(int),
                              self.model.names, f.image if self.keep_images else None, f.frame, f.fps, rel=f.rel)
                       for f, det in zip(frames, dets)]
        n = len(frames)
        speed = {k: v for k, v in timer.ms_per(n).items() if k != "total"}
        for r in results:
            r.speed = dict(speed)
        self.stats.images += n
        for k, v in speed.items():
            self.stats.ms[k] += v * n
        return results


class OutputNames:
    """Unique output names, relative to the run folder, one per source file (a video counts once).

    A file is named by its path relative to its source root (``Result.rel``: ``sub/x.png`` inside a folder source,
    mirrored in the run folder and in ``labels/``). When an earlier file already holds that name, compared without
    suffix and case (labels are ``<stem>.txt``), the file's parent folders are prepended one at a time
    (``b/x.png``), then ``_2``, ``_3``, ... is appended to the stem: same sources in the same order, same names.
    """

    def __init__(self) -> None:
        self.taken: set[str] = set()

    @staticmethod
    def _key(rel: PurePosixPath) -> str:
        return str(rel.with_suffix("")).lower()

    def assign(self, path: str, rel: str) -> PurePosixPath:
        """The name (a relative path with the source's suffix) for the next file, ``path`` named ``rel``."""
        name = PurePosixPath(rel or Path(path).name)
        parents = Path(os.path.abspath(path)).parent.parts[1:]  # without the root / drive
        known = len(name.parts) - 1  # folders rel already holds, the innermost ones of path
        extra = parents[:len(parents) - known] if known <= len(parents) else ()
        prefixed = [PurePosixPath(*extra[len(extra) - k:], *name.parts) for k in range(1, len(extra) + 1)]
        numbered = (name.with_name(f"{name.stem}_{i}{name.suffix}") for i in itertools.count(2))
        for candidate in itertools.chain([name], prefixed, numbered):  # ends: the numbers never run out
            if self._key(candidate) not in self.taken:
                self.taken.add(self._key(candidate))
                return candidate
        raise AssertionError("unreachable")


def open_video_writer(path: Path, fps: float, hw: tuple[int, int]) -> cv2.VideoWriter:
    """An mp4 writer for ``hw`` frames at ``fps`` (25 when unknown); its folder is made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps or 25.0, (hw[1], hw[0]))
    if not writer.isOpened():
        raise UserError(f"{path}: OpenCV cannot write an mp4 video here")
    return writer


class VideoSink:
    """Annotated frames -> ``<save_dir>/<name>.mp4``, one writer per source video, opened on its first frame."""

    def __init__(self, save_dir: Path):
        self.save_dir, self.path, self.writer = save_dir, None, None

    def write(self, result: Result, name: PurePosixPath) -> None:
        """Add ``result``'s annotated frame to the video ``name`` (a new writer when the source video changes)."""
        if result.path != self.path or result.frame == 0:
            self.close()
            self.path = result.path
            self.writer = open_video_writer(self.save_dir / name.with_suffix(".mp4"), result.fps, result.orig_shape)
        self.writer.write(cv2.cvtColor(result.plot(insets=False), cv2.COLOR_RGB2BGR))  # a video keeps its frame size

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
        self.writer, self.path = None, None


def run_detect(model: InferenceModel, source: Source, save_dir: Path, mode: InferenceMode | int | str | None = None,
               conf: float = 0.25, batch: int = 1, save: bool = True, save_txt: bool = False, save_conf: bool = False,
               recursive: bool = False, save_crop: bool = False, log: Callable[[str], None] = print,
               norm: InputNorm | None = None) -> PredictStats:
    """Run ``model`` over ``source`` in ``mode`` (see :class:`Predictor`); write annotated images (with zoomed
    insets of the detections) and videos (``save``), YOLO labels (``save_txt``, with ``classes.txt`` naming the
    class indices) and each detection's crop
    (``save_crop``: ``crops/<name>_<k>_x<x1>_y<y1>.png``) into ``save_dir``; log the mode, one line per image, the
    skipped files and the speed. Raises when nothing was readable.

    Outputs mirror each file's path relative to its source root (``sub/x.png`` -> ``save_dir/sub/x.png`` and
    ``save_dir/labels/sub/x.txt``); names that would collide are made unique by :class:`OutputNames`."""
    def skip(frame: Frame) -> None:
        print(f"skipped {frame.path}: {frame.error}", file=sys.stderr)

    predictor = Predictor(model, mode, conf, batch, keep_images=save or save_crop, on_skip=skip, norm=norm)
    log(f"model: {model.identity()}\ndetect: {predictor.mode.describe()}, input {predictor.reader.norm} "
        f"({model.format}, trained with scale {model.scale}), conf {conf}")
    videos, names = VideoSink(save_dir), OutputNames()
    name = PurePosixPath()
    if save_txt:  # the class index of each label line, named (beside labels/, where no label file can collide)
        atomic_write_text(save_dir / "classes.txt", "".join(f"{n}\n" for n in model.names))
    try:
        for r in predictor(source, recursive):
            h, w = r.orig_shape
            where = f"{r.path} frame {r.frame}" if r.frame >= 0 else r.path
            log(f"{predictor.stats.images}: {where}: {w}x{h}, {r.summary()}, {sum(r.speed.values()):.1f} ms")
            if r.frame <= 0:  # a still image or a video's first frame: a new source file
                name = names.assign(r.path, r.rel)
            stem = name.with_suffix("") if r.frame < 0 else name.with_name(f"{name.stem}_{r.frame}")
            if save:
                if r.frame >= 0:
                    videos.write(r, name)
                else:
                    r.save(save_dir / (name if name.suffix.lower() in IMAGE_SUFFIXES else name.with_suffix(".png")))
            if save_txt:
                r.save_txt(save_dir / "labels" / f"{stem}.txt", save_conf)
            if save_crop:
                r.save_crops(save_dir / "crops" / stem.parent, stem.name)
    finally:
        videos.close()
    stats = predictor.stats
    if stats.images == 0:
        raise UserError(f"--source {source}: no readable image or video frame ({len(stats.skipped)} file(s) skipped)")
    ms = stats.per_image()
    log(f"speed per image: {ms['preprocess']:.1f} ms preprocess, {ms['inference']:.1f} ms inference, "
        f"{ms['postprocess']:.1f} ms postprocess, {predictor.mode.describe()} on {model.device} ({model.format}); "
        f"{stats.images} image(s), {len(stats.skipped)} skipped; results in {save_dir}")
    return stats
