"""The schedule, a pure function of the iteration: warmup, decay, accumulation, and how it is applied to the optimizer."""

from __future__ import annotations

import dataclasses
import math

import pytest
from torch import nn

from fscfnet.cfg.train import TrainConfig
from fscfnet.engine.optim import build_optimizer
from fscfnet.engine.schedule import Schedule, SchedulePoint, apply


# ---------------------------------------------------------------------------------------------------- 2. schedule
def _resolved(cfg: TrainConfig, lr0: float, epochs: int) -> TrainConfig:
    """``cfg`` as a run's plan resolves it: the learning rate and epochs set."""
    return dataclasses.replace(cfg, lr0=lr0, epochs=epochs)


def _schedule(**kw) -> Schedule:
    values = dict(lr0=0.01, lrf=0.01, epochs=10, kind="linear", warmup=100, warmup_bias_lr=0.1,
                  warmup_momentum=0.8, momentum=0.937, batch=16, nbs=64)
    return Schedule(**{**values, **kw})


def _approx_point(p: SchedulePoint, lrs, momentum, accumulate):
    assert p.lrs == pytest.approx(lrs, rel=1e-9, abs=1e-15)
    assert p.momentum == pytest.approx(momentum, rel=1e-12)
    assert p.accumulate == accumulate


def test_warmup_interpolates_lr_momentum_and_accumulation_by_hand():
    """Warmup over 100 iterations, lr0 0.01, epochs 10, bias lr from 0.1, others from 0, momentum from 0.8 to
    0.937, accumulation from 1 to nbs/batch = 4 (rounded)."""
    s = _schedule()
    _approx_point(s(0, 0), (0.1, 0.0, 0.0), 0.8, 1)
    # it 60 of 100, epoch 0 (factor 1, lr 0.01): bias 0.1 - 0.6 * 0.09, others 0.6 * 0.01, 1 + 0.6 * 3 = 2.8
    _approx_point(s(60, 0), (0.046, 0.006, 0.006), 0.8 + 0.6 * 0.137, 3)
    # it 25, epoch 1: lr = 0.01 * ((1 - 1/10) * 0.99 + 0.01) = 0.00901; 1 + 0.25 * 3 = 1.75
    _approx_point(s(25, 1), (0.1 + 0.25 * (0.00901 - 0.1), 0.25 * 0.00901, 0.25 * 0.00901), 0.83425, 2)
    _approx_point(s(100, 1), (0.00901, 0.00901, 0.00901), 0.937, 4)  # the ramp's end point
    _approx_point(s(101, 1), (0.00901, 0.00901, 0.00901), 0.937, 4)  # after warmup
    # batch 48: the ramp ends at 64/48 = 1.33 -> 1; batch 100: 0.64, never below 1
    assert [_schedule(batch=48)(it, 0).accumulate for it in (0, 50, 100, 500)] == [1, 1, 1, 1]
    assert [_schedule(batch=100)(it, 0).accumulate for it in (0, 50, 100, 500)] == [1, 1, 1, 1]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_after_warmup_lr_decays_by_the_written_out_formula(kind):
    """lr = lr0 * f(e): linear (1 - e/E)(1 - lrf) + lrf, cosine ((1 - cos(pi e/E)) / 2)(lrf - 1) + 1; every
    group alike, constant within an epoch, lr0 * lrf at e = E."""
    lr0, lrf, E = 0.01, 0.05, 20
    s = _schedule(lr0=lr0, lrf=lrf, epochs=E, kind=kind)

    def f(e):
        if kind == "linear":
            return (1 - e / E) * (1 - lrf) + lrf
        return ((1 - math.cos(math.pi * e / E)) / 2) * (lrf - 1) + 1

    for e in (3, 7, 10, 19, 20):
        for it in (500 + 40 * e, 520 + 40 * e):
            _approx_point(s(it, e), (lr0 * f(e),) * 3, 0.937, 4)
    hand = {"linear": 0.8 * 0.95 + 0.05, "cosine": 1 - 0.95 * (1 - math.cos(0.2 * math.pi)) / 2}[kind]  # e = 4
    assert s(1000, 4).lrs[2] == pytest.approx(lr0 * hand, rel=1e-12)
    assert s.factor(0) == pytest.approx(1.0) and s.factor(E) == pytest.approx(lrf)
    assert s(1000, 5).lrs[2] > s(1000, 15).lrs[2]


def test_warmup_length_and_disabled_warmup():
    """warmup = max(round(warmup_epochs * nb), 100) iterations; warmup_epochs=0 disables it (iteration 0 already
    has the scheduled lr, momentum and full accumulation)."""
    cfg = TrainConfig(warmup_epochs=3.0)
    assert Schedule.from_config(_resolved(cfg, 0.01, 10), 50).warmup == 150
    assert Schedule.from_config(_resolved(cfg, 0.01, 10), 10).warmup == 100
    assert Schedule.from_config(_resolved(TrainConfig(warmup_epochs=0.5), 0.01, 10), 501).warmup == 250  # round(250.5)
    off = Schedule.from_config(_resolved(TrainConfig(warmup_epochs=0.0), 0.01, 10), 50)
    assert off.warmup == -1
    _approx_point(off(0, 0), (0.01, 0.01, 0.01), 0.937, 4)
    assert Schedule.from_config(_resolved(cfg, 0.002, 7), 50) == Schedule(0.002, 0.01, 7, "linear", 150, 0.1, 0.8, 0.937, 16, 64)


@pytest.mark.parametrize("name", ["AdamW", "SGD"])
def test_apply_sets_group_lrs_and_adamw_beta1_or_sgd_momentum(name):
    """``apply`` writes the three groups' lrs and the warmup momentum into AdamW betas[0] (beta2 kept) or SGD
    momentum."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = build_optimizer(model, TrainConfig(optimizer=name, lr0=0.01))
    s = _schedule()
    for it, beta1 in ((0, 0.8), (50, 0.8685), (200, 0.937)):
        p = s(it, 0)
        apply(opt, p)
        assert [g["lr"] for g in opt.param_groups] == list(p.lrs)
        for g in opt.param_groups:
            if name == "AdamW":
                assert g["betas"][0] == pytest.approx(beta1) and g["betas"][1] == 0.999
            else:
                assert g["momentum"] == pytest.approx(beta1) and "betas" not in g
    apply(opt, SchedulePoint((0.3, 0.2, 0.1), 0.5, 1))
    assert [g["lr"] for g in opt.param_groups] == [0.3, 0.2, 0.1]
    assert {g["betas"] if name == "AdamW" else g["momentum"] for g in opt.param_groups} == \
        {(0.5, 0.999) if name == "AdamW" else 0.5}
