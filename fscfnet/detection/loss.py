"""YOLOv10 dual-assignment loss with NWD (docs/design.md §4).

Per head branch: task-aligned assignment (top-k 10 for one-to-many, 1 for one-to-one), BCE class loss
against the soft alignment targets, box loss r * (1 - CIoU) + (1 - r) * (1 - NWD) in pixels, and DFL; gains
box 7.5, cls 0.5, dfl 1.5. The model's loss is the sum over both branches, times the batch size (so that
learning rates transfer from YOLOv8/v10 recipes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from ..cfg.loss import LossConfig
from ..data.dataset import Targets
from ..nn.head import V10Detect
from .assigner import Assignment, TaskAlignedAssigner, use_dense
from .boxes import box_quality

COMPONENTS = ("box_o2m", "cls_o2m", "dfl_o2m", "box_o2o", "cls_o2o", "dfl_o2o")


def dfl_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss: ``logits`` (n, reg_max), continuous ``target`` (n,) in [0, reg_max - 1)."""
    left = target.long()
    wl = left + 1 - target
    return F.cross_entropy(logits, left, reduction="none") * wl + F.cross_entropy(logits, left + 1, reduction="none") * (1 - wl)


class BranchLoss:
    """Loss of one head branch; returns the (box, cls, dfl) terms, gains applied. Boxes are decoded by the
    head itself (:meth:`V10Detect.split`, ``anchor_points``, ``boxes``): one decode path for training and
    inference."""

    def __init__(self, head: V10Detect, cfg: LossConfig, topk: int, dense: bool | None = None):
        self.head, self.nc, self.reg_max, self.cfg, self.dense = head, head.nc, head.reg_max, cfg, dense
        self.assigner = TaskAlignedAssigner(head.nc, topk, cfg.alpha, cfg.beta, cfg.nwd_ratio, cfg.nwd_c,
                                            cfg.min_candidate_px, dense)

    def decode(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Per-level maps -> DFL logits (B, A, 4R), class logits (B, A, nc), anchors (A, 2) and strides (A, 1),
        predicted boxes (B, A, 4) in grid units; float32 even when the maps are fp16/bf16 (call it outside
        autocast, as the trainer does)."""
        distri, scores = self.head.split(feats)
        anchors, strides = self.head.anchor_points(feats)
        anchors, strides = anchors.float(), strides.float()
        return distri, scores, anchors, strides, self.head.boxes(distri.float(), anchors)

    def _assign(self, scores: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor, pred: torch.Tensor,
                *gt: torch.Tensor) -> Assignment:
        with record_function("assigner"):  # a label for torch.profiler (benchmarks/profile_train.py); ~free otherwise
            return self.assigner(scores.detach().float().sigmoid(), pred.detach() * strides, anchors * strides, *gt)

    def assign(self, feats: list[torch.Tensor], labels: torch.Tensor, gt_boxes: torch.Tensor, gt_mask: torch.Tensor
               ) -> Assignment:
        _, scores, anchors, strides, pred = self.decode(feats)
        return self._assign(scores, anchors, strides, pred, labels, gt_boxes, gt_mask)

    def __call__(self, feats: list[torch.Tensor], labels: torch.Tensor, gt_boxes: torch.Tensor, gt_mask: torch.Tensor
                 ) -> tuple[torch.Tensor, ...]:
        distri, scores, anchors, strides, pred = self.decode(feats)
        a = self._assign(scores, anchors, strides, pred, labels, gt_boxes, gt_mask)
        norm = a.scores.sum().clamp(min=1.0)
        cls = F.binary_cross_entropy_with_logits(scores.float(), a.scores, reduction="sum") / norm
        box, dfl = self._box_terms(distri, anchors, strides, pred, a)
        return box / norm * self.cfg.box, cls * self.cfg.cls, dfl / norm * self.cfg.dfl

    def _box_terms(self, distri: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor, pred: torch.Tensor,
                   a: Assignment) -> tuple[torch.Tensor, torch.Tensor]:
        """Sums over the positive anchors of (1 - box quality) and of the DFL, each weighted by the anchor's
        class target. Sparse: the positives gathered with ``nonzero`` (a host sync on CUDA; with none, the sums
        are 0). Dense (CUDA): every anchor, the negatives given their own prediction as target (a finite term,
        weight 0), so no NaN from an empty target reaches the gradients."""
        weight = a.scores.sum(-1)  # (B, A), 0 off the positives
        if use_dense(weight.device, weight.numel(), self.dense):
            pb = pred * strides  # pixels, (B, A, 4)
            tb = torch.where(a.fg[..., None], a.boxes, pb.detach())
            s, anc, dist = strides, anchors, distri
        else:
            bi, ai = a.fg.nonzero(as_tuple=True)
            weight, s, anc, dist = weight[bi, ai], strides[ai], anchors[ai], distri[bi, ai]
            pb, tb = pred[bi, ai] * s, a.boxes[bi, ai]  # pixels
        box = ((1.0 - box_quality(pb, tb, self.cfg.nwd_ratio, self.cfg.nwd_c)) * weight).sum()
        tgt = torch.cat((anc - tb[..., :2] / s, tb[..., 2:] / s - anc), -1).clamp(0, self.reg_max - 1 - 0.01)
        per_side = dfl_loss(dist.float().reshape(-1, self.reg_max), tgt.reshape(-1)).view(*tgt.shape[:-1], 4).mean(-1)
        return box, (per_side * weight).sum()


class V10DetectionLoss:
    """Sum of the one-to-many (top-k 10) and one-to-one (top-k 1) branch losses.

    ``__call__(outputs, targets)`` -> (loss to backpropagate, six detached components); ``targets`` are the
    loader's padded :class:`~fscfnet.data.dataset.Targets` (boxes in input pixels).
    """

    def __init__(self, model: torch.nn.Module, cfg: LossConfig = LossConfig(), dense: bool | None = None):
        head = model.head
        self.cfg = cfg
        self.one2many = BranchLoss(head, cfg, cfg.topk_one2many, dense)
        self.one2one = BranchLoss(head, cfg, cfg.topk_one2one, dense)

    def assign(self, outputs: dict[str, list[torch.Tensor]], targets: Targets) -> dict[str, Assignment]:
        """Each branch's assignment for these outputs (for inspection; the loss computes the same)."""
        gt = targets.to(outputs["one2many"][0].device)
        return {"one2many": self.one2many.assign(outputs["one2many"], *gt),
                "one2one": self.one2one.assign(outputs["one2one"], *gt)}

    def __call__(self, outputs: dict[str, list[torch.Tensor]], targets: Targets) -> tuple[torch.Tensor, torch.Tensor]:
        b = outputs["one2many"][0].shape[0]
        labels, boxes, mask = targets.to(outputs["one2many"][0].device)  # padded on the CPU by the loader
        terms = [*self.one2many(outputs["one2many"], labels, boxes, mask),
                 *self.one2one(outputs["one2one"], labels, boxes, mask)]
        parts = torch.stack(terms)
        return parts.sum() * b, parts.detach()
