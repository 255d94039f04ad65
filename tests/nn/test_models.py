"""Every model config builds, trains (forward + backward) and infers with the documented shapes."""

from __future__ import annotations

import pytest
import torch

from fscfnet import build_model
from fscfnet.cfg import MODELS_DIR
from fscfnet.nn.head import V10Detect, topk_detections

# docs/design.md §2: the authors' modules inside YOLOv10's framework, nc=1, training graph (both heads).
REFERENCE_PARAMS = {"fscfnet.yaml": 2_869_018, "yolov10n.yaml": 2_707_000}


def test_all_configs_found():
    names = {p.name for p in sorted(MODELS_DIR.glob("*.yaml"))}
    assert {"fscfnet.yaml", "yolov10n.yaml", "fscfnet-aca.yaml", "fscfnet-mrcb.yaml", "fscfnet-fsconv.yaml"} <= names


@pytest.mark.parametrize("name,expected", REFERENCE_PARAMS.items())
def test_parameter_count_matches_reference(name, expected):
    model = build_model(MODELS_DIR / name, nc=1)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - expected) / expected < 0.02, n


def test_ablation_configs_add_one_module_each():
    counts = {p.stem: sum(q.numel() for q in build_model(p, nc=1).parameters()) for p in sorted(MODELS_DIR.glob("*.yaml"))}
    base = counts["yolov10n"]
    extra = {k: counts[f"fscfnet-{k}"] - base for k in ("aca", "mrcb", "fsconv")}
    assert all(v > 0 for v in extra.values())
    assert counts["fscfnet"] - base == sum(extra.values())  # the three changes touch disjoint layers


def test_backbone_stage_shapes_at_640():
    model = build_model(MODELS_DIR / "fscfnet.yaml", nc=1).eval()
    shapes = {}
    hooks = [model.layers[i].register_forward_hook(lambda m, i_, o, i=i: shapes.__setitem__(i, tuple(o.shape[1:])))
             for i in (0, 2, 4, 6, 10)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 640, 640))
    for h in hooks:
        h.remove()
    assert [shapes[i] for i in (0, 2, 4, 6, 10)] == [
        (16, 320, 320), (32, 160, 160), (64, 80, 80), (128, 40, 40), (256, 20, 20)]
    assert model.stride.tolist() == [8.0, 16.0, 32.0]


@pytest.mark.parametrize("cfg", sorted(MODELS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("ch", [3, 1])
def test_train_and_eval_forward(cfg, ch):
    model = build_model(cfg, nc=2, ch=ch)
    for shape in [(1, ch, 64, 64), (2, ch, 96, 128)]:
        model.train()
        x = torch.randn(*shape)
        out = model(x)
        assert set(out) == {"one2many", "one2one"}
        b, _, h, w = shape
        for branch in out.values():
            assert [tuple(t.shape) for t in branch] == [(b, 64 + 2, h // s, w // s) for s in (8, 16, 32)]
        loss = sum(t.float().square().mean() for branch in out.values() for t in branch)
        model.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        model.eval()
        with torch.no_grad():
            det = model(x)
        assert det.shape == (b, 300, 6)
        assert ((det[..., 4] >= 0) & (det[..., 4] <= 1)).all()
        assert set(det[..., 5].unique().tolist()) <= {0.0, 1.0}


def test_one_to_one_branch_sees_detached_features():
    model = build_model(MODELS_DIR / "yolov10n.yaml", nc=1)
    out = model(torch.randn(1, 3, 64, 64))
    sum(t.sum() for t in out["one2one"]).backward()
    backbone_grads = [p.grad for p in model.layers[0].parameters()]
    assert all(g is None or not g.any() for g in backbone_grads)
    assert any(p.grad is not None and p.grad.any() for p in model.head.one2one.parameters())


def test_head_decodes_boxes_in_input_pixels():
    head = V10Detect(nc=1, ch=[8, 8]).eval()
    head.stride.copy_(torch.tensor([8.0, 16.0]))
    # level 0: 2x2 grid of stride 8; all distances certain at bin 2 (left, top) and 3 (right, bottom)
    p0 = torch.full((1, 65, 2, 2), -30.0)
    for side, b in enumerate((2, 2, 3, 3)):
        p0[:, side * 16 + b] = 30.0
    p1 = torch.full((1, 65, 1, 1), -30.0)
    p0[:, 64] = torch.tensor([[-5.0, 4.0], [-5.0, -5.0]])  # the best score sits at grid cell x=1, y=0
    det = topk_detections(head.decode([p0, p1]), head.max_det)
    best = det[0, 0]
    cx, cy = (1 + 0.5) * 8, (0 + 0.5) * 8
    assert best[:4].tolist() == pytest.approx([cx - 16, cy - 16, cx + 24, cy + 24], abs=1e-3)
    assert best[4].item() == pytest.approx(torch.sigmoid(torch.tensor(4.0)).item(), abs=1e-6)
    assert det.shape == (1, 300, 6) and (det[0, 5:] == 0).all()  # 5 anchors, the rest zero-padded


def _topk_reference(pred: torch.Tensor, max_det: int) -> torch.Tensor:
    """Per image: keep the max_det anchors with the best class score, then the max_det best (anchor, class)."""
    rows = []
    for p in pred:
        nc = p.shape[1] - 4
        keep = sorted(range(len(p)), key=lambda a: -p[a, 4:].max().item())[:max_det]
        pairs = sorted(((p[a, 4 + c].item(), a, c) for a in keep for c in range(nc)), reverse=True)[:max_det]
        rows.append(torch.tensor([[*p[a, :4].tolist(), s, c] for s, a, c in pairs]))
    return torch.stack(rows)


@pytest.mark.parametrize("nc", [1, 3])
def test_topk_detections_matches_reference(nc):
    pred = torch.rand(2, 40, 4 + nc)
    out = topk_detections(pred, 10)
    assert torch.allclose(out, _topk_reference(pred, 10))
    padded = topk_detections(pred, 50)
    assert padded.shape == (2, 50, 6) and (padded[:, 40:] == 0).all()
