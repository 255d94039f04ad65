"""Training settings: one typed dataclass, filled from defaults, a YAML/dict, or the command line."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import torch

from ..errors import UserError
from .augment import AugmentConfig
from .loss import LossConfig
from .norm import InputNorm
from .schema import from_dict

OPTIMIZERS = ("auto", "SGD", "AdamW")
AUTO_SGD_STEPS = 10_000  # 'auto': SGD for runs of at least this many optimizer steps, AdamW below (as Ultralytics)
SCHEDULES = ("linear", "cosine")
SCALES = ("resize", "native")  # training images letterboxed to imgsz, or imgsz crops at their own pixel scale
AMP_MODES = ("auto", "fp16", "bf16", "off")  # auto: fp16 on CUDA, off on CPU
DEFAULT_LR0 = {"SGD": 0.01, "AdamW": 0.002}
MAX_WORKERS = 8


@dataclass
class TrainConfig:
    model: str = "fscfnet"  # a shipped config name, a model YAML, or a checkpoint to fine-tune
    data: str | list = "demo"  # a dataset (name or YAML), or several trained as one (fscfnet.cfg.mix)
    epochs: int | None = None  # None: the dataset config's 'epochs', else 100
    imgsz: int | None = None  # None: the dataset config's 'imgsz', else 640
    scale: str = "resize"  # resize: frames letterboxed to imgsz; native: imgsz crops at the frames' own scale
    input_norm: str = "8bit"  # frame values -> 0..255: 8bit, "range LO HI" or "percentile PLO PHI" (all frames)
    # Target-free images make up at most this share of each epoch (None: every image, every epoch). The share measured:
    # with native background crops it halved false alarms at level AP50 (IRSTD-1K, docs/results.md). No effect
    # on a dataset without target-free images.
    background_ratio: float | None = 0.25
    batch: int = 16
    workers: int | None = None  # loader processes per training process; None: min(8, CPUs per process)
    optimizer: str = "auto"  # auto: AdamW for short runs (every IRSTD benchmark), SGD for long ones
    lr0: float | None = None  # None: 0.01 for SGD, 0.002 for AdamW
    lrf: float = 0.01  # final learning rate = lr0 * lrf
    schedule: str = "linear"
    momentum: float = 0.937  # SGD momentum / Adam beta1
    weight_decay: float = 5e-4  # scaled by batch * accumulate / nbs
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8  # SGD momentum / Adam beta1 at the first iteration
    warmup_bias_lr: float = 0.1  # AdamW too: Ultralytics' 0 for AdamW starts slower (docs/results.md, warmup study)
    nbs: int = 64  # nominal batch size: gradients accumulate up to it
    ema: bool = True
    clip_grad: float = 10.0
    amp: str = "auto"  # auto (fp16 on CUDA, off on CPU), fp16 (CUDA), bf16, off
    nonfinite_patience: int = 3  # stop after this many optimizer steps in a row skipped for a non-finite loss
    close_mosaic: int = 10
    patience: int = 100
    val_period: int = 1  # validate every N epochs and at the last; best.pt is the best of the validated epochs
    fitness: dict = field(default_factory=lambda: {"ap50": 0.1, "ap50_95": 0.9})
    seed: int = 0
    deterministic: bool | None = None  # None: True on CPU; False on CUDA (cuDNN autotuning on)
    cache: bool = False
    device: str = "auto"
    sync_bn: bool = False  # DDP: synchronise BatchNorm statistics across processes
    ddp_timeout: float = 10800.0  # seconds a collective waits (rank 0 validates and saves while others wait)
    plot_every: int = 0  # also draw PR/F1/results plots every N epochs (0: only at the end of the run)
    weights: str | None = None
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False  # True: write into project/name even when it exists (no exp2, exp3, ...)
    loss: dict = field(default_factory=dict)  # LossConfig fields, e.g. {"nwd_ratio": 1.0}
    augment: dict = field(default_factory=dict)  # AugmentConfig fields, e.g. {"mosaic": 0.0}

    def __post_init__(self) -> None:
        if isinstance(self.data, (list, tuple)):
            if not self.data or not all(isinstance(d, str) for d in self.data):
                raise UserError(f"data: a dataset name or YAML, or a list of them; got {self.data!r}")
            self.data = self.data[0] if len(self.data) == 1 else list(self.data)
        for name, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("amp", AMP_MODES),
                              ("scale", SCALES)):
            if getattr(self, name) not in choices:
                raise UserError(f"{name} {getattr(self, name)!r} is not one of {', '.join(choices)}")
        for name in ("batch", "nbs", "patience", "nonfinite_patience", "val_period"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("workers", "close_mosaic", "plot_every"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UserError(f"{name} must be >= 0, got {value}")
        if self.background_ratio is not None and not 0 <= self.background_ratio < 1:
            raise UserError(f"background_ratio must lie in [0, 1), got {self.background_ratio}")
        self.norm()
        unknown = set(self.fitness) - {"ap50", "ap50_95", "precision", "recall", "f1", "pd_c"}
        if unknown:
            raise UserError(f"fitness: unknown metric(s) {sorted(unknown)} (use ap50, ap50_95, precision, recall, f1, pd_c)")
        self.loss_config()
        self.augment_config()

    def resolve_optimizer(self, steps: int) -> tuple[str, float]:
        """(optimizer, initial learning rate) for a run of ``steps`` optimizer steps."""
        name = self.optimizer if self.optimizer != "auto" else ("SGD" if steps >= AUTO_SGD_STEPS else "AdamW")
        return name, self.lr0 if self.lr0 is not None else DEFAULT_LR0[name]

    def resolve_workers(self, world: int = 1) -> int:
        """Loader processes per training process: the setting, else min(8, CPUs per process)."""
        if self.workers is not None:
            return self.workers
        return min(MAX_WORKERS, max(1, (os.cpu_count() or 1) // max(world, 1)))

    def resolve_amp(self, device: torch.device) -> torch.dtype | None:
        """The autocast dtype (None: full precision). fp16 needs CUDA."""
        mode = self.amp if self.amp != "auto" else ("fp16" if device.type == "cuda" else "off")
        if mode == "fp16" and device.type != "cuda":
            raise UserError(f"amp fp16 needs a CUDA device (training on {device}); use --amp bf16 or --amp off")
        return {"fp16": torch.float16, "bf16": torch.bfloat16, "off": None}[mode]

    def resumable_on(self, device: torch.device) -> tuple["TrainConfig", str | None]:
        """These stored settings for resuming on ``device``, and a message when one had to change: an AMP mode
        the device cannot run (fp16 off CUDA) falls back to ``auto``."""
        if self.amp == "fp16" and device.type != "cuda":
            return dataclasses.replace(self, amp="auto"), (f"the run trained with amp fp16, which needs CUDA: resuming on "
                                                            f"{device} with amp auto (full precision)")
        return self, None

    def resolve_deterministic(self, device: torch.device) -> bool:
        return self.deterministic if self.deterministic is not None else device.type != "cuda"

    def norm(self) -> InputNorm:
        return InputNorm.parse(self.input_norm)

    def loss_config(self) -> LossConfig:
        return from_dict(LossConfig, dict(self.loss), "loss settings")

    def augment_config(self) -> AugmentConfig:
        return from_dict(AugmentConfig, dict(self.augment), "augment settings")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_train_config(values: dict, source: str = "arguments") -> TrainConfig:
    """A :class:`TrainConfig` from plain values; unknown keys get a did-you-mean error naming ``source``.
    Values stored by earlier versions (``amp: true``) are read as their current equivalents."""
    values = dict(values)
    if isinstance(values.get("amp"), bool):
        values["amp"] = "auto" if values["amp"] else "off"
    return from_dict(TrainConfig, values, source)
