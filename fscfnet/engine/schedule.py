"""The training schedule as one pure function of the iteration (no scheduler object, nothing to checkpoint).

Warmup (the first ``warmup`` iterations): every group's learning rate rises linearly to the epoch's scheduled
value, the bias group's falling from ``warmup_bias_lr`` instead; momentum (SGD) / beta1 (AdamW) rises from
``warmup_momentum``; the accumulation rises from 1 batch to ``nbs / batch``. After warmup: learning rate
``lr0 * factor(epoch)`` with a linear or cosine decay to ``lr0 * lrf`` over the run, constant within an epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..cfg.train import TrainConfig
from .optim import accumulation

MIN_WARMUP_ITERS = 100


@dataclass(frozen=True)
class SchedulePoint:
    """Settings for one iteration: learning rate per parameter group (bias, norm, weight), momentum / beta1,
    and how many batches one optimizer step accumulates."""

    lrs: tuple[float, float, float]
    momentum: float
    accumulate: int


@dataclass(frozen=True)
class Schedule:
    lr0: float
    lrf: float
    epochs: int
    kind: str  # "linear" or "cosine"
    warmup: int  # iterations; -1: none
    warmup_bias_lr: float
    warmup_momentum: float
    momentum: float
    batch: int
    nbs: int

    @classmethod
    def from_config(cls, cfg: TrainConfig, batches_per_epoch: int) -> "Schedule":
        """The schedule of a resolved config (``lr0`` and ``epochs`` set: :class:`fscfnet.engine.plan.TrainPlan`)."""
        warmup = max(round(cfg.warmup_epochs * batches_per_epoch), MIN_WARMUP_ITERS) if cfg.warmup_epochs > 0 else -1
        return cls(cfg.lr0, cfg.lrf, cfg.epochs, cfg.schedule, warmup, cfg.warmup_bias_lr, cfg.warmup_momentum,
                   cfg.momentum, cfg.batch, cfg.nbs)

    def factor(self, epoch: int) -> float:
        """Learning-rate multiplier of ``epoch`` (0-based): 1 at epoch 0, ``lrf`` at epoch ``epochs``."""
        if self.kind == "cosine":
            return ((1 - math.cos(epoch * math.pi / self.epochs)) / 2) * (self.lrf - 1) + 1
        return (1 - epoch / self.epochs) * (1 - self.lrf) + self.lrf

    def __call__(self, it: int, epoch: int) -> SchedulePoint:
        """Settings for global iteration ``it`` (batches since the run began) in ``epoch``."""
        lr = self.lr0 * self.factor(epoch)
        if it > self.warmup:
            return SchedulePoint((lr, lr, lr), self.momentum, accumulation(self.batch, self.nbs))
        ramp = [0, self.warmup]
        bias_lr, other_lr = (float(np.interp(it, ramp, [start, lr])) for start in (self.warmup_bias_lr, 0.0))
        return SchedulePoint((bias_lr, other_lr, other_lr), float(np.interp(it, ramp, [self.warmup_momentum, self.momentum])),
                     max(1, int(np.interp(it, ramp, [1, self.nbs / self.batch]).round())))


def apply(optimizer: torch.optim.Optimizer, point: SchedulePoint) -> None:
    """Set the learning rates and momentum / beta1 of :func:`fscfnet.engine.optim.param_groups`' three groups."""
    for group, lr in zip(optimizer.param_groups, point.lrs):
        group["lr"] = lr
        if "betas" in group:
            group["betas"] = (point.momentum, group["betas"][1])
        elif "momentum" in group:
            group["momentum"] = point.momentum
