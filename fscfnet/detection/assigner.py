"""Task-aligned label assignment (TOOD / YOLOv8) made safe for targets smaller than the stride.

For each target: candidate anchors are those whose centre lies inside the target box **enlarged to at least
``min_candidate_px`` per side** (a 5x5 px target at stride 8 often contains no anchor centre); the alignment
metric is ``score^alpha * quality^beta`` with quality = r * CIoU + (1 - r) * NWD (NWD stays informative when
an untrained prediction does not overlap a tiny target, where IoU is 0); the top-k candidates become positives
and their class targets are the alignment normalised so that each target's best anchor gets its best quality
(computed without an epsilon that would swamp the tiny metrics of the first steps).

Host synchronisation: finding the candidates with ``nonzero`` makes the host wait for the device. On CUDA the
metrics are instead computed for every (image, target, anchor) triple and masked (``dense``), unless that exceeds
:data:`DENSE_LIMIT` triples; on the CPU ``nonzero`` costs no wait and the sparse form does less arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .boxes import box_quality

DENSE_LIMIT = 1 << 25  # (image, target, anchor) triples computed densely at most (~0.5 GB of float32 per term)


def use_dense(device: torch.device, elements: int, dense: bool | None = None) -> bool:
    """Whether to compute over every element and mask (no host sync) rather than gather the selected ones with
    ``nonzero`` (a host sync on CUDA): ``dense`` when given, else on CUDA within :data:`DENSE_LIMIT`."""
    return dense if dense is not None else device.type == "cuda" and elements <= DENSE_LIMIT


@dataclass
class Assignment:
    labels: torch.Tensor  # (B, A) long
    boxes: torch.Tensor  # (B, A, 4) pixels
    scores: torch.Tensor  # (B, A, nc) soft class targets
    fg: torch.Tensor  # (B, A) bool


class TaskAlignedAssigner:
    def __init__(self, nc: int, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, nwd_ratio: float = 0.5,
                 nwd_c: float = 12.8, min_candidate_px: float = 16.0, dense: bool | None = None):
        self.nc, self.topk, self.alpha, self.beta = nc, topk, alpha, beta
        self.r, self.c, self.min_px = nwd_ratio, nwd_c, min_candidate_px
        self.dense = dense  # None: by device (see the module docstring)

    @torch.no_grad()
    def __call__(self, pd_scores: torch.Tensor, pd_boxes: torch.Tensor, anchors: torch.Tensor,
                 gt_labels: torch.Tensor, gt_boxes: torch.Tensor, gt_mask: torch.Tensor) -> Assignment:
        """``pd_scores`` (B, A, nc) probabilities, ``pd_boxes`` (B, A, 4) and ``anchors`` (A, 2) in pixels;
        ``gt_labels`` (B, M), ``gt_boxes`` (B, M, 4) pixels, ``gt_mask`` (B, M) bool for real (not padded) rows."""
        b, a = pd_scores.shape[:2]
        m = gt_boxes.shape[1]
        dev = pd_scores.device
        if m == 0:
            return Assignment(torch.zeros(b, a, dtype=torch.long, device=dev), torch.zeros(b, a, 4, device=dev),
                              torch.zeros_like(pd_scores), torch.zeros(b, a, dtype=torch.bool, device=dev))
        centre = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2
        half = (gt_boxes[..., 2:] - gt_boxes[..., :2]).clamp(min=self.min_px) / 2
        region = torch.cat((centre - half, centre + half), -1)  # (B, M, 4)
        inside = torch.cat((anchors[None, None] - region[..., None, :2], region[..., None, 2:] - anchors[None, None]),
                           -1).amin(-1) > 1e-9  # (B, M, A)
        cand = inside & gt_mask[..., None]
        overlaps, scores = self._candidate_metrics(pd_scores, pd_boxes, gt_labels, gt_boxes, cand)
        align = scores.pow(self.alpha) * overlaps.pow(self.beta)

        k = min(self.topk, a)
        ranked = torch.where(cand, align, torch.full_like(align, -1.0))  # candidates always outrank the rest
        top = torch.zeros_like(cand).scatter_(-1, ranked.topk(k, dim=-1).indices, True)
        pos = top & cand  # (B, M, A)

        multi = pos.sum(1, keepdim=True) > 1  # an anchor claimed by several targets keeps the best-overlapping one
        best = F.one_hot(overlaps.argmax(1), m).permute(0, 2, 1).bool()  # no `if multi.any()`: no host sync
        pos = torch.where(multi, best & pos.any(1, keepdim=True), pos)
        fg = pos.any(1)  # (B, A)
        gt_idx = pos.float().argmax(1)  # (B, A)
        labels = gt_labels.gather(1, gt_idx)
        boxes = gt_boxes.gather(1, gt_idx[..., None].expand(-1, -1, 4))

        align = align * pos
        pos_align = align.amax(-1, keepdim=True)
        pos_overlap = (overlaps * pos).amax(-1, keepdim=True)
        norm = torch.where(pos_align > 0, align / pos_align.clamp(min=torch.finfo(align.dtype).tiny), 0.0)
        norm = (norm * pos_overlap).amax(1)  # (B, A)
        target = F.one_hot(labels, self.nc).to(pd_scores.dtype) * (norm * fg)[..., None]
        return Assignment(labels, boxes, target, fg)

    def _candidate_metrics(self, pd_scores: torch.Tensor, pd_boxes: torch.Tensor, gt_labels: torch.Tensor,
                           gt_boxes: torch.Tensor, cand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box quality and predicted class score of each candidate (image, target, anchor), 0 elsewhere: two
        (B, M, A) tensors in ``pd_boxes``' dtype. The same values dense or sparse."""
        b, m, a = cand.shape
        if use_dense(cand.device, b * m * a, self.dense):
            quality = box_quality(pd_boxes[:, None].expand(b, m, a, 4), gt_boxes[:, :, None].expand(b, m, a, 4),
                                  self.r, self.c, clamp=True)  # NaN for padded targets: masked out below
            score = pd_scores.transpose(1, 2).gather(1, gt_labels[..., None].expand(b, m, a))
            return (torch.where(cand, quality, 0.0).to(pd_boxes.dtype), torch.where(cand, score, 0.0).to(pd_boxes.dtype))
        bi, mi, ai = cand.nonzero(as_tuple=True)
        overlaps = torch.zeros(b, m, a, device=cand.device, dtype=pd_boxes.dtype)
        overlaps[bi, mi, ai] = box_quality(pd_boxes[bi, ai], gt_boxes[bi, mi], self.r, self.c, clamp=True).to(overlaps.dtype)
        scores = torch.zeros_like(overlaps)
        scores[bi, mi, ai] = pd_scores[bi, ai, gt_labels[bi, mi]].to(overlaps.dtype)
        return overlaps, scores
