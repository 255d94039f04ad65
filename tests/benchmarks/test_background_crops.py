"""benchmarks/background_crops.py: every crop window lies at least 32 px from every target pixel, and every
window that does is offered (checked against a brute-force distance test)."""

from __future__ import annotations

import numpy as np

SCRIPT = "background_crops"


def test_free_windows_are_exactly_those_32_px_from_every_target(script):
    mask = np.zeros((120, 150), np.uint8)
    mask[50, 60] = 255
    mask[100:103, 10:12] = 255
    size = 20
    got = {tuple(c) for c in script.free_windows(mask, size)}
    ty, tx = np.nonzero(mask)
    want = set()
    for y in range(120 - size + 1):
        for x in range(150 - size + 1):
            # Chebyshev distance from the window to the nearest target pixel
            dx = np.maximum(np.maximum(x - tx, tx - (x + size - 1)), 0)
            dy = np.maximum(np.maximum(y - ty, ty - (y + size - 1)), 0)
            if np.maximum(dx, dy).min() > 32:
                want.add((x, y))
    assert got == want and len(want) > 0
    assert script.free_windows(mask, 200).shape == (0, 2)  # larger than the frame
