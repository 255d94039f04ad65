"""Box measures the loss and the assigner use: CIoU against torchvision and its formula, NWD by hand, the DFL as cross-entropy on two bins."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import complete_box_iou_loss

from fscfnet.detection.boxes import box_quality, ciou, nwd
from fscfnet.detection.loss import dfl_loss


def test_nwd_equals_hand_computed_value():
    a, b = torch.tensor([0.0, 0, 4, 4]), torch.tensor([3.0, 4, 9, 8])
    # centres (2, 2) and (6, 6); sizes 4x4 and 6x4: W2^2 = 4^2 + 4^2 + (2^2 + 0^2) / 4 = 33
    assert nwd(a, b).item() == pytest.approx(math.exp(-math.sqrt(33) / 12.8), rel=1e-6)
    assert nwd(a, b, c=6.4).item() == pytest.approx(math.exp(-math.sqrt(33) / 6.4), rel=1e-6)
    assert box_quality(a, b, 0.5, 12.8).item() == pytest.approx(0.5 * ciou(a, b).item() + 0.5 * math.exp(-math.sqrt(33) / 12.8))
    assert box_quality(a, b, 1.0, 12.8).item() == ciou(a, b).item()


# ---------------------------------------------------------------------------------------------------- 7. loss terms
def _random_boxes(n: int, g: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 60
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 30 + 0.5
    return torch.cat((xy, xy + wh), 1)


def _ciou_by_formula(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    wa, ha, wb, hb = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    iou = inter / (wa * ha + wb * hb - inter)
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    rho2 = ((a[:, 0] + a[:, 2] - b[:, 0] - b[:, 2]) / 2) ** 2 + ((a[:, 1] + a[:, 3] - b[:, 1] - b[:, 3]) / 2) ** 2
    v = 4 / math.pi ** 2 * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    alpha = v / (1 - iou + v)
    return iou - rho2 / (cw ** 2 + ch ** 2) - alpha * v


def test_ciou_matches_torchvision_and_the_written_out_formula():
    """CIoU = IoU - rho^2 / c^2 - alpha v on random (overlapping and disjoint) boxes, = 1 - torchvision's
    complete_box_iou_loss; one case by hand."""
    g = torch.Generator().manual_seed(1)
    a, b = _random_boxes(500, g), _random_boxes(500, g)
    got = ciou(a, b)
    ref = 1 - complete_box_iou_loss(a, b, reduction="none")
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(got, _ciou_by_formula(a, b), rtol=0, atol=1e-6)
    assert got.min() < -0.2 and got.max() > 0.5  # disjoint and well-overlapping pairs both covered
    assert ciou(a.view(20, 25, 4).float(), b.view(20, 25, 4).float()).shape == (20, 25)
    # (0,0,4,4) vs (2,0,6,4): IoU 8/24, centres 2 apart, enclosing box 6x4 (c^2 = 52), same aspect (v = 0)
    hand = ciou(torch.tensor([0.0, 0, 4, 4]), torch.tensor([2.0, 0, 6, 4])).item()
    assert hand == pytest.approx(1 / 3 - 4 / 52, abs=1e-6)


def test_dfl_loss_is_cross_entropy_on_the_two_neighbouring_bins():
    """DFL(t) = CE(left) * (right - t) + CE(right) * (t - left), left = floor(t), right = left + 1, CE written
    out as -log_softmax; uniform logits give log(reg_max) for any t."""
    g = torch.Generator().manual_seed(3)
    reg_max = 16
    logits = torch.randn(200, reg_max, generator=g, dtype=torch.float64) * 3
    t = torch.rand(200, generator=g, dtype=torch.float64) * (reg_max - 1 - 0.01)
    t[:5] = torch.tensor([0.0, 3.0, 7.0, 14.0, 14.99], dtype=torch.float64)  # whole bins and the top end
    logp = torch.log_softmax(logits, -1)
    left = torch.floor(t)
    right = left + 1
    ce_l = -logp.gather(1, left.long()[:, None])[:, 0]
    ce_r = -logp.gather(1, right.long()[:, None])[:, 0]
    torch.testing.assert_close(dfl_loss(logits, t), ce_l * (right - t) + ce_r * (t - left), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ce_l, F.cross_entropy(logits, left.long(), reduction="none"))  # the CE written out
    torch.testing.assert_close(dfl_loss(logits[:2], t[:2]), ce_l[:2])  # whole-bin targets: one bin only
    flat = dfl_loss(torch.zeros(3, reg_max), torch.tensor([0.0, 5.25, 14.5]))
    torch.testing.assert_close(flat, torch.full((3,), math.log(reg_max)))
