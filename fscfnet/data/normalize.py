"""How a frame's values become the network's 0..255 input, for frames of any bit depth: an input normalisation
policy, recorded with a model and applied alike in training, validation and detection.

- ``8bit``: 8-bit frames as they are; a deeper frame scaled from its container's range (16-bit 0..65535, float
  0..1). A 12- or 14-bit sensor's frame in a 16-bit container then fills a sixteenth or a quarter of the range:
  such a frame is reported (see :meth:`InputNorm.dims`), never silently dimmed.
- ``range LO HI``: LO..HI to 0..255, clipped: a sensor's known range (``range 0 16383`` for 14 bits).
- ``percentile PLO PHI``: each frame's own PLO..PHI percentiles to 0..255, as a camera's automatic gain control
  does; the same detections for a frame and any brighter or darker linear copy of it.
"""

from __future__ import annotations

import numpy as np

from ..cfg.norm import InputNorm

DIM_FRACTION = 0.25  # a frame whose values span less than this share of the assumed range is reported


def bounds(norm: InputNorm, img: np.ndarray) -> tuple[float, float]:
    """The values ``norm`` maps to 0 and 255 for this frame."""
    if norm.kind == "range":
        return norm.lo, norm.hi
    if norm.kind == "percentile":
        lo, hi = (float(v) for v in np.percentile(img, [norm.lo, norm.hi]))
        return lo, max(hi, lo + 1e-6)
    if img.dtype == np.uint8:
        return 0.0, 255.0
    if np.issubdtype(img.dtype, np.integer):
        return 0.0, float(np.iinfo(img.dtype).max)
    return 0.0, 1.0  # float frames: 0..1


def normalize(norm: InputNorm, img: np.ndarray) -> np.ndarray:
    """``img`` (any dtype, any channels) -> uint8, 0..255 (an 8-bit frame under ``8bit``: unchanged)."""
    if norm.kind == "8bit" and img.dtype == np.uint8:
        return img
    lo, hi = bounds(norm, img)
    out = (img.astype(np.float32) - lo) * np.float32(255 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def dims(norm: InputNorm, img: np.ndarray) -> bool:
    """Whether the frame's values span less than a quarter of the range ``norm`` assumes (a 14-bit frame read as
    16-bit, say): its input would be dim and flat. Never under ``percentile``, which stretches each frame, and
    never for an 8-bit frame under ``8bit``."""
    if norm.kind == "percentile" or (norm.kind == "8bit" and img.dtype == np.uint8) or img.size == 0:
        return False
    lo, hi = bounds(norm, img)
    return float(img.max()) - lo < DIM_FRACTION * (hi - lo)


def advice(img: np.ndarray) -> str:
    """What to use for a frame ``8bit`` (or a wrong range) would dim: the range its bit depth suggests, or
    per-frame percentiles for a model trained with them."""
    top = float(img.max())
    if np.issubdtype(img.dtype, np.integer):
        known = f"range 0 {2 ** max(8, int(np.ceil(np.log2(top + 1)))) - 1}"
    else:
        known = f"range {float(img.min()):g} {top:g}"
    # Percentile inputs differ from 8bit ones, so it is offered only for a model trained under it (a
    # NUAA-SIRST model trained under 8bit drops from 0.77 to 0.30 AP50 under it: benchmarks/bit_depth.py).
    return (f'use "{known}" (the sensor\'s range) with --norm in val and detect, --set input_norm=... in training; '
            f'"percentile 0.5 99.5" (per-frame gain) only for a model trained under it')
