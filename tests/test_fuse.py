"""fuse(): folded BatchNorm and merged branches give the unfused eval output, without the one-to-many head."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import MODEL_CFGS
from fscfnet import build_model
from fscfnet.nn.blocks import Conv, RepVGGDW, fuse_conv_bn


def _trained_bn(model: torch.nn.Module) -> None:
    """A few train-mode forwards on random data give every BatchNorm non-trivial running statistics."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(2, model.ch, 64, 64) * 2 + 0.5)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


@pytest.mark.parametrize("cfg", MODEL_CFGS, ids=lambda p: p.stem)
def test_fused_output_equals_unfused(cfg):
    model = build_model(cfg, nc=1)
    _trained_bn(model)
    model.eval()
    fused = copy.deepcopy(model).fuse()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        ref, out = model(x), fused(x)
        # every anchor's decoded box and score, before top-k (whose order near-ties may swap)
        dense_ref = model.head.decode(model.head.one2one(model.head_inputs(x)))
        dense_out = fused.head.decode(fused.head.one2one(fused.head_inputs(x)))
    assert fused.is_fused and not model.is_fused
    assert fused.head.one2many is None
    assert not any(isinstance(m, RepVGGDW) and m.conv1 is not None for m in fused.modules())
    assert (dense_ref[..., 4:] - dense_out[..., 4:]).abs().max() <= 1e-3
    assert (dense_ref[..., :4] - dense_out[..., :4]).abs().max() <= 1e-3
    assert out.shape == ref.shape == (2, 300, 6)
    assert (ref[..., 4].sort(-1).values - out[..., 4].sort(-1).values).abs().max() <= 1e-3
    n_fused = sum(p.numel() for p in fused.parameters())
    assert n_fused < sum(p.numel() for p in model.parameters())


def test_fuse_conv_bn_is_exact_in_float64():
    conv = Conv(4, 6, 3, 2, g=2).double().eval()
    conv.bn.running_mean.uniform_(-1, 1)
    conv.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(1, 4, 9, 9, dtype=torch.float64)
    ref = conv(x)
    conv.fuse()
    assert isinstance(conv.bn, torch.nn.Identity)
    assert torch.allclose(conv(x), ref, atol=1e-12)
    conv.fuse()  # idempotent
    assert torch.allclose(conv(x), ref, atol=1e-12)


def test_fused_model_cannot_train():
    model = build_model(MODEL_CFGS[0], nc=1).fuse().train()
    with pytest.raises(RuntimeError, match="fused for inference"):
        model(torch.randn(1, 3, 64, 64))


def test_fuse_conv_bn_keeps_conv_class():
    from fscfnet.nn.blocks import GroupSumConv2d
    conv = GroupSumConv2d(8, 4, 3, padding=1, groups=4, bias=False)
    bn = torch.nn.BatchNorm2d(4).eval()
    assert isinstance(fuse_conv_bn(conv, bn), GroupSumConv2d)
