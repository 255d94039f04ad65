"""Validation loop, used by training (each epoch) and by ``val.py``: a split's whole frames through the model in
an inference mode (:mod:`fscfnet.data.views`: letterbox, native or sliced), detections in original pixels,
metrics (fscfnet.metrics) and per-image timings.
``validate_model`` adds the operating point at a chosen confidence and the Pd-Fa curve."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..cfg.norm import InputNorm
from ..data import open_dataset
from ..data.dataset import IRSTDDataset, build_frame_loader, original_targets
from ..data.views import InferenceMode
from ..errors import UserError
from ..metrics import AP_FLOOR, DEFAULT_CONF, FaBudget, evaluate, pdfa_curve
from ..metrics.groups import frame_attributes
from ..metrics.split import ScoredSplit
from ..track import TrackerConfig
from ..track.evaluate import track_validation
from ..track.metrics import CENTRE_PX
from ..utils.cli import check_conf
from ..utils.files import write_json
from ..utils.plots import plot_confusion_matrix, plot_f1_curve, plot_pdfa_curve, plot_pr_curve
from ..utils.timing import StageTimer
from .backends import InferenceModel, from_module
from .inference import Inferencer, resolve_mode


@dataclass
class Validation(ScoredSplit):
    """A split scored by running a model over it: the scored detections plus what the run records."""

    ms: dict[str, float] = field(default_factory=dict)  # per image: preprocess, inference, postprocess, total
    mode: InferenceMode | None = None  # how the frames were fed to the model
    norm: str = "8bit"  # how their values were read (the input normalisation)
    tracking: dict | None = None  # val --track (fscfnet.track.evaluate)

    def metrics_dict(self) -> dict:
        """``metrics.json``: the metrics, the time per image and inference mode, ``at_conf``, the class-level
        results (:meth:`ScoredSplit.as_dict`) and the tracking results."""
        run = {"ms_per_image": self.ms.get("total"),
               **({"mode": self.mode.as_dict(), "input_norm": self.norm} if self.mode is not None else {})}
        return {**self.as_dict(run), **({"tracking": self.tracking} if self.tracking is not None else {})}


@torch.no_grad()
def validate(model: torch.nn.Module | InferenceModel, data: IRSTDDataset | DataLoader, batch_size: int = 16,
             workers: int = 2, conf: float = 0.001, device: torch.device | None = None,
             mode: InferenceMode | None = None) -> Validation:
    """Run ``model`` (a module, evaluated in eval mode, or a loaded :class:`InferenceModel`; NMS-free
    ``(B, max_det, 6)`` output) over a dataset's frames (or a :func:`build_frame_loader` built once over them,
    as training does) in ``mode`` (default: the letterbox at the dataset's ``imgsz``) and score it."""
    module = model if isinstance(model, torch.nn.Module) else None
    was_training = bool(module is not None and module.training)
    if module is not None:  # the training model as it is: not fused, in its own memory layout
        device = device or next(module.parameters()).device
        model = from_module(module, [f"class{c}" for c in range(module.nc)], device, fuse=False, channels_last=False)
    loader = data if isinstance(data, DataLoader) else build_frame_loader(data, batch_size, workers)
    dataset = loader.dataset.dataset
    mode = mode or InferenceMode("letterbox", imgsz=dataset.imgsz)
    inferencer, timer = Inferencer(model, mode, conf, batch_size), StageTimer(model.device)
    preds: list[np.ndarray] = []
    for frames in loader:
        preds += inferencer(frames, timer)
    if module is not None:
        module.train(was_training)
    targets, sizes = original_targets(dataset), [tuple(s) for s in dataset.shapes]
    metrics = evaluate(preds, targets, sizes)
    return Validation(metrics, preds, [Path(p).stem for p in dataset.paths], targets, sizes, list(dataset.cfg.names),
                      ms=timer.ms_per(len(dataset)), mode=mode, norm=str(dataset.reader.norm))


def coco_predictions(v: Validation) -> list[dict]:
    """COCO results list: image_id = image stem, bbox = x, y, w, h in original pixels (full precision)."""
    return [{"image_id": stem, "category_id": int(c), "bbox": [float(x1), float(y1), float(x2) - float(x1),
                                                                float(y2) - float(y1)], "score": float(s)}
            for stem, det in zip(v.stems, v.predictions) for x1, y1, x2, y2, s, c in det]


def validate_model(model: InferenceModel, data: str | None = None, split: str = "test",
                   mode: InferenceMode | int | None = None, batch: int = 16, workers: int = 2, conf: float = AP_FLOOR,
                   save_dir: Path | None = None, save_json: bool = False, log: Callable[[str], None] = print,
                   at_conf: float = DEFAULT_CONF, *, fa_budgets: Sequence[FaBudget] = (),
                   norm: InputNorm | None = None, by: Sequence[str] = (), track: TrackerConfig | None = None,
                   track_dist: float = CENTRE_PX) -> Validation:
    """Score a loaded model on a dataset split (``data`` defaults to the one it was trained on) in ``mode``
    (an :class:`InferenceMode`, a letterbox size, or None: the mode matching the model's training), its frames
    read under ``norm`` (default: the model's own input normalisation).

    ``conf``: the lowest score kept; AP, the F1-maximising point and the Pd-Fa curve use every detection at or
    above ``min(conf, at_conf)`` (keep the default 0.001). ``at_conf``: the operating point reported in addition
    (``metrics.at_conf``; val.py's ``--conf``); ``fa_budgets``: for each, the lowest threshold whose false alarms
    stay within it and the operating point there (``metrics.at_budgets``). With several classes the same again with
    the classes merged (``Validation.agnostic``); always the confusion matrix at ``at_conf``; ``by``: attributes of
    the dataset's ``frames.csv`` to break the metrics down by (:mod:`fscfnet.metrics.groups`); ``track``: a video
dataset's sequences tracked with this tracker and judged (:mod:`fscfnet.track.evaluate`). With ``save_dir`` write
    ``metrics.json``, the PR, F1 and Pd-Fa curves (``PdFa_curve.png`` and ``.json``) and, with ``save_json``,
    ``predictions.json``."""
    data = data or model.train_args.get("data")
    if not data:
        raise UserError(f"{model.path}: the model names no dataset; pass --data NAME or a dataset YAML")
    if isinstance(data, list):
        raise UserError(f"{model.path}: the model trained on several datasets ({', '.join(map(str, data))}); pass "
                        f"--data with one of them")
    cfg = open_dataset(data)
    if cfg.nc != model.nc:
        raise UserError(f"{model.path}: the model predicts {model.nc} classes but {cfg.source} has {cfg.nc} "
                        f"({', '.join(cfg.names)}); validate on data with the model's classes")
    mode = resolve_mode(model, mode)
    for value in (at_conf, conf):
        check_conf(value)
    dataset = IRSTDDataset(cfg, split, mode.imgsz, channels=model.ch, log=log, norm=norm or model.norm)
    log(dataset.summary)
    v = validate(model, dataset, batch, workers, min(conf, at_conf), mode=mode)
    v.score(at_conf, fa_budgets, frame_attributes(cfg.root) if by else None, by)
    if track is not None:
        v.tracking = track_validation(v.predictions, v.targets, v.sizes, v.stems, cfg.root, track, track_dist)
    if save_dir is not None:
        save_validation(v, save_dir, save_json)
    return v


def save_validation(v: Validation, save_dir: Path, save_json: bool = False) -> None:
    """``metrics.json``, the PR, F1 and Pd-Fa curves (PNG, and the Pd-Fa data as JSON, the operating points
    marked) and, with ``save_json``, ``predictions.json``."""
    metrics = v.metrics_dict()
    write_json(save_dir / "metrics.json", metrics)
    if save_json:
        write_json(save_dir / "predictions.json", coco_predictions(v))
    c = v.metrics.curves
    plot_pr_curve(c.recall, c.precision, metrics["ap50"], save_dir / "PR_curve.png")
    plot_f1_curve(c.confidence, c.f1, metrics["conf_threshold"], save_dir / "F1_curve.png")
    curve = pdfa_curve(c)
    write_json(save_dir / "PdFa_curve.json", curve)
    marks = [(f"conf {metrics['at_conf']['conf']:g}", metrics["at_conf"])]
    marks += [(str(b), p.as_dict()) for b, p in v.metrics.at_budgets]
    plot_pdfa_curve(curve, marks, save_dir / "PdFa_curve.png")
    if v.confusion is not None:
        plot_confusion_matrix(v.confusion, v.names, metrics["at_conf"]["conf"], save_dir / "confusion_matrix.png")
