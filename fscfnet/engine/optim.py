"""Optimizer construction: parameter groups, the ``auto`` choice between SGD and AdamW, accumulation to the
nominal batch and the weight decay scaled to it."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..cfg.train import TrainConfig

NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Three groups, in this order: biases (no decay), normalisation weights (no decay), other weights (decay).
    The order matters: the schedule warms the first group's learning rate up from ``warmup_bias_lr``."""
    biases, norms, weights = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                biases.append(p)
            elif isinstance(module, NORMS):
                norms.append(p)
            else:
                weights.append(p)
    return [{"params": biases, "weight_decay": 0.0}, {"params": norms, "weight_decay": 0.0},
            {"params": weights, "weight_decay": weight_decay}]


def accumulation(batch: int, nbs: int) -> int:
    """Batches whose gradients are summed per optimizer step, so a step sees about ``nbs`` images."""
    return max(round(nbs / batch), 1)


def scaled_weight_decay(cfg: TrainConfig) -> float:
    """``weight_decay`` is set for a step of ``nbs`` images; scaled to the images a step really sees."""
    return cfg.weight_decay * cfg.batch * accumulation(cfg.batch, cfg.nbs) / cfg.nbs


def optimizer_steps(epochs: int, images: int, cfg: TrainConfig) -> int:
    """Optimizer steps of a whole run as Ultralytics counts them for ``auto`` (images / max(batch, nbs) per epoch;
    when the batch does not divide ``nbs`` evenly the real count is higher)."""
    return epochs * math.ceil(images / max(cfg.batch, cfg.nbs))


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer over :func:`param_groups`, as ``cfg`` resolved it (``optimizer`` SGD or AdamW and its
    ``lr0``: :meth:`TrainConfig.resolve_optimizer`). ``momentum`` is SGD's momentum and AdamW's beta1."""
    if cfg.optimizer not in ("SGD", "AdamW") or cfg.lr0 is None:
        raise ValueError(f"build_optimizer needs a resolved optimizer and lr0, got {cfg.optimizer!r}, {cfg.lr0!r}")
    groups = param_groups(model, scaled_weight_decay(cfg))
    if cfg.optimizer == "SGD":
        return torch.optim.SGD(groups, lr=cfg.lr0, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr0, betas=(cfg.momentum, 0.999))
