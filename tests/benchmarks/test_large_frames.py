"""benchmarks/large_frames.py: a tiled test frame holds each source frame's pixels at its place, and each moved
box covers, in the big frame, exactly the pixels its source box covered in its own frame."""

from __future__ import annotations

import cv2
import numpy as np

from fscfnet.data import open_dataset, read_index

SCRIPT = "large_frames"


def test_tiled_frames_keep_every_pixel_and_move_every_box(script, make_demo, tmp_path):
    data = make_demo(4, 9)
    cfg = open_dataset(str(data))
    stems = read_index(cfg.index_file("test"))
    tiled = open_dataset(str(script.tiled_copy(str(data), 2, tmp_path / "t")))
    big_stems = read_index(tiled.index_file("test"))
    assert len(big_stems) == len(stems) // 4  # the ninth frame makes no full group of 2 x 2
    moved = 0
    for g, big_stem in enumerate(big_stems):
        big = cv2.imread(str(tiled.root / "images" / f"{big_stem}.png"), cv2.IMREAD_UNCHANGED)
        bh, bw = big.shape[:2]
        big_boxes = script.read_boxes(tiled.root / "labels" / f"{big_stem}.txt", bw, bh)
        for k, stem in enumerate(stems[4 * g:4 * g + 4]):
            img = cv2.imread(str(next((cfg.root / "images").glob(f"{stem}.*"))), cv2.IMREAD_UNCHANGED)
            h, w = img.shape[:2]
            ox, oy = (k % 2) * w, (k // 2) * h
            np.testing.assert_array_equal(big[oy:oy + h, ox:ox + w], img)
            for c, x1, y1, x2, y2 in script.read_boxes(cfg.root / "labels" / f"{stem}.txt", w, h):
                match = np.all(np.abs(big_boxes - [c, x1 + ox, y1 + oy, x2 + ox, y2 + oy]) < 1e-3, 1)
                assert match.sum() == 1, (stem, x1, y1)
                moved += 1
        assert len(big_boxes) == sum(len(script.read_boxes(cfg.root / "labels" / f"{s}.txt", 1, 1))
                                     for s in stems[4 * g:4 * g + 4])
    assert moved > 0
