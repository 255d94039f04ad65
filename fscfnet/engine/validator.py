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
from ..metrics import (
    AP_FLOOR,
    DEFAULT_CONF,
    FaBudget,
    Metrics,
    budget_point,
    class_agnostic,
    evaluate,
    format_table,
    operating_point,
    pdfa_curve,
)
from ..metrics.confusion import confusion_matrix
from ..metrics.groups import breakdown, format_rows, frame_attributes
from ..utils.cli import check_conf
from ..utils.files import write_json
from ..utils.plots import plot_confusion_matrix, plot_f1_curve, plot_pdfa_curve, plot_pr_curve
from ..utils.timing import StageTimer
from .backends import InferenceModel, from_module
from .inference import Inferencer, resolve_mode


@dataclass
class Validation:
    metrics: Metrics
    predictions: list[np.ndarray]  # per image (n, 6): x1, y1, x2, y2, score, class in original pixels
    stems: list[str]
    ms: dict[str, float]  # per image: preprocess, inference, postprocess, total
    mode: InferenceMode | None  # how the frames were fed to the model (None: scored from a predictions file)
    norm: str = "8bit"  # how their values were read (the input normalisation)
    targets: list[np.ndarray] = field(default_factory=list, repr=False)  # per image (m, 5): class, x1, y1, x2, y2
    sizes: list[tuple[int, int]] = field(default_factory=list, repr=False)
    names: list[str] = field(default_factory=list)
    agnostic: Metrics | None = None  # several classes: the same metrics with every class merged (a target found
    #   under another class counts as found)
    confusion: np.ndarray | None = None  # (nc + 1, nc + 1) at the at_conf threshold (fscfnet.metrics.confusion)
    by: dict[str, list[dict]] = field(default_factory=dict)  # val --by ATTR: a row per attribute value

    def metrics_dict(self) -> dict:
        """The keys of ``metrics.json`` (docs/design.md §7), the inference mode, then ``at_conf`` when the
        operating point was evaluated, and the class-level results where there are any."""
        d = self.metrics.as_dict()
        at_conf = d.pop("at_conf", None)
        for row in d["per_class"]:
            row["name"] = self.names[row["class"]] if row["class"] < len(self.names) else str(row["class"])
        extra = {"class_agnostic": self.agnostic.as_dict()} if self.agnostic is not None else {}
        if self.confusion is not None:
            extra["confusion_matrix"] = {"rows": "predicted class, then background", "columns": "true class, then "
                                         "background", "names": [*self.names, "background"],
                                         "counts": self.confusion.tolist()}
        if self.by:
            extra["by"] = self.by
        run = {"mode": self.mode.as_dict(), "input_norm": self.norm} if self.mode is not None else {}
        return {**d, "ms_per_image": self.ms.get("total"), **run,
                **({"at_conf": at_conf} if at_conf is not None else {}), **extra}


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
    return Validation(metrics, preds, [Path(p).stem for p in dataset.paths], timer.ms_per(len(dataset)), mode,
                      str(dataset.reader.norm), targets, sizes, list(dataset.cfg.names))


def coco_predictions(v: Validation) -> list[dict]:
    """COCO results list: image_id = image stem, bbox = x, y, w, h in original pixels (full precision)."""
    return [{"image_id": stem, "category_id": int(c), "bbox": [float(x1), float(y1), float(x2) - float(x1),
                                                                float(y2) - float(y1)], "score": float(s)}
            for stem, det in zip(v.stems, v.predictions) for x1, y1, x2, y2, s, c in det]


def validate_model(model: InferenceModel, data: str | None = None, split: str = "test",
                   mode: InferenceMode | int | None = None, batch: int = 16, workers: int = 2, conf: float = AP_FLOOR,
                   save_dir: Path | None = None, save_json: bool = False, log: Callable[[str], None] = print,
                   at_conf: float = DEFAULT_CONF, *, fa_budgets: Sequence[FaBudget] = (),
                   norm: InputNorm | None = None, by: Sequence[str] = ()) -> Validation:
    """Score a loaded model on a dataset split (``data`` defaults to the one it was trained on) in ``mode``
    (an :class:`InferenceMode`, a letterbox size, or None: the mode matching the model's training), its frames
    read under ``norm`` (default: the model's own input normalisation).

    ``conf``: the lowest score kept; AP, the F1-maximising point and the Pd-Fa curve use every detection at or
    above ``min(conf, at_conf)`` (keep the default 0.001). ``at_conf``: the operating point reported in addition
    (``metrics.at_conf``; val.py's ``--conf``); ``fa_budgets``: for each, the lowest threshold whose false alarms
    stay within it and the operating point there (``metrics.at_budgets``). With several classes the same again with
    the classes merged (``Validation.agnostic``); always the confusion matrix at ``at_conf``; ``by``: attributes of
    the dataset's ``frames.csv`` to break the metrics down by (:mod:`fscfnet.metrics.groups`). With ``save_dir`` write
    ``metrics.json``, the PR, F1 and Pd-Fa curves (``PdFa_curve.png`` and ``.json``) and, with ``save_json``,
    ``predictions.json``."""
    data = data or model.train_args.get("data")
    if not data:
        raise UserError(f"{model.path}: the model names no dataset; pass --data NAME or a dataset YAML")
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
    score(v, cfg.nc, at_conf, fa_budgets, frame_attributes(cfg.root) if by else None, by)
    if save_dir is not None:
        save_validation(v, save_dir, save_json)
    return v


def score(v: Validation, nc: int, at_conf: float, fa_budgets: Sequence[FaBudget] = (),
          attributes: dict[str, dict[str, str]] | None = None, by: Sequence[str] = ()) -> None:
    """Fill in ``v``'s operating points (``at_conf`` and each budget), with several classes the same with the
    classes merged, the confusion matrix at ``at_conf`` and, for each attribute of ``by`` (columns of
    ``attributes``: image stem -> its frames.csv row), a row per value. ``val`` and ``python -m fscfnet.metrics``
    both score this way."""
    v.metrics.at_conf = operating_point(v.metrics.curves, at_conf)
    v.metrics.at_budgets = [(b, budget_point(v.metrics.curves, b)) for b in fa_budgets]
    if nc > 1:
        v.agnostic = evaluate(class_agnostic(v.predictions, 5), class_agnostic(v.targets, 0), v.sizes)
        v.agnostic.at_conf = operating_point(v.agnostic.curves, at_conf)
        v.agnostic.at_budgets = [(b, budget_point(v.agnostic.curves, b)) for b in fa_budgets]
    v.confusion = confusion_matrix(v.predictions, v.targets, nc, at_conf)
    if by:
        found = v.agnostic or v.metrics
        thresholds = {f"@{at_conf:g}": at_conf, **{str(b): p.conf for b, p in found.at_budgets}}
        v.by = {a: breakdown(v.predictions, v.targets, v.sizes, v.stems, attributes or {}, a, thresholds)
                for a in by}


def class_tables(v: Validation) -> str:
    """The per-class and any-class tables (several classes) and each ``--by`` breakdown, as printed text."""
    parts = []
    if v.agnostic is not None:
        rows = [{"class": r["name"], "targets": r["targets"], "P": r["precision"], "R": r["recall"], "AP50": r["ap50"],
                 "AP50:95": r["ap50_95"]} for r in v.metrics_dict()["per_class"]]
        parts.append(f"per class (P and R at the max-F1 threshold):\n{format_rows(rows)}")
        parts.append("any class (a target found under another class counts as found):\n"
                     + format_table(v.agnostic).rsplit("\n", 1)[0])
    for attr, rows in v.by.items():
        parts.append(f"by {attr} (AP class-aware; Pd and FA/img of any class at the whole split's thresholds):\n"
                     f"{format_rows(rows)}")
    return "\n".join(parts)


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
