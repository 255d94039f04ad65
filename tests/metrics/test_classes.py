"""Several classes: per-class AP against pycocotools' per-category AP, class-agnostic matching, the confusion
matrix of a hand-made case, and metrics broken down by a frame attribute."""

from __future__ import annotations

import numpy as np
import pytest

from fscfnet.errors import UserError
from fscfnet.metrics import class_agnostic, evaluate, operating_point
from fscfnet.metrics.confusion import confusion_matrix
from fscfnet.metrics.groups import breakdown, format_rows, frame_attributes

from .test_metrics import _coco_eval, _random_split


def _pycocotools_per_class(preds, targets, sizes, nc):
    ev = _coco_eval(preds, targets, sizes, nc)
    precision = ev.eval["precision"][:, :, :, 0, 2]  # (iou, recall, class), all areas, 100 detections
    return {c: (float(precision[0, :, c].mean()), float(precision[:, :, c].mean())) for c in range(nc)}


@pytest.mark.parametrize("seed,decimals", [(3, None), (4, None), (5, 1)])
def test_per_class_ap_equals_pycocotools_per_category(seed, decimals):
    preds, targets, sizes = _random_split(np.random.default_rng(seed), 300, 3, decimals)
    m = evaluate(preds, targets, sizes)
    want = _pycocotools_per_class(preds, targets, sizes, 3)
    assert [r["class"] for r in m.per_class] == [0, 1, 2]
    for r in m.per_class:
        ap50, ap = want[r["class"]]
        assert 0.05 < ap50 < 0.99
        assert r["ap50"] == pytest.approx(ap50, abs=1e-9) and r["ap50_95"] == pytest.approx(ap, abs=1e-9), (r, ap50, ap)
    assert m.ap50 == pytest.approx(np.mean([r["ap50"] for r in m.per_class]))


def _hand_case():
    """Two images, classes 0 (drone) and 1 (bird). Image 0: a drone found as a drone (0.9), a bird called a drone
    (0.8), a false alarm called a bird (0.7), a weak box below the threshold (0.1). Image 1: a bird missed, a
    drone found as a drone (0.6)."""
    preds = [np.array([[10, 10, 20, 20, 0.9, 0], [40, 40, 50, 50, 0.8, 0], [70, 70, 80, 80, 0.7, 1],
                       [10, 60, 20, 70, 0.1, 1]], float),
             np.array([[30, 30, 40, 40, 0.6, 0]], float)]
    targets = [np.array([[0, 10, 10, 20, 20], [1, 40, 40, 50, 50]], float),
               np.array([[1, 5, 5, 12, 12], [0, 30, 30, 40, 40]], float)]
    return preds, targets, [(100, 100), (100, 100)]


def test_the_confusion_matrix_of_a_hand_made_case():
    preds, targets, _ = _hand_case()
    m = confusion_matrix(preds, targets, nc=2, conf=0.25)
    # rows: predicted drone, bird, background; columns: true drone, bird, background
    np.testing.assert_array_equal(m, [[2, 1, 0],
                                      [0, 0, 1],
                                      [0, 1, 0]])
    assert confusion_matrix(preds, targets, nc=2, conf=0.05)[1, 2] == 2  # the weak box counts below its score


def test_a_target_found_under_another_class_counts_for_the_class_agnostic_pd():
    preds, targets, sizes = _hand_case()
    aware = operating_point(evaluate(preds, targets, sizes).curves, 0.25)
    agnostic = operating_point(evaluate(class_agnostic(preds, 5), class_agnostic(targets, 0), sizes).curves, 0.25)
    assert (aware.pd, aware.false_alarms) == (0.5, 2)  # the bird called a drone: a miss and a false alarm
    assert (agnostic.pd, agnostic.false_alarms) == (0.75, 1)  # found; only the empty-sky box is a false alarm
    assert preds[0][1, 5] == 0 and targets[0][1, 0] == 1  # the inputs are left as they were


def test_metrics_by_a_frame_attribute(tmp_path):
    preds, targets, sizes = _hand_case()
    (tmp_path / "frames.csv").write_text("image,sequence,distance_bin\na,s1,FAR\nb,s2,CLOSE\n")
    rows = breakdown(preds, targets, sizes, ["a", "b"], frame_attributes(tmp_path), "distance_bin",
                     {"@0.25": 0.25, "@0.65": 0.65}, confusion=(2, 0.25))
    assert [r["distance_bin"] for r in rows] == ["CLOSE", "FAR"]
    close, far = rows
    assert (close["images"], close["targets"], close["pd @0.25"], close["FA/img @0.25"]) == (1, 2, 0.5, 0.0)
    assert (far["targets"], far["pd @0.25"], far["FA/img @0.25"], far["pd @0.65"]) == (2, 1.0, 1.0, 1.0)
    assert close["pd @0.65"] == 0.0
    # each group's confusion matrix, by hand: the close frame finds its drone and misses its bird; the far frame
    # finds its drone, calls its bird a drone, and fires a bird box on empty sky (the whole split's matrix summed)
    assert close["confusion"] == [[1, 0, 0], [0, 0, 0], [0, 1, 0]]
    assert far["confusion"] == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert "confusion" not in format_rows(rows) and "CLOSE" in format_rows(rows)
    with pytest.raises(UserError, match="--by range: not a column of frames.csv"):
        breakdown(preds, targets, sizes, ["a", "b"], frame_attributes(tmp_path), "range", {})
    with pytest.raises(UserError, match="frames.csv not found"):
        frame_attributes(tmp_path / "nowhere")
