"""The optimizer: the auto choice, accumulation to the nominal batch, scaled weight decay, parameter groups."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from fscfnet.cfg.train import TrainConfig
from fscfnet.engine.optim import (
    accumulation,
    build_optimizer,
    optimizer_steps,
    param_groups,
    scaled_weight_decay,
)


# ------------------------------------------------------------------------------------------------ 3. auto optimizer
def test_auto_picks_adamw_below_10000_steps_and_sgd_from_there():
    """optimizer_steps = epochs * ceil(images / max(batch, nbs)); auto: AdamW (lr 0.002, beta1 = momentum)
    at 9,999 steps, SGD (lr 0.01, nesterov, momentum 0.937) at 10,000; an explicit lr0 or optimizer is kept."""
    cfg = TrainConfig()  # batch 16, nbs 64
    assert optimizer_steps(99, 101 * 64, cfg) == 9_999
    assert optimizer_steps(100, 6400, cfg) == 10_000
    assert optimizer_steps(100, 6401, cfg) == 10_100  # ceil
    assert optimizer_steps(10, 1000, TrainConfig(batch=128)) == 10 * 8  # ceil(1000 / 128)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt, name, lr0 = _built(model, cfg, optimizer_steps(99, 101 * 64, cfg))
    assert type(opt) is torch.optim.AdamW and (name, lr0) == ("AdamW", 0.002)
    assert all(g["lr"] == 0.002 and g["betas"] == (0.937, 0.999) for g in opt.param_groups)
    opt, name, lr0 = _built(model, cfg, optimizer_steps(100, 6400, cfg))
    assert type(opt) is torch.optim.SGD and (name, lr0) == ("SGD", 0.01)
    assert all(g["lr"] == 0.01 and g["nesterov"] and g["momentum"] == 0.937 for g in opt.param_groups)
    for steps, kind in ((9_999, torch.optim.AdamW), (10_000, torch.optim.SGD)):
        opt, _, lr0 = _built(model, TrainConfig(lr0=0.005), steps)
        assert type(opt) is kind and lr0 == 0.005 and all(g["lr"] == 0.005 for g in opt.param_groups)
    opt, _, lr0 = _built(model, TrainConfig(optimizer="SGD"), 5)
    assert type(opt) is torch.optim.SGD and lr0 == 0.01
    opt, _, lr0 = _built(model, TrainConfig(optimizer="AdamW"), 10**6)
    assert type(opt) is torch.optim.AdamW and lr0 == 0.002
    with pytest.raises(ValueError, match="resolved optimizer"):
        build_optimizer(model, TrainConfig())  # "auto" and no lr0: the plan resolves them first


def _built(model: nn.Module, cfg: TrainConfig, steps: int) -> tuple[torch.optim.Optimizer, str, float]:
    """The optimizer a run of ``steps`` optimizer steps gets, as the plan resolves it, and its name and lr0."""
    name, lr0 = cfg.resolve_optimizer(steps)
    return build_optimizer(model, dataclasses.replace(cfg, optimizer=name, lr0=lr0)), name, lr0


# ------------------------------------------------------------------------------------ 4. accumulation, weight decay
def test_accumulation_to_nbs_and_scaled_weight_decay():
    """accumulate = max(round(nbs / batch), 1); weight decay = wd * batch * accumulate / nbs."""
    assert accumulation(16, 64) == 4 and accumulation(48, 64) == 1 and accumulation(100, 64) == 1
    assert accumulation(8, 64) == 8 and accumulation(24, 64) == 3 and accumulation(40, 64) == 2  # 2.67, 1.6
    assert scaled_weight_decay(TrainConfig(batch=16)) == pytest.approx(5e-4)  # 16 * 4 = 64
    assert scaled_weight_decay(TrainConfig(batch=48)) == pytest.approx(5e-4 * 48 / 64)
    assert scaled_weight_decay(TrainConfig(batch=100)) == pytest.approx(5e-4 * 100 / 64)
    assert scaled_weight_decay(TrainConfig(batch=24, weight_decay=1e-3)) == pytest.approx(1e-3 * 72 / 64)


def test_param_groups_biases_norm_weights_other_weights_and_decay_on_the_last_only():
    """Group 0: every bias (norm biases included); group 1: weights of any _BatchNorm (2d, 1d, SyncBatchNorm)
    and other norms; group 2: conv / linear weights, the only group with weight decay."""
    conv, bn2, sync, bn1 = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.SyncBatchNorm(4), nn.BatchNorm1d(4)
    lin = nn.Linear(4, 2)
    nobias = nn.Conv2d(4, 4, 1, bias=False)
    frozen = nn.Linear(2, 2)
    frozen.requires_grad_(False)
    model = nn.Sequential(conv, bn2, sync, nobias, nn.Sequential(bn1, lin), frozen)
    groups = param_groups(model, 0.123)
    ids = [{id(p) for p in g["params"]} for g in groups]
    assert ids[0] == {id(m.bias) for m in (conv, bn2, sync, bn1, lin)}
    assert ids[1] == {id(m.weight) for m in (bn2, sync, bn1)}
    assert ids[2] == {id(m.weight) for m in (conv, nobias, lin)}
    assert [g["weight_decay"] for g in groups] == [0.0, 0.0, 0.123]
    opt, _, _ = _built(model, TrainConfig(batch=48), 10)
    assert [g["weight_decay"] for g in opt.param_groups] == pytest.approx([0.0, 0.0, 5e-4 * 48 / 64])
    assert [len(g["params"]) for g in opt.param_groups] == [5, 3, 3]
