"""FSCFNet modules against independent references: pytorch_wavelets for the DWT, the design's words (docs/design.md §3) for
ACA/FSConv/MRCB."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fscfnet.nn.aca import ACA, ConvACA
from fscfnet.nn.blocks import Conv, GroupSumConv2d
from fscfnet.nn.fsconv import FSConv, HaarDWT
from fscfnet.nn.mrcb import MRCB, RFBlock


def DWTForward(**kwargs) -> torch.nn.Module:  # noqa: N802 (the reference's own name)
    return pytest.importorskip("pytorch_wavelets").DWTForward(**kwargs)


BN_EPS = 1e-3  # Ultralytics' Conv BatchNorm eps, which the references below assume


def _randomize_bn(module: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics, so eval-mode tests exercise them."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)


@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (1, 4, 7, 9), (2, 5, 6, 5), (1, 2, 1, 1)])
def test_haar_dwt_matches_pytorch_wavelets(shape):
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    low, high = HaarDWT(shape[1]).double()(x)
    ref_low, (ref_high,) = DWTForward(J=1, wave="haar", mode="zero").double()(x_ref)
    assert low.shape == ref_low.shape and high.shape == ref_high.shape
    assert torch.allclose(low, ref_low, atol=1e-5) and torch.allclose(high, ref_high, atol=1e-5)
    g_low, g_high = torch.randn_like(low), torch.randn_like(high)
    (low * g_low).sum().add((high * g_high).sum()).backward()
    (ref_low * g_low).sum().add((ref_high * g_high).sum()).backward()
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-5)


def test_haar_dwt_float32_and_band_formulas():
    x = torch.randn(1, 1, 2, 2)
    a, b, c, d = x.flatten().tolist()
    low, high = HaarDWT(1)(x)
    assert low.item() == pytest.approx((a + b + c + d) / 2, abs=1e-6)
    expected = [(a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2]
    assert high.flatten().tolist() == pytest.approx(expected, abs=1e-6)


def _fsconv_reference(m: FSConv, x: torch.Tensor) -> torch.Tensor:
    """FSConv as the authors compute it, with pytorch_wavelets doing the DWT (docs/design.md §3 steps 1-6)."""
    x1, x2 = m.expand(x).split(m.c1, dim=1)
    yl, (yh,) = DWTForward(J=1, wave="haar", mode="zero").to(x.dtype)(x2)
    high = torch.cat([yh[:, :, 0], yh[:, :, 1], yh[:, :, 2]], 1)  # band-major, as the authors concatenate
    h = m.high(high)
    gate = torch.sigmoid(m.se.fc[2](torch.relu(m.se.fc[0](h.mean((2, 3))))))
    return m.merge(torch.cat((m.spatial(x1) * h * gate[:, :, None, None], m.low(yl)), 1))


@pytest.mark.parametrize("hw", [(16, 16), (15, 11)])
def test_fsconv_matches_reference_and_halves(hw):
    m = FSConv(16, 32).double().eval()
    _randomize_bn(m)
    x = torch.randn(2, 16, *hw, dtype=torch.float64)
    y = m(x)
    assert y.shape == (2, 32, math.ceil(hw[0] / 2), math.ceil(hw[1] / 2))
    assert torch.allclose(y, _fsconv_reference(m, x), atol=1e-8)


def test_fsconv_autocast_bfloat16_forward_backward():
    m = FSConv(16, 32)
    x = torch.randn(2, 16, 20, 20, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert y.dtype == torch.bfloat16
    y.float().square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


def _aca_reference(m: ACA, x: torch.Tensor) -> torch.Tensor:
    """ACA written from docs/design.md §3 with plain grouped convs: pads, per-channel H x H attention, softmax over H*H."""
    def cbs(conv: Conv, t: torch.Tensor) -> torch.Tensor:
        w = conv.conv.weight
        return F.silu(conv.bn(F.conv2d(t, w, None, groups=x.shape[1] // w.shape[1])))
    q = cbs(m.q, F.pad(x, (2, 0, 0, 0)))
    k = cbs(m.k, F.pad(x, (0, 0, 2, 0)))
    v = cbs(m.v, F.pad(x, (0, 2, 0, 2)))
    b, h, rows, cols = q.shape
    out = torch.empty_like(v)
    for i in range(b):
        for j in range(h):
            scores = q[i, j] @ k[i, j].T / math.sqrt(h)
            out[i, j] = torch.softmax(scores.flatten(), 0).view(rows, rows) @ v[i, j]
    return torch.sigmoid(m.out(torch.cat((out, q, k), 1)))


@pytest.mark.parametrize("hw", [(8, 8), (6, 10)])
def test_aca_matches_reference_on_square_and_non_square_maps(hw):
    m = ACA(32).double().eval()
    _randomize_bn(m)
    x = torch.randn(2, 32, *hw, dtype=torch.float64)
    y = m(x)
    assert y.shape == x.shape and (y > 0).all() and (y < 1).all()
    assert torch.allclose(y, _aca_reference(m, x), atol=1e-8)


def test_conv_aca_gates_its_own_conv_output():
    """docs/design.md §3: ConvACA = Conv2d + BatchNorm with no activation, times ACA of that output. The conv and its
    BatchNorm written out with F.conv2d / F.batch_norm from the stored tensors; ACA by the reference above."""
    m = ConvACA(8, 32, 3, 2).double().eval()
    _randomize_bn(m)
    x = torch.randn(2, 8, 16, 12, dtype=torch.float64)
    y = m(x)
    bn = m.conv.bn
    base = F.batch_norm(F.conv2d(x, m.conv.conv.weight, None, stride=2, padding=1), bn.running_mean,
                        bn.running_var, bn.weight, bn.bias, False, 0.0, BN_EPS)
    assert y.shape == (2, 32, 8, 6) and (base < 0).any()  # negatives: an activation on the conv would show
    torch.testing.assert_close(y, base * _aca_reference(m.aca, base), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k,c1,c2", [(3, 64, 32), (3, 24, 8), (5, 12, 4)])
def test_group_sum_conv_equals_grouped_conv(k, c1, c2):
    assert GroupSumConv2d.applies(c1, c2, k, c2)
    fast = GroupSumConv2d(c1, c2, k, padding=k // 2, groups=c2, bias=True).double()
    x = torch.randn(2, c1, 9, 7, dtype=torch.float64, requires_grad=True)
    y = fast(x)
    ref = F.conv2d(x, fast.weight, fast.bias, padding=k // 2, groups=c2)
    assert torch.allclose(y, ref, atol=1e-10)
    g = torch.randn_like(y)
    grads = torch.autograd.grad((y * g).sum(), (x, fast.weight))
    ref_grads = torch.autograd.grad((ref * g).sum(), (x, fast.weight))
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(grads, ref_grads))


def test_group_sum_conv_is_only_used_where_measured_faster():
    assert not GroupSumConv2d.applies(64, 32, (1, 3), 32)  # asymmetric kernels train faster as grouped convs
    assert not GroupSumConv2d.applies(64, 64, 3, 64)  # depthwise already
    assert not GroupSumConv2d.applies(64, 32, 3, 16)  # two outputs per group


def test_rfblock_and_mrcb_shapes_and_channels():
    rfb = RFBlock(32, 32)
    assert rfb.splits == [4, 4, 4, 32]  # inter = c / 8 for the three branches, then the shortcut
    y = rfb(torch.randn(2, 32, 10, 6))
    assert y.shape == (2, 32, 10, 6) and (y >= 0).all()  # ReLU output
    m = MRCB(48, 64, n=2, shortcut=True)
    assert m.cv2.conv.in_channels == (3 + 2) * 32  # (3 + n) * c with c = c2 / 2
    assert m(torch.randn(1, 48, 12, 8)).shape == (1, 64, 12, 8)


def _conv_bn(p: dict, x: torch.Tensor, dilation: int = 1) -> torch.Tensor:
    """Conv (no bias, 'same' padding for an odd kernel at ``dilation``) + eval-mode BatchNorm, from plain tensors
    ``p`` = {w, gamma, beta, mean, var}."""
    k = p["w"].shape[-1]
    y = F.conv2d(x, p["w"], None, 1, dilation * (k - 1) // 2, dilation)
    return F.batch_norm(y, p["mean"], p["var"], p["gamma"], p["beta"], False, 0.0, BN_EPS)


def _mrcb_reference(p: dict, x: torch.Tensor, shortcut: bool) -> torch.Tensor:
    """MRCB written from docs/design.md §3 and the paper's MRCB figure, with its own parameter layout ``p``:
    C2f (1x1 Conv to 2c, split y0 | y1, n chained Bottlenecks of two 3x3 Convs from y1, each kept) plus an
    RFBlock on y0 appended; concat (3 + n) c -> 1x1 Conv -> c2. Conv = conv + BN + SiLU (YOLO's CBS)."""
    y = F.silu(_conv_bn(p["cv1"], x))
    c = y.shape[1] // 2
    y0, y1 = y[:, :c], y[:, c:]
    outs, t = [y0, y1], y1
    for cv1, cv2 in p["bottlenecks"]:
        z = F.silu(_conv_bn(cv2, F.silu(_conv_bn(cv1, t))))
        t = t + z if shortcut else z
        outs.append(t)
    # RFBlock: three branches, BN everywhere, ReLU except after the first 1x1 and the last (dilated) conv
    r = p["rfb"]
    branches = []
    for convs, dilation in zip(r["branches"], (1, 3, 5), strict=True):
        t = _conv_bn(convs[0], y0)  # 1x1, no ReLU
        for q in convs[1:-1]:
            t = F.relu(_conv_bn(q, t))  # 3x3s, ReLU
        branches.append(_conv_bn(convs[-1], t, dilation))  # 3x3 dilated, no ReLU
    rfb = F.relu(0.1 * _conv_bn(r["linear"], torch.cat(branches, 1)) + _conv_bn(r["shortcut"], y0))
    outs.append(rfb)
    return F.silu(_conv_bn(p["cv2"], torch.cat(outs, 1)))


def _mrcb_reference_params(m: MRCB) -> dict:
    """The module's weights in the reference's layout. The module computes the three branch-entry 1x1 convs and
    the shortcut projection as one 1x1 conv with their outputs stacked (branch 0, 1, 2, shortcut): split it."""
    sd = m.state_dict()

    def cbn(name: str, rows: slice = slice(None)) -> dict:
        return {"w": sd[f"{name}.conv.weight"][rows], "gamma": sd[f"{name}.bn.weight"][rows],
                "beta": sd[f"{name}.bn.bias"][rows], "mean": sd[f"{name}.bn.running_mean"][rows],
                "var": sd[f"{name}.bn.running_var"][rows]}

    c = m.c
    inter = c // 8  # docs/design.md §3: inter = c / 8
    entry = [cbn("rfb.entry", slice(i * inter, (i + 1) * inter)) for i in range(3)]
    return {
        "cv1": cbn("cv1"), "cv2": cbn("cv2"),
        "bottlenecks": [(cbn(f"m.{i}.cv1"), cbn(f"m.{i}.cv2")) for i in range(len(m.m))],
        "rfb": {"branches": [[entry[0], cbn("rfb.branches.0.0"), cbn("rfb.branches.0.1")],
                             [entry[1], cbn("rfb.branches.1.0"), cbn("rfb.branches.1.1")],
                             [entry[2], cbn("rfb.branches.2.0"), cbn("rfb.branches.2.1"), cbn("rfb.branches.2.2")]],
                "linear": cbn("rfb.linear"), "shortcut": cbn("rfb.entry", slice(3 * inter, 3 * inter + c))},
    }


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    else:
        for v in (obj.values() if isinstance(obj, dict) else obj):
            yield from _tensors(v)


@pytest.mark.parametrize("c1,c2,n,shortcut,hw", [(48, 64, 2, True, (12, 8)), (32, 32, 1, False, (7, 5)),
                                                  (16, 128, 3, True, (11, 13)), (24, 32, 1, True, (4, 6))])
def test_mrcb_matches_reference_written_from_the_paper(c1, c2, n, shortcut, hw):
    m = MRCB(c1, c2, n=n, shortcut=shortcut).double().eval()
    _randomize_bn(m)
    p = _mrcb_reference_params(m)
    inter, c = m.c // 8, c2 // 2
    # the reference's own channel plan (docs/design.md §3): branch widths inter -> 2 inter, the third via 1.5 inter
    assert [[q["w"].shape[:2] for q in b] for b in p["rfb"]["branches"]] == [
        [(inter, c), (2 * inter, inter), (2 * inter, 2 * inter)],
        [(inter, c), (2 * inter, inter), (2 * inter, 2 * inter)],
        [(inter, c), (inter // 2 * 3, inter), (2 * inter, inter // 2 * 3), (2 * inter, 2 * inter)]]
    assert p["rfb"]["linear"]["w"].shape[:2] == (c, 6 * inter) and p["cv2"]["w"].shape[:2] == (c2, (3 + n) * c)
    # every stored tensor is used by the reference (nothing of the module's left out)
    stored = sum(v.numel() for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked"))
    assert sum(t.numel() for t in _tensors(p)) == stored
    x = torch.randn(2, c1, *hw, dtype=torch.float64)
    y = m(x)
    assert y.shape == (2, c2, *hw)
    torch.testing.assert_close(y, _mrcb_reference(p, x, shortcut), rtol=1e-10, atol=1e-10)
