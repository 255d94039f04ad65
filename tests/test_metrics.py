"""Metrics: AP against pycocotools; P/R/F1/Pd/Fa/Pd_c/Fa_c against hand-computed cases."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from fscfnet.metrics import DEFINITIONS, evaluate, format_table


def _random_split(rng, n_images, nc):
    preds, targets, sizes = [], [], []
    for _ in range(n_images):
        h, w = int(rng.integers(100, 300)), int(rng.integers(100, 300))
        t = []
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(-3, w - 5), rng.uniform(-3, h - 5)
            bw, bh = rng.uniform(2, 20, 2)
            t.append([rng.integers(nc), max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)])
        t = np.array(t, float).reshape(-1, 5)
        p = []
        for _ in range(int(rng.integers(0, 12))):
            if len(t) and rng.random() < 0.6:
                g = t[rng.integers(len(t))]
                c = g[0] if rng.random() < 0.9 else rng.integers(nc)
                p.append([*(g[1:] + rng.normal(0, 1.5, 4)), rng.random(), c])
            else:
                x, y = rng.uniform(0, w - 8), rng.uniform(0, h - 8)
                p.append([x, y, x + rng.uniform(2, 12), y + rng.uniform(2, 12), rng.random() * 0.6, rng.integers(nc)])
        p = np.array(p, float).reshape(-1, 6)
        p[:, 2:4] = np.maximum(p[:, 2:4], p[:, :2] + 0.5)
        preds.append(p)
        targets.append(t)
        sizes.append((h, w))
    return preds, targets, sizes


def _pycocotools_ap(preds, targets, sizes, nc):
    images = [{"id": i, "height": h, "width": w} for i, (h, w) in enumerate(sizes)]
    anns = [{"id": k + 1, "image_id": i, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1],
             "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
            for k, (i, (c, x1, y1, x2, y2)) in enumerate((i, row) for i, t in enumerate(targets) for row in t)]
    dets = [{"image_id": i, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
            for i, p in enumerate(preds) for x1, y1, x2, y2, s, c in p]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in range(nc)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.params.maxDets = [1, 10, 100]  # >= the per-image prediction count (at most 11 here)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[1], ev.stats[0]


@pytest.mark.parametrize("nc,seed", [(1, 0), (1, 1), (2, 2)])
def test_ap_agrees_with_pycocotools(nc, seed):
    preds, targets, sizes = _random_split(np.random.default_rng(seed), 300, nc)
    m = evaluate(preds, targets, sizes)
    ap50, ap = _pycocotools_ap(preds, targets, sizes, nc)
    assert 0.05 < ap50 < 0.99 and ap < ap50  # a non-trivial case
    assert abs(m.ap50 - ap50) < 0.005 and abs(m.ap50_95 - ap) < 0.005, (m.ap50, ap50, m.ap50_95, ap)


def box(x1, y1, x2, y2, score, cls=0):
    return [x1, y1, x2, y2, score, cls]


def test_perfect_detection_with_a_duplicate_and_a_false_alarm():
    preds = [np.array([box(10, 10, 20, 20, 0.9), box(11, 11, 21, 21, 0.8), box(50, 50, 60, 60, 0.7)])]
    m = evaluate(preds, [np.array([[0, 10, 10, 20, 20]])], [(100, 100)])
    assert (m.precision, m.recall, m.f1, m.pd, m.pd_c) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert (m.ap50, m.ap50_95, m.fa, m.fa_c, m.conf_threshold) == (1.0, 1.0, 0.0, 0.0, 0.9)


def test_operating_point_counts_duplicates_and_false_alarm_area_clipped_to_the_image():
    # image 0 (100 x 100): a false alarm partly outside (score .95), a hit (.9), a duplicate (.6)
    # image 1 (50 x 200): one missed target, a far false alarm (.3)
    preds = [np.array([box(-5, -5, 5, 5, 0.95), box(30, 30, 40, 40, 0.9), box(31, 30, 41, 40, 0.6)]),
             np.array([box(0, 0, 4, 4, 0.3)])]
    targets = [np.array([[0, 30, 30, 40, 40]]), np.array([[0, 100, 20, 106, 26]])]
    m = evaluate(preds, targets, [(100, 100), (50, 200)])
    # cuts: .95 -> P 0 R 0; .9 -> P 1/2 R 1/2 F1 .5; .6 -> P 1/3 R 1/2 F1 .4; .3 -> P 1/4 R 1/2 F1 1/3
    assert m.conf_threshold == 0.9 and m.precision == 0.5 and m.recall == 0.5 and m.f1 == 0.5 and m.pd == 0.5
    assert m.fa == pytest.approx(25 / (100 * 100 + 50 * 200))  # only the in-image quarter of the box counts
    assert m.pd_c == 0.5 and m.fa_c == pytest.approx(25 / 20000)
    # AP50: precision envelope 1/2 at recall 1/2, then nothing -> 51 of 101 points at 0.5
    assert m.ap50 == pytest.approx(51 * 0.5 / 101)


def test_a_prediction_overlapping_two_targets_takes_the_better_one():
    targets = [np.array([[0, 0, 0, 10, 10], [0, 6, 0, 16, 10]])]
    # pred A overlaps target 0 (IoU 6/14 = .43) and target 1 (IoU 10/10... ) -> takes target 1 (IoU .82)
    preds = [np.array([box(5, 0, 15, 10, 0.9), box(6, 0, 16, 10, 0.8)])]
    m = evaluate(preds, targets, [(20, 20)])
    # A: IoU with t0 = 5*10/(100+100-50) = 1/3, with t1 = 9*10/(100+100-90) = 9/11 -> matches t1;
    # B: t1 taken, IoU with t0 = 4*10/160 = 1/4 < .5 -> false positive
    assert (m.precision, m.recall) == (1.0, 0.5) and m.conf_threshold == 0.9
    assert m.fa == 0.0  # B is below the operating point


def test_centroid_rule_is_strictly_within_three_pixels():
    targets = [np.array([[0, 10, 10, 14, 14]])]  # centre (12, 12)
    near = box(13.9, 11, 15.9, 13, 0.9)  # centre 2.9 px right: a hit by the centroid rule, not by IoU
    far = box(14, 11, 16, 13, 0.9)  # centre exactly 3 px right: no hit
    m_near = evaluate([np.array([near])], targets, [(40, 40)])
    m_far = evaluate([np.array([far])], targets, [(40, 40)])
    assert m_near.recall == 0.0 and m_near.pd_c == 1.0 and m_near.fa_c == 0.0
    assert m_far.pd_c == 0.0
    assert m_near.fa == pytest.approx(4 / 1600)  # an IoU miss counts as a false alarm


def test_no_predictions_and_no_targets():
    none = evaluate([np.zeros((0, 6))], [np.array([[0, 1, 1, 5, 5]])], [(10, 10)])
    assert (none.precision, none.recall, none.f1, none.ap50, none.fa, none.pd_c) == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    empty = evaluate([np.array([box(0, 0, 2, 5, 0.5)])], [np.zeros((0, 5))], [(10, 10)])
    d = empty.as_dict()
    assert d["recall"] is None and d["ap50"] is None and d["pd"] is None and d["precision"] == 0.0
    assert d["fa"] == pytest.approx(0.1) and d["targets"] == 0
    assert math.isnan(empty.recall)


def test_table_names_its_definitions():
    m = evaluate([np.array([box(1, 1, 5, 5, 0.5)])], [np.array([[0, 1, 1, 5, 5]])], [(10, 10)])
    text = format_table(m, ms_per_image=3.25)
    lines = text.splitlines()
    assert len(lines) == 3 and lines[2] == DEFINITIONS and "AP50:95" in lines[0] and lines[1].endswith("3.2")
