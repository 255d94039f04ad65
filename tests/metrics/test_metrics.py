"""Metrics: AP against pycocotools; P/R/F1/Pd/Fa/Pd_c/Fa_c against hand-computed cases."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

from fscfnet.metrics import (
    DEFINITIONS,
    FaBudget,
    budget_point,
    evaluate,
    format_table,
    operating_point,
    pdfa_curve,
)


def _random_split(rng, n_images, nc, score_decimals: int | None = None):
    preds, targets, sizes = [], [], []
    for _ in range(n_images):
        h, w = int(rng.integers(100, 300)), int(rng.integers(100, 300))
        t = []
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(-3, w - 5), rng.uniform(-3, h - 5)
            bw, bh = rng.uniform(2, 20, 2)
            x1, y1 = max(x, 0), max(y, 0)  # clipped to the image, at least 1 px wide and high
            t.append([rng.integers(nc), x1, y1, min(max(x + bw, x1 + 1), w), min(max(y + bh, y1 + 1), h)])
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
        if score_decimals is not None:  # tied scores, within an image and across images
            p[:, 4] = np.round(p[:, 4], score_decimals)
        preds.append(p)
        targets.append(t)
        sizes.append((h, w))
    return preds, targets, sizes


def _coco_eval(preds, targets, sizes, nc):
    """pycocotools' COCOeval of the split, evaluated and accumulated (up to 100 detections per image)."""
    images = [{"id": i, "height": h, "width": w} for i, (h, w) in enumerate(sizes)]
    anns = [{"id": k + 1, "image_id": i, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1],
             "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
            for k, (i, (c, x1, y1, x2, y2)) in enumerate((i, row) for i, t in enumerate(targets) for row in t)]
    dets = [{"image_id": i, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
            for i, p in enumerate(preds) for x1, y1, x2, y2, s, c in p]
    COCO, COCOeval = pytest.importorskip("pycocotools.coco").COCO, pytest.importorskip("pycocotools.cocoeval").COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in range(nc)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.params.maxDets = [1, 10, 100]  # >= the per-image prediction count (at most 11 here)
        ev.evaluate()
        ev.accumulate()
    return ev


def _pycocotools_ap(preds, targets, sizes, nc):
    ev = _coco_eval(preds, targets, sizes, nc)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.summarize()
    return ev.stats[1], ev.stats[0]


@pytest.mark.parametrize("nc,seed,decimals", [(1, 0, None), (1, 1, None), (2, 2, None), (1, 3, 1), (2, 4, 2)])
def test_ap_agrees_with_pycocotools(nc, seed, decimals):
    """To rounding: VOC's all-point AP differs from COCO's 101-point AP by up to ~0.003 on these splits, and a
    different order among tied scores by more, so any looser tolerance would let either pass."""
    preds, targets, sizes = _random_split(np.random.default_rng(seed), 300, nc, decimals)
    m = evaluate(preds, targets, sizes)
    ap50, ap = _pycocotools_ap(preds, targets, sizes, nc)
    assert 0.05 < ap50 < 0.99 and ap < ap50  # a non-trivial case
    assert m.ap50 == pytest.approx(ap50, abs=1e-9) and m.ap50_95 == pytest.approx(ap, abs=1e-9), (m, ap50, ap)


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


# Two images, hand-counted. A: 100 x 200 (20,000 px), targets T1 (10,10)-(20,20) and T2 (50,50)-(54,54);
# B: 50 x 100 (5,000 px), target T3 (30,20)-(36,26). 25,000 px = 0.025 Mpix in all.
HAND_PREDS = [np.array([box(10, 10, 20, 20, 0.9),  # a1: exactly T1 -> hit
                        box(100, 50, 110, 55, 0.6),  # a2: false alarm, 50 px
                        box(50, 50, 54, 54, 0.3),  # a3: exactly T2 -> hit
                        box(0, 0, 3, 3, 0.05)]),  # a4: false alarm, 9 px
              np.array([box(60, 10, 64, 14, 0.7),  # b1: false alarm, 16 px
                        box(31, 21, 37, 27, 0.5),  # b2: IoU with T3 25 / 47 = .53 -> hit; centre 1.4 px off
                        box(95, 45, 105, 55, 0.2)])]  # b3: false alarm, 25 px inside the image (5 x 5 of 10 x 10)
HAND_TARGETS = [np.array([[0, 10, 10, 20, 20], [0, 50, 50, 54, 54]]), np.array([[0, 30, 20, 36, 26]])]
HAND_SIZES = [(100, 200), (50, 100)]


@pytest.mark.parametrize("conf,tp,fp,false_px", [
    (0.5, 2, 2, 16 + 50),  # a1 b1 a2 b2
    (0.6, 1, 2, 16 + 50),  # a score equal to conf counts: a1 b1 a2
    (0.25, 3, 2, 16 + 50),  # + a3
    (0.1, 3, 3, 16 + 50 + 25),  # + b3
    (0.001, 3, 4, 16 + 50 + 25 + 9),  # everything
])
def test_operating_point_at_conf_hand_counted(conf, tp, fp, false_px):
    m = evaluate(HAND_PREDS, HAND_TARGETS, HAND_SIZES, conf=conf)
    a = m.at_conf.as_dict()
    assert (a["conf"], a["detections"], a["false_alarms"]) == (conf, tp + fp, fp)
    assert a["precision"] == pytest.approx(tp / (tp + fp)) and a["recall"] == a["pd"] == pytest.approx(tp / 3)
    assert a["f1"] == pytest.approx(2 * tp / (2 * tp + fp + 3 - tp))
    assert a["fa"] == pytest.approx(false_px / 25000) and a["fa_c"] == pytest.approx(false_px / 25000)
    assert a["pd_c"] == pytest.approx(tp / 3)  # every IoU hit here is also a centroid hit, and no other box is
    assert a["false_alarms_per_image"] == pytest.approx(fp / 2) and a["false_alarms_per_mpix"] == pytest.approx(fp / 0.025)
    # the F1-maximising point is unchanged by conf: cuts .9 F1 .5, .7 .4, .6 1/3, .5 4/7, .3 .75, .2 2/3, .05 .6
    assert m.conf_threshold == 0.3 and m.f1 == pytest.approx(0.75) and m.fa == pytest.approx(66 / 25000)
    assert m.as_dict()["at_conf"] == a and set(m.as_dict()) - {"at_conf"} == set(evaluate(
        HAND_PREDS, HAND_TARGETS, HAND_SIZES).as_dict())


def test_operating_point_above_every_score_and_without_conf():
    a = evaluate(HAND_PREDS, HAND_TARGETS, HAND_SIZES, conf=0.95).at_conf
    assert a.detections == 0 and math.isnan(a.precision) and (a.recall, a.f1, a.fa, a.false_alarms) == (0, 0, 0, 0)
    assert a.as_dict()["precision"] is None
    assert evaluate(HAND_PREDS, HAND_TARGETS, HAND_SIZES).at_conf is None
    assert "at_conf" not in evaluate(HAND_PREDS, HAND_TARGETS, HAND_SIZES).as_dict()


def test_pdfa_curve_hand_counted():
    c = pdfa_curve(evaluate(HAND_PREDS, HAND_TARGETS, HAND_SIZES).curves)
    assert c["thresholds"][:3] == [0.001, 0.01, 0.02] and c["thresholds"][-1] == 0.99 and len(c["thresholds"]) == 100
    assert (c["images"], c["targets"], c["megapixels"]) == (2, 3, 0.025)
    at = {t: i for i, t in enumerate(c["thresholds"])}
    expected = {  # threshold: (Pd, false-alarm px, false alarms) over the scores >= threshold
        0.001: (3, 100, 4), 0.05: (3, 100, 4), 0.06: (3, 91, 3), 0.2: (3, 91, 3), 0.21: (3, 66, 2), 0.3: (3, 66, 2),
        0.31: (2, 66, 2), 0.5: (2, 66, 2), 0.51: (1, 66, 2), 0.6: (1, 66, 2), 0.61: (1, 16, 1), 0.71: (1, 0, 0),
        0.9: (1, 0, 0), 0.91: (0, 0, 0), 0.99: (0, 0, 0)}
    for t, (hits, px, n) in expected.items():
        i = at[t]
        assert c["pd"][i] == pytest.approx(hits / 3) and c["fa"][i] == pytest.approx(px / 25000), t
        assert c["false_alarms"][i] == n and c["false_alarms_per_image"][i] == pytest.approx(n / 2), t
        assert c["false_alarms_per_mpix"][i] == pytest.approx(n / 0.025), t
    assert json.loads(json.dumps(c)) == c


def test_background_only_split_counts_false_alarms_at_conf():
    # three 100 x 100 frames without targets (0.03 Mpix): scores .8 .4 | .1 | none
    preds = [np.array([box(0, 0, 10, 10, 0.8), box(20, 20, 22, 22, 0.4)]), np.array([box(5, 5, 9, 9, 0.1)]),
             np.zeros((0, 6))]
    m = evaluate(preds, [np.zeros((0, 5))] * 3, [(100, 100)] * 3, conf=0.25)
    a = m.at_conf.as_dict()
    assert (a["detections"], a["false_alarms"], a["precision"], a["recall"], a["pd"], a["f1"]) == (2, 2, 0.0, None, None, None)
    assert a["false_alarms_per_image"] == pytest.approx(2 / 3) and a["false_alarms_per_mpix"] == pytest.approx(2 / 0.03)
    assert a["fa"] == pytest.approx(104 / 30000)
    assert m.conf_threshold == 0.0 and m.fa == pytest.approx(120 / 30000)  # the unchanged all-detections point
    row = format_table(m).splitlines()[2].split()
    assert row[:2] == ["at", "conf"] and row[-3:] == ["0.667", "66.667", "0.250"]


@pytest.mark.parametrize("seed", [0, 1])
def test_operating_point_equals_scoring_only_the_detections_above_conf(seed):
    """Greedy matching in descending score makes the matches of the detections >= conf those of all of them."""
    preds, targets, sizes = _random_split(np.random.default_rng(seed), 60, 2)
    full = evaluate(preds, targets, sizes)
    for conf in (0.05, 0.3, 0.55):
        kept = [p[p[:, 4] >= conf] for p in preds]
        ref = evaluate(kept, targets, sizes, conf=0.0).at_conf.as_dict()
        got = operating_point(full.curves, conf).as_dict()
        assert got.pop("conf") == conf and ref.pop("conf") == 0.0
        assert got == pytest.approx(ref)


def test_table_has_a_row_at_conf():
    m = evaluate(HAND_PREDS, HAND_TARGETS, HAND_SIZES, conf=0.5)
    lines = format_table(m, ms_per_image=3.25).splitlines()
    assert len(lines) == 4 and lines[3] == DEFINITIONS
    best, at = lines[1].split(), lines[2].split()
    # max F1 (conf .3): P .6 R 1 F1 .75 ... FA/img 1, FA/Mpix 80; at conf .5: P .5 R .667 F1 4/7
    assert best[:2] == ["max", "F1"] and best[-4:] == ["1.000", "80.000", "0.300", "3.2"]
    assert at[2:5] == ["0.500", "0.667", "0.571"] and at[-3:] == ["1.000", "80.000", "0.500"]


def _three_detections_inputs(scores: list[float]):
    """One 10-px target at (10, 10); detections on it and at two empty places, with the given scores."""
    preds = np.array([[10, 10, 20, 20, scores[0], 0], [50, 50, 60, 60, scores[1], 0],
                      [70, 70, 80, 80, scores[2], 0]], float)
    return [preds], [np.array([[0, 10, 10, 20, 20]], float)], [(100, 100)]


def _three_detections(scores: list[float]):
    return evaluate(*_three_detections_inputs(scores)).curves


def test_a_budget_counts_only_false_alarms_and_never_splits_tied_scores():
    """Within one false alarm per image: the true positive is free, so the threshold takes the first false alarm
    too (0.8); with the two false alarms tied at 0.8, keeping one of them is impossible, so the threshold stays
    at the target's 0.9."""
    p = budget_point(_three_detections([0.9, 0.8, 0.7]), FaBudget(1.0))
    assert (p.conf, p.detections, p.false_alarms) == (0.8, 2, 1)
    p = budget_point(_three_detections([0.9, 0.8, 0.8]), FaBudget(1.0))
    assert (p.conf, p.detections, p.false_alarms) == (0.9, 1, 0)


def test_a_printed_budget_threshold_passed_back_keeps_the_budget_and_an_unmet_one_says_so():
    """Within 0 false alarms per image: the target scores 0.23449 and a false alarm 0.2341. Rounded to 3 decimals
    the threshold read 0.234, which lets the false alarm through; the printed threshold, read back and applied as
    detect applies --conf, keeps exactly the budget point's detections. A budget the top detection breaks (a false
    alarm at 0.9) is said in words, not printed as a threshold."""
    curves = _three_detections([0.23449, 0.2341, 0.1])
    m = evaluate(*_three_detections_inputs([0.23449, 0.2341, 0.1]))
    m.at_budgets = [(FaBudget(0.0), budget_point(curves, FaBudget(0.0)))]
    row = [line for line in format_table(m).splitlines() if line.split()[0] == "FA<=0/img"][0]
    printed = float(row.split()[-1])
    assert printed == 0.2344  # the shortest number between the false alarm's score and the target's
    kept = operating_point(curves, printed)
    assert (kept.detections, kept.false_alarms) == (1, 0)
    assert m.as_dict()["at_fa_budgets"][0]["met"] is True
    m = evaluate(*_three_detections_inputs([0.5, 0.9, 0.1]))
    m.at_budgets = [(FaBudget(0.0), budget_point(m.curves, FaBudget(0.0)))]
    table = format_table(m).splitlines()
    assert [line.split()[-1] for line in table if line.split()[0] == "FA<=0/img"] == ["unmet"]
    assert "FA<=0/img: not met on this split: the detections scored 0.9 (the top score) already exceed it, so no " \
           "threshold keeps it" in table
    assert m.as_dict()["at_fa_budgets"][0]["met"] is False
