"""benchmarks/background_crops.py: every crop window lies at least 32 px from every target pixel, and every
window that does is offered (checked against a brute-force distance test); a dataset of boxes is masked by them."""

from __future__ import annotations

from types import SimpleNamespace

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


def test_a_dataset_of_boxes_masks_exactly_its_label_boxes(script, tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "f1.txt").write_text("1 0.5 0.5 0.2 0.1\n0 0.05 0.9 0.1 0.2\n")
    cfg = SimpleNamespace(root=tmp_path, nc=2)
    want = np.zeros((100, 200), np.uint8)
    want[45:55, 80:120] = 255  # centre (100, 50), 40 x 10 px
    want[80:100, 0:20] = 255  # centre (10, 90), 20 x 20 px, clipped at the frame's bottom edge
    np.testing.assert_array_equal(script.target_mask(cfg, "f1", (100, 200)), want)
    assert script.target_mask(cfg, "no-label", (100, 200)) is None
