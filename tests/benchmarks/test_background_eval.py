"""benchmarks/background_eval.py: Pd and false alarms at a given confidence, from hand-made predictions whose
counts are known (scored by python -m fscfnet.metrics, as the script scores every model)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

SCRIPT = "background_eval"


def _set(root, stems, boxes):
    """64 x 64 frames; ``boxes``: stem -> (x1, y1, x2, y2) of its one target, or absent (target-free)."""
    for sub in ("images", "labels", "img_idx"):
        (root / sub).mkdir(parents=True)
    for s in stems:
        cv2.imwrite(str(root / "images" / f"{s}.png"), np.full((64, 64), 40, np.uint8))
        if s in boxes:
            x1, y1, x2, y2 = boxes[s]
            (root / "labels" / f"{s}.txt").write_text(f"0 {(x1 + x2) / 128} {(y1 + y2) / 128} {(x2 - x1) / 64} "
                                                      f"{(y2 - y1) / 64}\n")
    (root / "img_idx" / "test.txt").write_text("\n".join(stems) + "\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: img_idx/test.txt\ntest: img_idx/test.txt\n"
                                    f"names: [target]\n")
    return str(root / "data.yaml")


def _pred(path, rows):
    path.write_text(json.dumps([{"image_id": s, "category_id": 0, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": c}
                                for s, (x1, y1, x2, y2), c in rows]))
    return path


def test_pd_and_false_alarms_at_a_given_confidence_are_counted_on_both_sets(script, tmp_path):
    box = (20, 20, 26, 26)
    targets = _set(tmp_path / "t", ["a", "b", "c", "d"], {s: box for s in "abcd"})
    background = _set(tmp_path / "bg", ["x", "y"], {})
    far = (50, 50, 56, 56)
    # at 0.3: a and d found, b's hit too weak, c only a far box (a false alarm); crops: x fires, y too weakly;
    # at 0.05: b found too (c never is), and y fires
    t_pred = _pred(tmp_path / "t.json", [("a", box, 0.9), ("b", box, 0.2), ("c", far, 0.5), ("d", box, 0.35)])
    bg_pred = _pred(tmp_path / "bg.json", [("x", far, 0.4), ("y", far, 0.1)])
    bg = {0.3: script.score(background, bg_pred, 0.3), 0.05: script.score(background, bg_pred, 0.05)}
    got = script.at_confs(targets, t_pred, bg, [0.3, 0.05])
    assert got["0.3"] == pytest.approx({"pd": 0.5, "target_fa_per_image": 0.25, "background_fa_per_image": 0.5})
    assert got["0.05"] == pytest.approx({"pd": 0.75, "target_fa_per_image": 0.25, "background_fa_per_image": 1.0})
