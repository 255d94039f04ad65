"""One training epoch, written out (torchvision references' ``train_one_epoch``): the schedule applied per
iteration, forward under autocast, the loss, backward, and an optimizer step every ``accumulate`` batches with
gradient clipping, non-finite handling and the EMA update.

Host synchronisations: one per optimizer step (whether its gradients and losses were finite, decided alike on
every process: the host must know it to skip the step and count a streak) and one per ``log_every`` batches (the
running losses for the progress bar); loss sums stay on the device in between, and on CUDA the loss and its
assignment gather nothing with ``nonzero`` (see :mod:`fscfnet.detection.assigner`).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from ..data.dataset import Targets
from ..detection.loss import COMPONENTS
from ..errors import UserError
from .backends import model_input
from .schedule import Schedule, apply
from .state import TrainState


class TrainingError(UserError):
    """Training cannot go on (e.g. non-finite losses); the message says where and what is kept."""


@dataclass
class EpochResult:
    losses: dict[str, float]  # per-image mean of each loss component over the epoch (all processes)
    images: int  # images trained on (all processes)
    seconds: float
    lr: float  # the weight group's learning rate at the epoch's last iteration


@dataclass
class EpochHooks:
    """Optional callbacks: ``progress(text)`` every ``log_every`` batches (running losses and speed),
    ``on_batch(i, images, targets)`` after each batch."""

    progress: Callable[[str], None] | None = None
    on_batch: Callable[[int, torch.Tensor, Targets], None] | None = None
    log_every: int = 10


def _world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def _all_reduce(t: torch.Tensor, op: dist.ReduceOp.RedOpType = dist.ReduceOp.SUM) -> torch.Tensor:
    if _world() > 1:
        dist.all_reduce(t, op=op)
    return t


def optimizer_step(model: nn.Module, state: TrainState, loss_ok: torch.Tensor) -> tuple[bool, bool]:
    """Clip, step (unless a gradient is not finite), update the EMA; returns (gradients finite, losses finite),
    the same on every process (DDP has averaged the gradients; the loss flags are reduced)."""
    amp, optimizer = state.amp, state.optimizer
    amp.scaler.unscale_(optimizer)
    norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=state.clip_grad)
    flags = _all_reduce(torch.stack((torch.isfinite(norm), loss_ok)).int(), dist.ReduceOp.MIN)
    grads_ok, losses_ok = (bool(v) for v in flags.tolist())  # the one host sync of a step
    if grads_ok or amp.scaler.is_enabled():  # an enabled scaler skips a non-finite step itself (and lowers its scale)
        amp.scaler.step(optimizer)
    amp.scaler.update()
    optimizer.zero_grad(set_to_none=True)
    if grads_ok and state.ema is not None:
        state.ema.update(getattr(model, "module", model))  # the model itself, not its DDP wrapper
    return grads_ok, losses_ok


def count_bad_step(state: TrainState, losses_ok: bool, where: str, parts: torch.Tensor) -> None:
    """Track optimizer steps skipped in a row for a non-finite loss; raise after ``nonfinite_patience``."""
    step = state.step
    if losses_ok:
        step.bad_steps, step.first_bad = 0, ""
        return
    step.first_bad = step.first_bad or where
    step.bad_steps += 1
    if step.bad_steps >= state.nonfinite_patience:
        values = ", ".join(f"{k}={v:.4g}" for k, v in zip(COMPONENTS, parts.tolist()))
        raise TrainingError(f"non-finite loss from {step.first_bad} ({values}): {step.bad_steps} optimizer steps "
                            f"in a row skipped")


def train_one_epoch(model: nn.Module, loss_fn: Callable, loader: DataLoader, state: TrainState, schedule: Schedule,
                    epoch: int, hooks: EpochHooks | None = None) -> EpochResult:
    """Train ``model`` (``state.model``, or its DDP wrapper) for one epoch of ``loader`` (whose sampler knows the
    epoch). A step whose gradients are not finite is skipped; ``state.nonfinite_patience`` steps in a row with a
    non-finite loss raise :class:`TrainingError` (an fp16 gradient overflow with finite losses is the scaler's
    business and does not count)."""
    hooks, nb, device, world = hooks or EpochHooks(), len(loader), state.device, _world()
    model.train()
    sums = torch.zeros(len(COMPONENTS) + 1, device=device)  # finite micro-batches: sum of component * images, images
    loss_ok = torch.ones((), dtype=torch.bool, device=device)  # every loss since the last step finite
    t0, i = time.perf_counter(), -1
    for i, (images, targets, _) in enumerate(loader):
        it = i + nb * epoch
        point = schedule(it, epoch)
        apply(state.optimizer, point)
        due = it - state.step.last_step >= point.accumulate
        with model.no_sync() if world > 1 and not due else nullcontext():  # DDP: reduce only on the stepping batch
            with torch.autocast(device.type, dtype=state.amp.dtype or torch.float32, enabled=state.amp.dtype is not None):
                out = model(model_input(images, device))
            loss, parts = loss_fn(out, targets)
            state.amp.scaler.scale(loss * world).backward()
        finite = torch.isfinite(loss.detach())
        loss_ok &= finite
        # new_full fills on the device; new_tensor([n]) would copy from the host and wait for the device
        sums += torch.where(finite, torch.cat((parts * len(images), parts.new_full((1,), len(images)))), 0.0)
        if due:
            _, losses_ok = optimizer_step(model, state, loss_ok)
            state.step.last_step = it
            loss_ok.fill_(True)
            count_bad_step(state, losses_ok, f"epoch {epoch + 1}, batch {i}", parts)
        if hooks.on_batch is not None:
            hooks.on_batch(i, images, targets)
        if (hooks.progress is not None or world > 1) and ((i + 1) % hooks.log_every == 0 or i == nb - 1):
            s = _all_reduce(sums.clone()).tolist()  # every process joins the reduction; rank 0 shows it
            if hooks.progress is not None:
                hooks.progress(" ".join(f"{k}={v / max(s[-1], 1):.3f}" for k, v in zip(COMPONENTS, s)) +
                               f" {s[-1] / (time.perf_counter() - t0):.1f} img/s")
    s = _all_reduce(sums).tolist()
    return EpochResult({k: v / s[-1] if s[-1] else float("nan") for k, v in zip(COMPONENTS, s)}, int(s[-1]),
                       time.perf_counter() - t0, schedule(max(i, 0) + nb * epoch, epoch).lrs[2])
