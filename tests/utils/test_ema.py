"""The weights' exponential moving average, step by step."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fscfnet.utils.ema import ModelEMA


# ------------------------------------------------------------------------------------------------------------ 1. EMA
class _One(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.0]))
        self.register_buffer("count", torch.tensor(0))


def test_ema_follows_the_ramped_decay_step_by_step_and_copies_integer_buffers():
    """After k updates the EMA weight is e_k = d_k e_{k-1} + (1 - d_k) w_k, d_k = decay (1 - exp(-k / tau));
    integer buffers are copied, not averaged; a resumed EMA (updates=u) continues with d_{u+1}."""
    model, decay, tau = _One(), 0.9, 2.0
    ema = ModelEMA(model, decay=decay, tau=tau)
    expected = 0.0  # the copy of w_0
    for k, w in enumerate([1.0, 3.0, -2.0, 5.0, 0.5], start=1):
        with torch.no_grad():
            model.w.fill_(w)
        model.count.fill_(10 * k)
        ema.update(model)
        d = decay * (1 - math.exp(-k / tau))
        expected = d * expected + (1 - d) * w
        assert ema.ema.w.item() == pytest.approx(expected, rel=1e-6, abs=1e-7), k
        assert ema.ema.count.item() == 10 * k and ema.ema.count.dtype == torch.int64
        assert ema.updates == k
    fresh = _One()
    first = ModelEMA(fresh, decay=0.9, tau=2.0)
    with torch.no_grad():
        fresh.w.fill_(1.0)
    first.update(fresh)
    assert first.ema.w.item() == pytest.approx(0.645878, abs=1e-6)  # d_1 = 0.9 (1 - e^-0.5) = 0.354122
    resumed = ModelEMA(_One(), decay=0.9, tau=2.0, updates=4)
    resumed.update(fresh)
    d5 = 0.9 * (1 - math.exp(-5 / 2))
    assert resumed.ema.w.item() == pytest.approx(1 - d5, rel=1e-6)  # 0 * d5 + 1 * (1 - d5)
