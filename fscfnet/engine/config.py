"""Training settings: one typed dataclass, filled from defaults, a YAML/dict, or the command line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..data.augment import AugmentConfig
from ..errors import UserError
from ..utils.config import from_dict
from ..utils.loss import LossConfig

OPTIMIZERS = ("auto", "SGD", "AdamW")
AUTO_SGD_STEPS = 10_000  # 'auto': SGD for runs of at least this many optimizer steps, AdamW below (as Ultralytics)
SCHEDULES = ("linear", "cosine")
DEFAULT_LR0 = {"SGD": 0.01, "AdamW": 0.002}


@dataclass
class TrainConfig:
    model: str = "cfg/models/fscfnet.yaml"
    data: str = "demo"
    epochs: int | None = None  # None: the dataset config's 'epochs', else 100
    imgsz: int | None = None  # None: the dataset config's 'imgsz', else 640
    batch: int = 16
    workers: int = 2
    optimizer: str = "auto"  # auto: AdamW for short runs (every IRSTD benchmark), SGD for long ones
    lr0: float | None = None  # None: 0.01 for SGD, 0.002 for AdamW
    lrf: float = 0.01  # final learning rate = lr0 * lrf
    schedule: str = "linear"
    momentum: float = 0.937  # SGD momentum / Adam beta1
    weight_decay: float = 5e-4  # scaled by batch * accumulate / nbs
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    nbs: int = 64  # nominal batch size: gradients accumulate up to it
    ema: bool = True
    clip_grad: float = 10.0
    amp: bool = True  # CUDA only
    close_mosaic: int = 10
    patience: int = 100
    fitness: dict = field(default_factory=lambda: {"ap50": 0.1, "ap50_95": 0.9})
    seed: int = 0
    deterministic: bool = True
    cache: bool = False
    device: str = "auto"
    weights: str | None = None
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False  # True: write into project/name even when it exists (no exp2, exp3, ...)
    loss: dict = field(default_factory=dict)  # LossConfig fields, e.g. {"nwd_ratio": 1.0}
    augment: dict = field(default_factory=dict)  # AugmentConfig fields, e.g. {"mosaic": 0.0}

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        for name in ("batch", "nbs"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.workers < 0 or self.close_mosaic < 0 or self.patience < 1:
            raise UserError("workers and close_mosaic must be >= 0 and patience >= 1")
        unknown = set(self.fitness) - {"ap50", "ap50_95", "precision", "recall", "f1", "pd_c"}
        if unknown:
            raise UserError(f"fitness: unknown metric(s) {sorted(unknown)} (use ap50, ap50_95, precision, recall, f1, pd_c)")
        self.loss_config()
        self.augment_config()

    def resolve_optimizer(self, steps: int) -> tuple[str, float]:
        """(optimizer, initial learning rate) for a run of ``steps`` optimizer steps."""
        name = self.optimizer if self.optimizer != "auto" else ("SGD" if steps >= AUTO_SGD_STEPS else "AdamW")
        return name, self.lr0 if self.lr0 is not None else DEFAULT_LR0[name]

    def loss_config(self) -> LossConfig:
        return from_dict(LossConfig, dict(self.loss), "loss settings")

    def augment_config(self) -> AugmentConfig:
        return from_dict(AugmentConfig, dict(self.augment), "augment settings")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_train_config(values: dict, source: str = "arguments") -> TrainConfig:
    """A :class:`TrainConfig` from plain values; unknown keys get a did-you-mean error naming ``source``."""
    return from_dict(TrainConfig, values, source)
