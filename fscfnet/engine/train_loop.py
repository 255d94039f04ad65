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

from ..errors import UserError
from ..utils.ema import ModelEMA
from ..detection.loss import COMPONENTS
from .schedule import Schedule, apply


class TrainingError(UserError):
    """Training cannot go on (e.g. non-finite losses); the message says where and what is kept."""


@dataclass
class StepState:
    """Optimizer-step bookkeeping that runs across epochs (resuming restores it from ``last.pt``)."""

    last_step: int = -1  # global batch index of the last optimizer step (gradients after it are pending)
    bad_steps: int = 0  # optimizer steps skipped in a row because a loss was not finite
    first_bad: str = ""  # where that streak began, for the error message


@dataclass
class EpochResult:
    losses: dict[str, float]  # per-image mean of each loss component over the epoch (all processes)
    images: int  # images trained on (all processes)
    seconds: float
    lr: float  # the weight group's learning rate at the epoch's last iteration


@dataclass
class Precision:
    """Autocast dtype (None: full precision) and the gradient scaler (enabled for fp16 only)."""

    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler


def _all_reduce(t: torch.Tensor, world: int, op: dist.ReduceOp.RedOpType = dist.ReduceOp.SUM) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(t, op=op)
    return t


def _optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, amp: Precision, ema: ModelEMA | None,
                    clip_grad: float, loss_ok: torch.Tensor, world: int) -> tuple[bool, bool]:
    """Clip, step (unless a gradient is not finite), update the EMA; returns (gradients finite, losses finite),
    the same on every process (DDP has averaged the gradients; the loss flags are reduced)."""
    amp.scaler.unscale_(optimizer)
    norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip_grad)
    flags = _all_reduce(torch.stack((torch.isfinite(norm), loss_ok)).int(), world, dist.ReduceOp.MIN)
    grads_ok, losses_ok = (bool(v) for v in flags.tolist())  # the one host sync of a step
    if grads_ok or amp.scaler.is_enabled():  # an enabled scaler skips a non-finite step itself (and lowers its scale)
        amp.scaler.step(optimizer)
    amp.scaler.update()
    optimizer.zero_grad(set_to_none=True)
    if grads_ok and ema is not None:
        ema.update(getattr(model, "module", model))  # the model itself, not its DDP wrapper
    return grads_ok, losses_ok


def train_one_epoch(model: nn.Module, loss_fn: Callable, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    schedule: Schedule, epoch: int, state: StepState, *, device: torch.device, amp: Precision,
                    ema: ModelEMA | None, clip_grad: float, imgsz: int, nonfinite_patience: int, world: int = 1,
                    progress: Callable[[str], None] | None = None, on_batch: Callable | None = None,
                    log_every: int = 10) -> EpochResult:
    """Train ``model`` (a module, or its DDP wrapper) for one epoch of ``loader`` (whose sampler knows the epoch).

    A step whose gradients are not finite is skipped; ``nonfinite_patience`` steps in a row with a non-finite
    loss raise :class:`TrainingError` (an fp16 gradient overflow with finite losses is the scaler's business and
    does not count). ``progress`` gets the running losses and speed every ``log_every`` batches."""
    nb = len(loader)
    model.train()
    sums = torch.zeros(len(COMPONENTS) + 1, device=device)  # finite micro-batches: sum of component * images, images
    loss_ok = torch.ones((), dtype=torch.bool, device=device)  # every loss since the last step finite
    t0, i = time.perf_counter(), -1
    for i, (images, targets, _) in enumerate(loader):
        it = i + nb * epoch
        point = schedule(it, epoch)
        apply(optimizer, point)
        due = it - state.last_step >= point.accumulate
        x = images.to(device, non_blocking=True).float().div_(255)
        with model.no_sync() if world > 1 and not due else nullcontext():  # DDP: reduce only on the stepping batch
            with torch.autocast(device.type, dtype=amp.dtype or torch.float32, enabled=amp.dtype is not None):
                out = model(x)
            loss, parts = loss_fn(out, targets, (imgsz, imgsz))
            amp.scaler.scale(loss * world).backward()
        finite = torch.isfinite(loss.detach())
        loss_ok &= finite
        # new_full fills on the device; new_tensor([n]) would copy from the host and wait for the device
        sums += torch.where(finite, torch.cat((parts * len(images), parts.new_full((1,), len(images)))), 0.0)
        if due:
            grads_ok, losses_ok = _optimizer_step(model, optimizer, amp, ema, clip_grad, loss_ok, world)
            state.last_step = it
            loss_ok.fill_(True)
            if losses_ok:
                state.bad_steps, state.first_bad = 0, ""
            else:
                state.first_bad = state.first_bad or f"epoch {epoch + 1}, batch {i}"
                state.bad_steps += 1
                if state.bad_steps >= nonfinite_patience:
                    values = ", ".join(f"{k}={v:.4g}" for k, v in zip(COMPONENTS, parts.tolist()))
                    raise TrainingError(f"non-finite loss from {state.first_bad} ({values}): {state.bad_steps} "
                                        f"optimizer steps in a row skipped")
        if on_batch is not None:
            on_batch(i, images, targets)
        if (progress is not None or world > 1) and ((i + 1) % log_every == 0 or i == nb - 1):
            s = _all_reduce(sums.clone(), world).tolist()  # every process joins the reduction; rank 0 shows it
            if progress is not None:
                progress(" ".join(f"{k}={v / max(s[-1], 1):.3f}" for k, v in zip(COMPONENTS, s)) +
                         f" {s[-1] / (time.perf_counter() - t0):.1f} img/s")
    s = _all_reduce(sums, world).tolist()
    return EpochResult({k: v / s[-1] if s[-1] else float("nan") for k, v in zip(COMPONENTS, s)}, int(s[-1]), time.perf_counter() - t0,
                       schedule(max(i, 0) + nb * epoch, epoch).lrs[2])
