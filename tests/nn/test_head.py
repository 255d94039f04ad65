"""Detection head: anchor generation (values, and no device baked into a traced graph)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import torch

from fscfnet import build_model
from fscfnet.cfg import MODELS_DIR
from fscfnet.nn.head import make_anchors


def test_make_anchors_equals_a_numpy_grid():
    feats = [torch.zeros(2, 5, 6, 10), torch.zeros(2, 5, 3, 5), torch.zeros(2, 5, 1, 1)]
    points, strides = make_anchors(feats, torch.tensor([8.0, 16.0, 32.0]))
    ref_pts, ref_s = [], []
    for (h, w), s in zip([(6, 10), (3, 5), (1, 1)], (8, 16, 32)):
        ys, xs = np.mgrid[0:h, 0:w]
        ref_pts.append(np.stack([xs.ravel(), ys.ravel()], 1) + 0.5)  # row-major, (x, y)
        ref_s.append(np.full((h * w, 1), s))
    assert points.dtype == strides.dtype == torch.float32
    np.testing.assert_array_equal(points.numpy(), np.concatenate(ref_pts))
    np.testing.assert_array_equal(strides.numpy(), np.concatenate(ref_s))
    half, _ = make_anchors([torch.zeros(1, 1, 4, 3, dtype=torch.float16)], torch.tensor([8.0]), offset=0.0)
    assert half.dtype == torch.float16 and half[-1].tolist() == [2.0, 3.0]


def test_traced_model_has_no_device_constant_and_equals_eager():
    """A TorchScript export is traced on the CPU; a device constant in its graph makes it fail on CUDA input."""
    model = build_model(MODELS_DIR / "yolov10n.yaml", nc=1).eval()
    model.fuse()
    x = torch.rand(1, 3, 64, 64)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, x, strict=False)
    graph = str(traced.inlined_graph)
    devices = [line.strip() for line in graph.splitlines() if re.search(r": Device = prim::Constant", line)]
    assert devices == [], devices
    code = "\n".join(m.code for m in traced.modules() if hasattr(m, "code"))
    assert 'torch.device("cpu")' not in code
    with torch.no_grad():
        for batch in (torch.rand(1, 3, 64, 64), torch.rand(3, 3, 64, 64)):
            torch.testing.assert_close(traced(batch), model(batch), rtol=0, atol=0)


def test_dfl_is_the_expected_bin_index_and_a_fp32_trace_runs_in_fp16():
    from fscfnet.nn.head import DFL

    logits = torch.randn(2, 5, 4 * 16, generator=torch.Generator().manual_seed(0))
    p = np.exp(logits.numpy().reshape(2, 5, 4, 16).astype(np.float64))
    ref = (p / p.sum(-1, keepdims=True) * np.arange(16)).sum(-1)  # written out: softmax, then E[bin]
    dfl = DFL(16)
    np.testing.assert_allclose(dfl(logits).numpy(), ref, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated; exports still use it
        traced = torch.jit.trace(dfl, logits)
    half = traced(logits.half())
    assert half.dtype == torch.float16
    np.testing.assert_allclose(half.float().numpy(), ref, atol=2e-2)


def test_the_loss_decodes_boxes_through_the_head():
    """One decode path: the loss's predicted boxes (grid units x stride) are the head's inference boxes."""
    from fscfnet.cfg.loss import LossConfig
    from fscfnet.detection.loss import BranchLoss
    from fscfnet.nn import build_model

    model = build_model("yolov10n", nc=1).train()
    feats = model(torch.rand(2, 3, 64, 64))["one2one"]
    _, scores, anchors, strides, boxes = BranchLoss(model.head, LossConfig(), 1).decode(feats)
    inference = model.head.decode(feats)
    torch.testing.assert_close(boxes * strides, inference[..., :4])
    torch.testing.assert_close(scores.sigmoid(), inference[..., 4:])
