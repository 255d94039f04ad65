"""Frames of any size to detections in their own pixels, for validation and detection alike: each frame's views
(:class:`~fscfnet.data.views.InferenceMode`) batched through the model, mapped back and merged."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np
import torch

from ..data.views import InferenceMode, View, merge_detections
from ..errors import UserError
from ..metrics import AP_FLOOR
from ..utils.timing import StageTimer
from .backends import InferenceModel, model_input


def resolve_mode(model: InferenceModel, mode: InferenceMode | int | str | None = None) -> InferenceMode:
    """``mode`` as given, a letterbox size, ``"native"``, or None: the mode matching the model's training
    (:meth:`InferenceModel.default_mode`); checked against what the model can take."""
    if mode is None:
        mode = model.default_mode()
    elif isinstance(mode, str) and mode == "native":
        mode = dataclasses.replace(model.default_mode(), kind="native")
    elif not isinstance(mode, InferenceMode):
        mode = InferenceMode("letterbox", imgsz=parse_imgsz(mode))
    model.check_mode(mode)
    return mode


def parse_imgsz(value: int | str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserError(f"--imgsz {value!r}: give a size in pixels (letterbox) or native") from None


def mode_from_flags(model: InferenceModel, imgsz: int | str | None = None, slice_size: int | None = None,
                    overlap: float = 0.2, max_size: int | None = None, full_frame: bool = False) -> InferenceMode:
    """The mode of val.py's and detect.py's flags: ``--slice S`` (tiles at native scale; ``--full-frame`` adds a
    letterboxed pass at ``--imgsz``), ``--imgsz native`` (``--max-size``), ``--imgsz N`` (letterbox), or the
    model's own default when none is given."""
    if slice_size is not None:
        if max_size is not None:
            raise UserError("--max-size is for --imgsz native (where larger frames are sliced); with --slice the "
                            "tile is --slice")
        size = model.imgsz if imgsz in (None, "native") else parse_imgsz(imgsz)
        mode = InferenceMode("slice", imgsz=size, tile=slice_size, overlap=overlap, full_frame=full_frame)
    else:
        if full_frame:
            raise UserError("--full-frame adds a whole-frame pass to --slice; give --slice S too")
        mode = resolve_mode(model, imgsz)
        if mode.kind == "native":  # native frames over max_size are sliced, with this overlap
            mode = dataclasses.replace(mode, max_size=mode.max_size if max_size is None else max_size, overlap=overlap)
        elif max_size is not None:
            raise UserError(f"--max-size is for --imgsz native; this run letterboxes ({mode.describe()})")
    model.check_mode(mode)
    return mode


def _batches(views: list[tuple[int, View]], size: int) -> Iterator[list[tuple[int, View]]]:
    """Runs of at most ``size`` consecutive views of one input shape: a batch is never padded, so what the model
    answers for a view does not depend on the other views in its batch (attention spans the whole input)."""
    batch: list[tuple[int, View]] = []
    for item in views:
        if batch and (len(batch) == size or item[1].shape != batch[0][1].shape):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


class Inferencer:
    """``Inferencer(model, mode, conf, batch)(frames, timer)`` -> per frame ``(n, 6)`` x1, y1, x2, y2, score,
    class in the frame's pixels (float64), scores >= ``conf``. Up to ``batch`` views of one input shape go through
    the model at a time (native frames of different sizes one by one).

    The views of a frame are merged from every detection scoring at least ``AP_FLOOR`` (or ``conf``, when lower)
    and only then cut at ``conf``: which boxes merge never depends on the threshold, so for any C the boxes that
    validation (at the floor) scores at or above C are the boxes detection at ``conf`` C returns."""

    def __init__(self, model: InferenceModel, mode: InferenceMode, conf: float, batch: int):
        if batch < 1:
            raise UserError(f"--batch {batch} must be at least 1")
        model.check_mode(mode)
        self.model, self.mode, self.conf, self.batch = model, mode, conf, batch

    def __call__(self, frames: Sequence[np.ndarray], timer: StageTimer) -> list[np.ndarray]:
        views: list[tuple[int, View]] = [(i, v) for i, f in enumerate(frames)
                                         for v in self.mode.views(f.shape[:2], self.model.stride)]
        parts: list[list[tuple[View, np.ndarray]]] = [[] for _ in frames]
        floor = min(self.conf, AP_FLOOR)
        for chunk in _batches(views, self.batch):
            with timer("preprocess"):
                x = torch.from_numpy(np.stack([v.image(frames[i]) for i, v in chunk])).permute(0, 3, 1, 2)
                x = model_input(x, self.model.input_device, self.model.channels_last)  # uint8 crosses, not float
            with timer("inference"):
                out = self.model(x).float().numpy()
            with timer("postprocess"):
                for (i, v), det in zip(chunk, out):
                    parts[i].append((v, v.to_frame(det[det[:, 4] >= floor])))
        with timer("postprocess"):
            merged = [merge_detections(p, f.shape[:2]) for p, f in zip(parts, frames)]
            return [m[m[:, 4] >= self.conf] for m in merged]
