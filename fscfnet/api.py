"""The Python API, in the Ultralytics manner::

    from fscfnet import FSCFNet
    model = FSCFNet("cfg/models/fscfnet.yaml")          # a new model, or FSCFNet("best.pt" | "best.onnx")
    model.train(data="NUAA-SIRST", epochs=100, imgsz=320)  # then model holds best.pt
    metrics = model.val()                                  # the metrics.json dict
    for r in model.predict("images/", conf=0.25):          # Result objects, boxes in original pixels
        print(r.path, r.boxes, r.scores)                   # r.rel: the path inside images/, for per-image files
        r.save(f"out/{r.rel}"); r.save_txt(f"out/labels/{Path(r.rel).with_suffix('')}.txt")
    model.export(format="onnx")

``train.py``, ``val.py`` and ``detect.py`` are thin wrappers over the same engine functions.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterator, Sequence

import torch

from .cfg import InputNorm, is_name, resolve_model
from .cfg.train import load_train_config
from .data.sources import Source
from .data.views import InferenceMode
from .engine.backends import InferenceModel, from_module, load_inference_model
from .engine.checkpoint import file_kind
from .engine.inference import mode_from_flags
from .engine.predictor import Predictor, run_detect
from .engine.result import Result
from .engine.trainer import Trainer
from .engine.validator import validate_model
from .errors import UserError
from .metrics import fa_budgets
from .nn import build_model
from .track import TrackerConfig
from .engine.tracking import run_track
from .utils.device import select_device
from .utils.files import increment_path
from .weights import shipped_path


class FSCFNet:
    """A model from a config YAML (new weights) or from a file (checkpoint, ONNX or TorchScript export)."""

    def __init__(self, model: str | Path = "fscfnet", device: str = "auto", nc: int | None = None):
        """``device``: the ``--device`` spec (``auto``, ``cpu``, ``cuda``, ``0``, ``0,1``) for inference and for
        :meth:`train` unless it gets its own; ``self.device`` is the first device it names."""
        self.source, self.device_spec, self.device = Path(model), str(device), select_device(device)
        if not self.source.is_file():
            if not is_name(model):
                raise UserError(f"{model}: no such model config or weights file")
            # a shipped checkpoint by name (trained weights), else a shipped config by name (new weights)
            self.source = shipped_path(str(model)) or resolve_model(model)
        self.weights: Path | None = None
        self.net: torch.nn.Module | None = None
        self._loaded: InferenceModel | None = None
        if file_kind(self.source) == "config":
            self.net = build_model(self.source, nc=nc)
        else:
            self.weights = self.source
        self.metrics: dict = {}

    def __repr__(self) -> str:
        return f"FSCFNet({str(self.weights or self.source)!r})"

    @property
    def model(self) -> InferenceModel:
        """The loaded inference model (fused; loaded once)."""
        if self._loaded is None:
            if self.weights is not None:
                self._loaded = load_inference_model(self.weights, self.device)
            else:
                names = [f"class{i}" for i in range(self.net.nc)]
                self._loaded = from_module(copy.deepcopy(self.net), names, self.device, path=self.source)
        return self._loaded

    @property
    def names(self) -> list[str]:
        return self.model.names

    def train(self, **settings) -> dict:
        """Train with any :class:`TrainConfig` setting (``data``, ``epochs``, ``imgsz``, ``batch``, ...). From a
        checkpoint, training starts from its weights; ``device`` defaults to the constructor's. Afterwards this
        object holds the run's ``best.pt``; returns the best epoch's validation metrics."""
        if self.weights is not None and file_kind(self.weights) != "checkpoint":
            raise UserError(f"{self.weights}: an export cannot be trained; use the .pt checkpoint")
        values = {"model": str(self.source), "device": str(settings.pop("device", self.device_spec)), **settings}
        trainer = Trainer(load_train_config(values, "FSCFNet.train() arguments"))
        self.metrics = trainer.train()
        best = trainer.wdir / "best.pt"
        if best.is_file():
            self.weights, self.source, self._loaded = best, best, None
        return self.metrics

    def mode(self, imgsz: int | str | None = None, slice: int | None = None, overlap: float = 0.2,
             max_size: int | None = None, full_frame: bool = False) -> InferenceMode:
        """The inference mode these options ask for, as val.py's and detect.py's flags do (None everywhere: the
        mode matching the model's training)."""
        return mode_from_flags(self.model, imgsz, slice, overlap, max_size, full_frame)

    def val(self, data: str | None = None, split: str = "test", imgsz: int | str | None = None, batch: int = 16,
            conf: float = 0.001, workers: int = 2, save_dir: Path | str | None = None, save_json: bool = False,
            verbose: bool = False, norm: str | None = None, fa_per_image: Sequence[float] = (),
            fa_per_mpix: Sequence[float] = (), **mode: object) -> dict:
        """Metrics on a dataset split (default: the training data's test split), as in ``metrics.json``;
        ``imgsz`` and ``mode`` options (``slice``, ``overlap``, ``max_size``, ``full_frame``) as in :meth:`mode`,
        ``norm`` and the false-alarm budgets as val.py's ``--norm``, ``--fa-per-image`` and ``--fa-per-mpix``."""
        budgets = fa_budgets(fa_per_image, fa_per_mpix)
        v = validate_model(self.model, data, split, self.mode(imgsz, **mode), batch, workers, conf,
                           Path(save_dir) if save_dir else None, save_json, log=print if verbose else (lambda s: None),
                           fa_budgets=budgets, norm=InputNorm.parse(norm) if norm else None)
        self.metrics = v.metrics_dict()
        return self.metrics

    def predict(self, source: Source, conf: float | None = None, imgsz: int | str | None = None, batch: int = 1,
                stream: bool = False, recursive: bool = False, norm: str | None = None,
                **mode: object) -> list[Result] | Iterator[Result]:
        """Detections for each image or video frame of ``source`` (path, folder, glob, video, list file, array or
        a list of those), in original pixels, in the mode of :meth:`mode`, frames read under ``norm`` (default:
        the model's input normalisation). ``stream=True`` returns a generator, so memory stays flat on large
        sources."""
        conf = self.model.conf if conf is None else conf  # a shipped checkpoint's recommendation, else 0.25
        predictor = Predictor(self.model, self.mode(imgsz, **mode), conf, batch,
                              norm=InputNorm.parse(norm) if norm else None)
        results = predictor(source, recursive)
        return results if stream else list(results)

    def detect(self, source: Source, conf: float | None = None, imgsz: int | str | None = None, batch: int = 1,
               save_txt: bool = False, save_conf: bool = False, recursive: bool = False, save_crop: bool = False,
               project: str | Path = "runs/detect", name: str = "exp", norm: str | None = None,
               **mode: object) -> Path:
        """What ``detect.py`` does: annotated images/videos (and labels, crops) in a new run directory, returned."""
        save_dir = increment_path(Path(project) / name)
        conf = self.model.conf if conf is None else conf
        run_detect(self.model, source, save_dir, self.mode(imgsz, **mode), conf, batch, True, save_txt, save_conf,
                   recursive, save_crop, norm=InputNorm.parse(norm) if norm else None)
        return save_dir

    def track(self, source: Source, imgsz: int | str | None = None, project: str | Path = "runs/track",
              name: str = "exp", save_video: bool = True, recursive: bool = False, norm: str | None = None,
              reconnects: int = 3, tracker: TrackerConfig | dict | None = None, **mode: object) -> Path:
        """What ``fscfnet track`` does: detect and track each video, image sequence or live stream of ``source``;
        MOTChallenge results, ended tracks and annotated videos in a new run directory, returned. ``tracker``: a
        :class:`~fscfnet.track.TrackerConfig` or its fields as a dict (``high``, ``low``, ``confirm_hits``, ...)."""
        config = tracker if isinstance(tracker, TrackerConfig) else TrackerConfig.from_dict(tracker or {})
        save_dir = increment_path(Path(project) / name)
        run_track(self.model, source, save_dir, self.mode(imgsz, **mode), config, save_video, recursive,
                  InputNorm.parse(norm) if norm else None, reconnects)
        return save_dir

    def export(self, format: str = "onnx", imgsz: int | None = None, dynamic: bool = False,
               output: str | Path | None = None) -> Path:
        """Export a checkpoint to ONNX or TorchScript (see ``python -m fscfnet.export``)."""
        from .export import export

        if self.weights is None:
            raise UserError(f"{self.source}: export needs trained weights; train first or load a .pt checkpoint")
        return export(self.weights, format, imgsz, dynamic, output)
