"""Box overlap measures for the loss and the assigner. Boxes are xyxy; shapes broadcast element-wise."""

from __future__ import annotations

import torch


def ciou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of paired boxes ``(..., 4)`` -> ``(...)`` (torchvision's CIoU loss is 1 - CIoU)."""
    from torchvision.ops import complete_box_iou_loss  # training only: torchvision.ops costs ~2 s to import

    shape = a.shape[:-1]
    return 1.0 - complete_box_iou_loss(a.reshape(-1, 4), b.reshape(-1, 4), reduction="none", eps=eps).view(shape)


def nwd(a: torch.Tensor, b: torch.Tensor, c: float = 12.8, eps: float = 1e-7) -> torch.Tensor:
    """Normalized Gaussian Wasserstein distance of paired pixel boxes ``(..., 4)`` -> ``(...)`` in (0, 1].

    Each box is a 2-D Gaussian (centre, half extents); W2^2 = dcx^2 + dcy^2 + (dw^2 + dh^2) / 4 and
    NWD = exp(-sqrt(W2^2) / c), with ``c`` in pixels (12.8 by default), so boxes must be in pixels.
    """
    ca, cb = (a[..., :2] + a[..., 2:4]) / 2, (b[..., :2] + b[..., 2:4]) / 2
    wa, wb = a[..., 2:4] - a[..., :2], b[..., 2:4] - b[..., :2]
    w2 = ((ca - cb) ** 2).sum(-1) + ((wa - wb) ** 2).sum(-1) / 4
    return torch.exp(-torch.sqrt(w2 + eps) / c)


def box_quality(pred: torch.Tensor, target: torch.Tensor, ratio: float, c: float, clamp: bool = False) -> torch.Tensor:
    """``ratio * CIoU + (1 - ratio) * NWD`` of paired pixel boxes: what the box loss maximises and what the
    assigner ranks by (with ``clamp``: CIoU floored at 0). ``ratio = 1`` is plain CIoU."""
    q = ciou(pred, target)
    if clamp:
        q = q.clamp(min=0)
    return q if ratio >= 1 else ratio * q + (1 - ratio) * nwd(pred, target, c)
