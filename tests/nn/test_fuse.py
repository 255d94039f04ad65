"""fuse(): folded BatchNorm and merged branches give the unfused eval output, without the one-to-many head."""

from __future__ import annotations

import copy

import pytest
import torch

from fscfnet import build_model
from fscfnet.cfg import MODELS_DIR
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


def _spread_class_logits(model: torch.nn.Module) -> None:
    """Class logits of order 1 on both heads (independent draws): the prior bias (about -7) leaves every score
    near 8e-4, where any class branch, right or wrong, agrees to within an absolute 1e-3."""
    for branch in (model.head.one2many, model.head.one2one):
        for cls in branch.cls:
            cls[-1].weight.data.normal_(0, 3 / cls[-1].in_channels ** 0.5)
            cls[-1].bias.data.uniform_(-1, 1)


def _assert_close_relative(out: torch.Tensor, ref: torch.Tensor, rel: float, what: str) -> None:
    """Max |out - ref| within ``rel`` times the largest |ref| (float32 folding error scales with the values)."""
    err, scale = (out - ref).abs().max().item(), ref.abs().max().item()
    assert err <= rel * scale, f"{what}: max error {err:.3g} > {rel:g} x {scale:.3g}"


@pytest.mark.parametrize("cfg", sorted(MODELS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_fused_output_equals_unfused(cfg):
    model = build_model(cfg, nc=1)
    _trained_bn(model)
    _spread_class_logits(model)
    model.eval()
    fused = copy.deepcopy(model).fuse()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        ref, out = model(x), fused(x)
        raw_ref = model.head.one2one(model.head_inputs(x))
        raw_out = fused.head.one2one(fused.head_inputs(x))
        # every anchor's decoded box and score, before top-k (whose order near-ties may swap)
        dense_ref, dense_out = model.head.decode(raw_ref), fused.head.decode(raw_out)
    bn = torch.nn.BatchNorm2d  # every BatchNorm folded away in the fused copy, none in the original
    assert not any(isinstance(m, bn) for m in fused.modules()) and any(isinstance(m, bn) for m in model.modules())
    assert fused.head.one2many is None
    assert not any(isinstance(m, RepVGGDW) and m.conv1 is not None for m in fused.modules())
    scores = dense_ref[..., 4:]
    assert scores.max() - scores.min() > 0.1  # non-trivial scores: a wrong class branch moves them by ~0.2-0.4
    # measured: float32 folding error ~3e-8 of the largest value (boxes 1.5e-5 px of 131, logits 5e-7 of 1.2)
    assert len(raw_out) == len(raw_ref) == 3
    for level, (o, r) in enumerate(zip(raw_out, raw_ref)):
        assert o.shape == r.shape
        bins_o, cls_o = o.split((o.shape[1] - 1, 1), 1)
        bins_r, cls_r = r.split((r.shape[1] - 1, 1), 1)
        _assert_close_relative(cls_o, cls_r, 1e-5, f"class logits, level {level}")
        _assert_close_relative(bins_o, bins_r, 1e-5, f"box-bin logits, level {level}")
    _assert_close_relative(dense_out[..., 4:], scores, 1e-5, "scores")
    _assert_close_relative(dense_out[..., :4], dense_ref[..., :4], 1e-5, "boxes (px)")
    assert out.shape == ref.shape == (2, 300, 6)
    _assert_close_relative(out[..., 4].sort(-1).values, ref[..., 4].sort(-1).values, 1e-5, "top-k scores")
    n_fused = sum(p.numel() for p in fused.parameters())
    assert n_fused < sum(p.numel() for p in model.parameters())


def test_fuse_conv_bn_is_exact_in_float64():
    conv = Conv(4, 6, 3, 2, g=2).double().eval()
    conv.bn.running_mean.uniform_(-1, 1)
    conv.bn.running_var.uniform_(0.5, 2)
    conv.bn.weight.data.uniform_(-2, 2)  # not the initial 1 and 0: the fold must use gamma and beta
    conv.bn.bias.data.uniform_(-1, 1)
    x = torch.randn(1, 4, 9, 9, dtype=torch.float64)
    ref = conv(x)
    bn = conv.bn  # the definition, written out: SiLU((conv(x) - mean) / sqrt(var + eps) * gamma + beta)
    by_hand = torch.nn.functional.silu((conv.conv(x) - bn.running_mean.view(-1, 1, 1)) / (
        bn.running_var.view(-1, 1, 1) + bn.eps).sqrt() * bn.weight.view(-1, 1, 1) + bn.bias.view(-1, 1, 1))
    assert torch.allclose(ref, by_hand, rtol=0, atol=1e-12)
    conv.fuse()
    assert isinstance(conv.bn, torch.nn.Identity)
    assert torch.allclose(conv(x), ref, rtol=0, atol=1e-12)
    conv.fuse()  # idempotent
    assert torch.allclose(conv(x), ref, rtol=0, atol=1e-12)


def test_fused_model_cannot_train():
    model = build_model(sorted(MODELS_DIR.glob("*.yaml"))[0], nc=1).fuse().train()
    with pytest.raises(RuntimeError, match="fused for inference"):
        model(torch.randn(1, 3, 64, 64))


def test_fuse_conv_bn_keeps_conv_class():
    from fscfnet.nn.blocks import GroupSumConv2d
    conv = GroupSumConv2d(8, 4, 3, padding=1, groups=4, bias=False)
    bn = torch.nn.BatchNorm2d(4).eval()
    assert isinstance(fuse_conv_bn(conv, bn), GroupSumConv2d)
