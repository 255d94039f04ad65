"""Frames of any size to detections in their own pixels, for validation and detection alike: each frame's views
(:class:`~fscfnet.data.views.InferenceMode`) batched through the model, mapped back and merged."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np
import torch

from ..data.letterbox import PAD_VALUE
from ..data.views import InferenceMode, View, merge_detections
from ..errors import UserError
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
    if slice_size:
        size = model.imgsz if imgsz in (None, "native") else parse_imgsz(imgsz)
        mode = InferenceMode("slice", imgsz=size, tile=slice_size, overlap=overlap, full_frame=full_frame)
    else:
        mode = resolve_mode(model, imgsz)
        if mode.kind == "native" and max_size:
            mode = dataclasses.replace(mode, max_size=max_size)
    model.check_mode(mode)
    return mode


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def stack_views(images: list[np.ndarray]) -> torch.Tensor:
    """``(H_i, W_i, C)`` inputs -> one ``(B, C, H, W)`` uint8 batch, each padded right and bottom with grey to the
    largest height and width (views of one shape, the usual case, need no padding)."""
    h, w = max(im.shape[0] for im in images), max(im.shape[1] for im in images)
    if all(im.shape[:2] == (h, w) for im in images):
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    out = np.full((len(images), h, w, images[0].shape[2]), PAD_VALUE, dtype=images[0].dtype)
    for k, im in enumerate(images):
        out[k, :im.shape[0], :im.shape[1]] = im
    return torch.from_numpy(out).permute(0, 3, 1, 2)


class Inferencer:
    """``Inferencer(model, mode, conf, batch)(frames, timer)`` -> per frame ``(n, 6)`` x1, y1, x2, y2, score,
    class in the frame's pixels (float64), scores >= ``conf``. ``batch`` views go through the model at a time."""

    def __init__(self, model: InferenceModel, mode: InferenceMode, conf: float, batch: int):
        if batch < 1:
            raise UserError(f"--batch {batch} must be at least 1")
        model.check_mode(mode)
        self.model, self.mode, self.conf, self.batch = model, mode, conf, batch

    def __call__(self, frames: Sequence[np.ndarray], timer: StageTimer) -> list[np.ndarray]:
        views: list[tuple[int, View]] = [(i, v) for i, f in enumerate(frames)
                                         for v in self.mode.views(f.shape[:2], self.model.stride)]
        parts: list[list[np.ndarray]] = [[] for _ in frames]
        for chunk in _batches(views, self.batch):
            with timer("preprocess"):
                x = stack_views([v.image(frames[i]) for i, v in chunk])
                x = model_input(x, torch.device("cpu"), self.model.channels_last)
            with timer("inference"):
                out = self.model(x).float().numpy()
            with timer("postprocess"):
                for (i, v), det in zip(chunk, out):
                    parts[i].append(v.to_frame(det[det[:, 4] >= self.conf]))
        with timer("postprocess"):
            return [merge_detections(p) for p in parts]
