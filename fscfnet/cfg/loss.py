"""Loss settings (docs/design.md §4): gains, the NWD mix and the assigner's top-k and candidate size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossConfig:
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5
    nwd_ratio: float = 0.5  # r: 1 gives plain CIoU
    nwd_c: float = 12.8  # NWD constant, pixels
    alpha: float = 0.5
    beta: float = 6.0
    topk_one2many: int = 10
    topk_one2one: int = 1
    min_candidate_px: float = 16.0
