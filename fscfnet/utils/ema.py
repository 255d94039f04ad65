"""Exponential moving average of model weights (the weights checkpoints store and validation uses)."""

from __future__ import annotations

import copy
import math

import torch


class ModelEMA:
    """``ema = d * ema + (1 - d) * model`` after each optimizer step, with ``d`` ramping up to ``decay``
    as ``decay * (1 - exp(-updates / tau))`` so early, fast-changing weights are not averaged in too long."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0):
        self.ema = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """One step over all tensors at once (``torch._foreach_*``: a few kernels on CUDA, not two per tensor)."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        src = model.state_dict()
        floats, sources = [], []
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                floats.append(v)
                sources.append(src[k].detach().to(v.dtype))
            else:
                v.copy_(src[k])
        torch._foreach_mul_(floats, d)
        torch._foreach_add_(floats, sources, alpha=1 - d)
