"""Training augmentation settings (docs/design.md §4 defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (docs/design.md §4 defaults). ``min_box_px``: boxes narrower or lower than this after
    augmentation are dropped; 1 px keeps 2-px targets that a 0.5x scale halves."""

    mosaic: float = 1.0
    translate: float = 0.1
    scale: float = 0.5
    fliplr: float = 0.5
    flipud: float = 0.0
    brightness: float = 0.2
    contrast: float = 0.2
    gamma: float = 0.2
    min_box_px: float = 1.0
    min_visible: float = 0.25  # fraction of a box's area that must stay inside the image
    native_jitter: float = 0.33  # scale="native": frames rescaled by a factor log-uniform in [1/1.33, 1.33]
    background_crops: float = 0.2  # scale="native": share of crops placed anywhere, not around a target
