"""The assigner and the loss: tiny targets get positives on both heads; the dense (CUDA) form equals the sparse (CPU) one."""

from __future__ import annotations

import pytest
import torch
import torchvision

from fscfnet import build_model
from fscfnet.cfg.loss import LossConfig
from fscfnet.data.dataset import Targets, pad_targets
from fscfnet.detection.loss import V10DetectionLoss


def batch_targets(rows: list[list[float]], batch: int, size: int) -> Targets:
    """Rows ``[image, class, cx, cy, w, h]`` (normalised) -> the loader's padded :class:`Targets` at ``size`` px."""
    t = torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)
    return pad_targets([t[t[:, 0] == i, 1:] for i in range(batch)], size, size)


@pytest.mark.parametrize("cfg_path", ["fscfnet", "yolov10n"])
def test_two_pixel_target_gets_positives_with_nonzero_scores_on_both_heads(cfg_path):
    torch.manual_seed(0)
    model = build_model(cfg_path, nc=1)
    out = model(torch.rand(1, 3, 320, 320))
    for x, y in [(100.0, 60.0), (101.0, 61.0), (4.0, 317.0), (163.5, 170.5)]:  # on, off and between anchor centres
        targets = batch_targets([[0, 0, x / 320, y / 320, 2 / 320, 2 / 320]], 1, 320)
        for name, a in V10DetectionLoss(model).assign(out, targets).items():
            assert a.fg.sum() >= 1, (name, x, y)
            assert a.scores.max() > 0.1, (name, x, y, a.scores.max())
    # the YOLOv8 recipe (uniform DFL init, CIoU-only quality, no candidate enlargement) leaves it ~nothing: a 2x2 px
    # target centred on the stride-8 anchor (100, 60) (= 4 + 8 * (12, 7)), the only anchor centre inside it, is
    # picked, but its class target is the CIoU of that anchor's ~120 px initial box with the target, < 1e-3
    for branch in (model.head.one2many, model.head.one2one):
        for conv in branch.box:
            torch.nn.init.constant_(conv[-1].bias, 1.0)
    out = model(torch.rand(1, 3, 320, 320))
    plain = V10DetectionLoss(model, LossConfig(nwd_ratio=1.0, min_candidate_px=0.0))
    target = torch.tensor([[99.0, 59.0, 101.0, 61.0]])
    a = plain.assign(out, batch_targets([[0, 0, 100 / 320, 60 / 320, 2 / 320, 2 / 320]], 1, 320))
    for name, v in a.items():
        assert v.fg[0].nonzero().flatten().tolist() == [7 * 40 + 12], name  # that anchor, and only it
        # by hand: the anchor's DFL distances (grid cells) from the raw P3 map, CIoU by torchvision
        reg_max = model.head.reg_max
        logits = out[name][0][0, :4 * reg_max, 7, 12].detach().view(4, reg_max)
        dist = logits.softmax(-1) @ torch.arange(reg_max).float()
        box = torch.cat((torch.tensor([12.5, 7.5]) - dist[:2], torch.tensor([12.5, 7.5]) + dist[2:]))[None] * 8
        assert box[0, 2] - box[0, 0] > 60  # the uniform init's large box
        expected = torchvision.ops.complete_box_iou(box, target)[0, 0].clamp(min=0)
        assert v.scores.max().item() == pytest.approx(expected.item(), rel=1e-3, abs=1e-7), name
        assert v.scores.max() < 1e-3, name


def test_dense_loss_and_assignment_equal_the_sparse_ones_in_value_and_gradient():
    """The sync-free dense form (CUDA's) against the nonzero-gathered sparse form (the CPU's), forced on the CPU:
    a batch with several targets, an image with none (padded rows, whose empty boxes give CIoU NaN) and a target
    at the border; the same positives, the same loss terms and the same gradients."""
    torch.manual_seed(0)
    model = build_model("yolov10n", nc=2)
    x = torch.rand(3, 3, 128, 128)
    targets = batch_targets([[0, 0, 0.30, 0.40, 0.03, 0.04], [0, 1, 0.70, 0.20, 0.20, 0.10],
                             [0, 0, 0.71, 0.22, 0.05, 0.05], [2, 1, 0.02, 0.97, 0.03, 0.03]], 3, 128)  # image 1: none
    results = {}
    for dense in (False, True):
        model.zero_grad()
        out = model(x)
        loss_fn = V10DetectionLoss(model, dense=dense)
        loss, parts = loss_fn(out, targets)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results[dense] = (parts, grads, loss_fn.assign(out, targets))
    (ps, gs, a_s), (pd, gd, a_d) = results[False], results[True]
    assert torch.isfinite(pd).all() and torch.isfinite(gd).all()
    assert (ps > 0).all()  # every term is exercised
    torch.testing.assert_close(pd, ps, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gd, gs, rtol=1e-4, atol=1e-6)
    for name in ("one2many", "one2one"):
        assert torch.equal(a_d[name].fg, a_s[name].fg) and a_s[name].fg.sum() > 0
        torch.testing.assert_close(a_d[name].scores, a_s[name].scores, rtol=1e-5, atol=1e-7)
