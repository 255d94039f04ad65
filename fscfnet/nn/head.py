"""YOLOv10 detection head: one-to-many + one-to-one branches, DFL box decoding, NMS-free top-k output."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Conv
from .registry import head_channels, register


class DFL(nn.Module):
    """Distribution focal loss decoder: bin logits ``(..., 4*reg_max)`` -> expected distances ``(..., 4)``
    (softmax over each side's ``reg_max`` bins, then the expectation of the bin index)."""

    def __init__(self, reg_max: int = 16):
        super().__init__()
        self.reg_max = reg_max
        self.register_buffer("proj", torch.arange(reg_max, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prob = x.unflatten(-1, (4, self.reg_max)).softmax(-1)
        # type_as, not .to(prob.dtype): a trace records it as an op, so a graph traced in fp32 also runs in fp16.
        # Decode outside autocast, as the engine does: autocast would run this matmul in fp16/bf16, which moves
        # boxes by up to ~2 px at stride 32
        return prob @ self.proj.type_as(prob)


def make_anchors(feats: list[torch.Tensor], strides: torch.Tensor, offset: float = 0.5
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres in grid units ``(A, 2)`` (x, y) and their strides ``(A, 1)`` for per-level maps.

    Built by ``new_ones``/``cumsum`` on each map rather than ``arange(..., device=...)``: ``torch.jit.trace`` records
    no device constant then, so a TorchScript export traced on the CPU also runs on CUDA. Same values (integer
    counts plus ``offset``, exact in float32)."""
    points, stride_list = [], []
    for f, s in zip(feats, strides):
        ones = f.new_ones(f.shape[-2:])  # (H, W), f's device and dtype
        sx, sy = ones.cumsum(1) - (1 - offset), ones.cumsum(0) - (1 - offset)  # column / row index + offset
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_list.append(ones.view(-1, 1) * s)
    return torch.cat(points), torch.cat(stride_list)


def dist2bbox(dist: torch.Tensor, anchors: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """(left, top, right, bottom) distances from anchor points -> (x1, y1, x2, y2) boxes, along ``dim``."""
    lt, rb = dist.chunk(2, dim)
    return torch.cat((anchors - lt, anchors + rb), dim)


def topk_detections(pred: torch.Tensor, max_det: int) -> torch.Tensor:
    """NMS-free selection: ``(B, A, 4 + nc)`` (xyxy, class scores) -> ``(B, max_det, 6)`` (xyxy, score, class).

    The best ``max_det`` (anchor, class) pairs by score, taken among the ``max_det`` anchors with the highest
    class score. Rows past the number of anchors are zero (score 0).
    """
    nc = pred.shape[-1] - 4
    boxes, scores = pred.split((4, nc), -1)
    k = min(max_det, pred.shape[1])
    idx = scores.amax(-1).topk(k, dim=-1).indices  # (B, k)
    boxes = boxes.gather(1, idx.unsqueeze(-1).expand(-1, -1, 4))
    scores = scores.gather(1, idx.unsqueeze(-1).expand(-1, -1, nc))
    scores, flat = scores.flatten(1).topk(k, dim=-1)
    boxes = boxes.gather(1, (flat // nc).unsqueeze(-1).expand(-1, -1, 4))
    out = torch.cat((boxes, scores.unsqueeze(-1), (flat % nc).unsqueeze(-1).to(boxes.dtype)), -1)
    return F.pad(out, (0, 0, 0, max_det - k))  # unconditional: exported graphs with dynamic sizes pad too


class DetectBranch(nn.Module):
    """Per-level box (4*reg_max) and class (nc) convs; returns ``[(B, 4*reg_max + nc, H_i, W_i)]``."""

    def __init__(self, nc: int, ch: list[int], reg_max: int):
        super().__init__()
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.box = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for x in ch)
        self.cls = nn.ModuleList(
            nn.Sequential(nn.Sequential(Conv(x, x, 3, g=x), Conv(x, c3, 1)),
                          nn.Sequential(Conv(c3, c3, 3, g=c3), Conv(c3, c3, 1)),
                          nn.Conv2d(c3, nc, 1)) for x in ch)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.cat((b(x), c(x)), 1) for x, b, c in zip(xs, self.box, self.cls)]

    def init_bias(self, nc: int, strides: torch.Tensor, imgsz: int = 640) -> None:
        """Priors for small targets. Class logits: ~5 objects per 640 image. Box logits: bin k of each side starts
        at -k, so the first predicted distances are ~0.58 cells (boxes ~9 px at stride 8) instead of the
        uniform 7.5 cells (~120 px) of YOLOv8's constant init, which overlaps a 2-10 px target too little for
        the assigner's quality-aware targets to be non-zero."""
        reg_max = self.box[0][-1].out_channels // 4
        box_prior = -torch.arange(reg_max, dtype=torch.float32).repeat(4)
        for b, c, s in zip(self.box, self.cls, strides.tolist()):
            with torch.no_grad():
                b[-1].bias.copy_(box_prior)
            nn.init.constant_(c[-1].bias, float(torch.log(torch.tensor(5 / nc / (imgsz / s) ** 2))))


@register(channels=head_channels)
class V10Detect(nn.Module):
    """YOLOv10 head over feature maps ``ch`` (e.g. P3, P4, P5).

    ``train()``: ``{"one2many": [...], "one2one": [...]}``, each a list of ``(B, 4*reg_max + nc, H_i, W_i)``; the
    one-to-one branch sees detached features. ``eval()``: ``(B, max_det, 6)`` = x1, y1, x2, y2, score, class
    in input pixels, from the one-to-one branch, no NMS. ``fuse()`` drops the one-to-many branch.
    """

    def __init__(self, nc: int = 80, ch: list[int] = (), reg_max: int = 16, max_det: int = 300):
        super().__init__()
        self.nc, self.nl, self.reg_max, self.max_det = nc, len(ch), reg_max, max_det
        self.no = nc + 4 * reg_max
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)  # set by the graph builder
        self.one2many: DetectBranch | None = DetectBranch(nc, list(ch), reg_max)
        self.one2one = copy.deepcopy(self.one2many)
        self.dfl = DFL(reg_max)

    def forward(self, xs: list[torch.Tensor]) -> dict[str, list[torch.Tensor]] | torch.Tensor:
        if self.training:
            if self.one2many is None:
                raise RuntimeError("this head was fused for inference; it cannot be trained")
            return {"one2many": self.one2many(xs), "one2one": self.one2one([x.detach() for x in xs])}
        return topk_detections(self.decode(self.one2one(xs)), self.max_det)

    def split(self, preds: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-level maps ``[(B, 4*reg_max + nc, H_i, W_i)]`` -> box-bin logits ``(B, A, 4*reg_max)`` and class
        logits ``(B, A, nc)`` over all ``A`` anchors, level by level."""
        b = preds[0].shape[0]
        x = torch.cat([p.view(b, self.no, -1) for p in preds], 2).transpose(1, 2)
        return x.split((4 * self.reg_max, self.nc), -1)

    def anchor_points(self, preds: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Anchor centres in grid units ``(A, 2)`` and their strides ``(A, 1)`` for these maps."""
        return make_anchors(preds, self.stride)

    def boxes(self, bins: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """Box-bin logits ``(B, A, 4*reg_max)`` and anchors ``(A, 2)`` -> boxes ``(B, A, 4)`` x1, y1, x2, y2 in
        grid units (DFL expectation, then distances to corners). Training (the loss) and inference use this."""
        return dist2bbox(self.dfl(bins), anchors)

    def decode(self, preds: list[torch.Tensor]) -> torch.Tensor:
        """Raw per-level outputs -> ``(B, A, 4 + nc)``: xyxy boxes in input pixels, sigmoid class scores."""
        bins, cls = self.split(preds)
        anchors, strides = self.anchor_points(preds)
        return torch.cat((self.boxes(bins, anchors) * strides, cls.sigmoid()), -1)

    def init_bias(self) -> None:
        for branch in (self.one2many, self.one2one):
            if branch is not None:
                branch.init_bias(self.nc, self.stride)

    def fuse(self) -> None:
        self.one2many = None
