"""What training changes and resuming restores, with one owner: :class:`TrainState`.

Its ``state_dict()`` is the union of its parts' (the raw weights, the EMA, the optimizer, the gradient scaler, the
optimizer-step bookkeeping, the best epoch so far, the RNG) under the keys ``last.pt`` stores beside the
inference weights (:data:`RESUME_KEYS`); ``load_state_dict(last_pt)`` is the whole resume. Checkpoints keep
the EMA weights as ``state_dict`` (what inference and ``best.pt`` use) and the raw ones as ``train_state_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..utils.ema import ModelEMA

RESUME_KEYS = ("train_state_dict", "optimizer", "ema_updates", "scaler", "rng", "best_epoch", "best_metrics",
               "last_step", "pending_grads", "finished")


def run_finished(ckpt: dict) -> bool:
    """Whether the run that wrote ``last.pt`` ended: all epochs done, or stopped early by ``patience``."""
    epochs = int(ckpt.get("train_args", {}).get("epochs") or 0)
    return bool(ckpt.get("finished")) or (epochs > 0 and int(ckpt["epoch"]) + 1 >= epochs)


@dataclass
class MixedPrecision:
    """The autocast dtype (None: full precision) and the gradient scaler (enabled for fp16 only)."""

    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler

    @classmethod
    def on(cls, device: torch.device, dtype: torch.dtype | None) -> "MixedPrecision":
        return cls(dtype, torch.amp.GradScaler(device.type, enabled=dtype == torch.float16))


@dataclass
class StepState:
    """Optimizer-step bookkeeping that runs across epochs."""

    last_step: int = -1  # global batch index of the last optimizer step (gradients after it are pending)
    bad_steps: int = 0  # optimizer steps skipped in a row because a loss was not finite
    first_bad: str = ""  # where that streak began, for the error message


@dataclass
class BestEpoch:
    """The best validated epoch so far: its fitness, 0-based index and metrics (``epoch`` in them is 1-based)."""

    fitness: float | None = None
    epoch: int = -1
    metrics: dict = field(default_factory=dict)


class TrainState:
    """The model being trained and everything else a resume must restore. ``clip_grad`` and
    ``nonfinite_patience`` are the rules of an optimizer step (settings, not saved)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, amp: MixedPrecision, ema: ModelEMA | None,
                 clip_grad: float, nonfinite_patience: int):
        self.model, self.optimizer, self.amp, self.ema = model, optimizer, amp, ema
        self.clip_grad, self.nonfinite_patience = clip_grad, nonfinite_patience
        self.step = StepState()
        self.best = BestEpoch()
        self.epoch = -1  # the last finished epoch (0-based)
        self.finished = False

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def eval_model(self) -> nn.Module:
        """The weights validation, ``best.pt`` and inference use: the EMA's when there is one."""
        return self.ema.ema if self.ema is not None else self.model

    def state_dict(self) -> dict:
        """Plain data for ``last.pt``: the :data:`RESUME_KEYS` (gradients accumulated since the last optimizer
        step included, so a resumed run continues exactly)."""
        pending = [p.grad for p in self.model.parameters()]
        return dict(train_state_dict=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
                    scaler=self.amp.scaler.state_dict() if self.amp.scaler.is_enabled() else {},
                    ema_updates=self.ema.updates if self.ema else 0, rng=torch.get_rng_state(),
                    best_epoch=self.best.epoch, best_metrics=self.best.metrics, last_step=self.step.last_step,
                    pending_grads=pending if any(g is not None for g in pending) else [], finished=self.finished)

    def load_state_dict(self, ckpt: dict) -> None:
        """Restore from a ``last.pt`` dict: the state as it was at the end of its epoch."""
        self.model.load_state_dict(ckpt["train_state_dict"])
        if self.ema:
            self.ema.ema.load_state_dict(ckpt["state_dict"])
            self.ema.updates = int(ckpt.get("ema_updates", 0))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler") and self.amp.scaler.is_enabled():  # a CPU run stores none; a GPU run's is dropped on CPU
            self.amp.scaler.load_state_dict(ckpt["scaler"])
        for p, g in zip(self.model.parameters(), ckpt.get("pending_grads") or []):
            if g is not None:  # gradients accumulated after the last optimizer step
                p.grad = g.to(p.device)
        torch.set_rng_state(ckpt["rng"])
        self.step = StepState(int(ckpt.get("last_step", -1)))
        self.epoch = int(ckpt["epoch"])
        self.best = BestEpoch(ckpt.get("best_fitness"), int(ckpt.get("best_epoch", -1)), dict(ckpt.get("best_metrics") or {}))
        self.finished = bool(ckpt.get("finished"))
