"""Tracking metrics (fscfnet.track.metrics): a hand-made case with hand-computed HOTA, MOTA and IDF1; random
sequences against TrackEval's own MOTChallenge evaluator reading the same files (its file reader, its IoU); the
centre-distance similarity matching a 3-px target that IoU misses; centre-matched Pd and false alarms; the
delay. (val --track end to end: test_evaluate.py.)"""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

from fscfnet.track.evaluate import centre_point, first_cover_delay, read_mot_gt
from fscfnet.track.metrics import SequenceBoxes, similarity, tracking_metrics

pytest.importorskip("trackeval", reason="pip install --no-deps -r requirements-nodeps.txt")


def _box(cx, cy, side=4.0):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def test_hand_made_case_one_target_two_track_ids():
    """One target over 10 frames, tracked exactly but as ID 7 in frames 1-5 and ID 9 in 6-10: every frame a true
    positive, one ID switch. MOTA = 1 - 1/10; IDF1 = 2*5 / (2*5 + 5 + 5) = 0.5; HOTA: DetA 1, each match's
    association IoU 5 / (5 + 5) = 0.5, so HOTA = sqrt(0.5)."""
    seq = SequenceBoxes(10)
    for f in range(1, 11):
        b = np.array([_box(10 + 2 * f, 20)])
        seq.gt[f] = (np.array([1]), b)
        seq.tracks[f] = (np.array([7 if f <= 5 else 9]), b.copy())
    m = tracking_metrics({"s": seq})
    assert m["MOTA"] == pytest.approx(0.9) and m["IDSW"] == 1
    assert m["IDF1"] == pytest.approx(0.5)
    assert m["DetA"] == pytest.approx(1.0) and m["AssA"] == pytest.approx(0.5)
    assert m["HOTA"] == pytest.approx(math.sqrt(0.5))


def _write_mot(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(f"{v:g}" for v in r) + "\n" for r in rows))


def _trackeval_reference(tmp_path, sequences):
    """TrackEval's MotChallenge2DBox evaluator over the sequences written as MOTChallenge files."""
    import trackeval

    gt_root, tr_root = tmp_path / "gt", tmp_path / "trackers"
    for name, seq in sequences.items():
        gt_rows, tr_rows = [], []
        for f in range(1, seq.frames + 1):
            for i, (x1, y1, x2, y2) in zip(*seq.gt.get(f, ([], []))):
                gt_rows.append([f, i, x1 + 1, y1 + 1, x2 - x1, y2 - y1, 1, 1, 1])
            for i, (x1, y1, x2, y2) in zip(*seq.tracks.get(f, ([], []))):
                tr_rows.append([f, i, x1 + 1, y1 + 1, x2 - x1, y2 - y1, 0.9, -1, -1, -1])
        _write_mot(gt_root / "MOT17-train" / name / "gt" / "gt.txt", gt_rows)
        (gt_root / "MOT17-train" / name / "seqinfo.ini").write_text(
            f"[Sequence]\nname={name}\nseqLength={seq.frames}\nimWidth=640\nimHeight=480\n")
        _write_mot(tr_root / "MOT17-train" / "mine" / "data" / f"{name}.txt", tr_rows)
    seqmap = tmp_path / "seqmap.txt"
    seqmap.write_text("name\n" + "".join(f"{n}\n" for n in sequences))
    config = {"GT_FOLDER": str(gt_root), "TRACKERS_FOLDER": str(tr_root), "BENCHMARK": "MOT17", "SPLIT_TO_EVAL": "train",
              "TRACKERS_TO_EVAL": ["mine"], "SEQMAP_FILE": str(seqmap), "DO_PREPROC": False, "PRINT_CONFIG": False}
    ev_config = {"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
                 "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "OUTPUT_EMPTY_CLASSES": False,
                 "DISPLAY_LESS_PROGRESS": True}
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = trackeval.Evaluator(ev_config)
        dataset = trackeval.datasets.MotChallenge2DBox(config)
        metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity()]
        res, _ = evaluator.evaluate([dataset], metrics)
    combined = res["MotChallenge2DBox"]["mine"]["COMBINED_SEQ"]["pedestrian"]
    return {"HOTA": float(np.mean(combined["HOTA"]["HOTA"])), "MOTA": combined["CLEAR"]["MOTA"],
            "IDF1": combined["Identity"]["IDF1"], "IDSW": combined["CLEAR"]["IDSW"]}


@pytest.mark.parametrize("seed", [0, 1])
def test_random_sequences_match_trackevals_own_evaluator(tmp_path, seed):
    rng = np.random.default_rng(seed)
    sequences = {}
    for s in range(3):
        seq = SequenceBoxes(int(rng.integers(15, 30)))
        starts = rng.uniform(50, 400, (3, 2))
        for f in range(1, seq.frames + 1):
            ids, gt, tids, tr = [], [], [], []
            for k in range(3):
                if rng.random() < 0.9:  # the target is in the frame
                    c = starts[k] + f * np.array([3.0, -2.0 + k])
                    ids.append(k + 1)
                    gt.append(_box(*c, 6 + 2 * k))
                    if rng.random() < 0.8:  # ... and tracked, a little off, under an ID that sometimes switches
                        tids.append(10 * (k + 1) + int(f > seq.frames // 2 and k == 1))
                        tr.append(_box(*(c + rng.normal(0, 1.0, 2)), 6 + 2 * k + rng.normal(0, 0.5)))
            if rng.random() < 0.3:  # a false track
                tids.append(99)
                tr.append(_box(*rng.uniform(20, 600, 2)))
            seq.gt[f] = (np.array(ids, int), np.array(gt).reshape(-1, 4))
            seq.tracks[f] = (np.array(tids, int), np.array(tr).reshape(-1, 4))
        sequences[f"seq{s}"] = seq
    ours = tracking_metrics(sequences)
    ref = _trackeval_reference(tmp_path, sequences)
    for key in ("HOTA", "MOTA", "IDF1", "IDSW"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-6), key
    assert 0.2 < ours["HOTA"] < 0.95  # a case with errors of every kind


def test_centre_distance_matches_a_tiny_target_iou_misses():
    """A 3-px target tracked 2 px off: IoU 1/5 (no match), centres 2 px apart (a match within 3 px)."""
    gt, tr = np.array([_box(50, 50, 3)]), np.array([_box(52, 50, 3)])
    assert similarity(gt, tr, "iou")[0, 0] == pytest.approx(0.2)
    assert similarity(gt, tr, "centre", 3.0)[0, 0] == pytest.approx(1 - 2 / 6)
    seq = SequenceBoxes(5, {f: (np.array([1]), gt) for f in range(1, 6)}, {f: (np.array([4]), tr) for f in range(1, 6)})
    assert tracking_metrics({"s": seq}, "iou")["MOTA"] == pytest.approx(-1.0)  # 5 misses and 5 false tracks
    assert tracking_metrics({"s": seq}, "centre", 3.0)["MOTA"] == pytest.approx(1.0)
    assert tracking_metrics({"s": seq}, "centre", 1.5)["MOTA"] == pytest.approx(-1.0)


def test_delay_to_the_first_covering_track_and_mot_gt_reading(tmp_path):
    gt_file = tmp_path / "gt.txt"
    # target 1 in frames 3-10 (1-based pixels 11,21 size 4x4), target 2 in frames 1-4
    gt_file.write_text("".join(f"{f},1,11,21,4,4,1,1,1\n" for f in range(3, 11))
                       + "".join(f"{f},2,101,101,6,6,1,2,1\n" for f in range(1, 5)))
    gt = read_mot_gt(gt_file)
    assert np.array_equal(gt[3][1], [[10, 20, 14, 24], [100, 100, 106, 106]]) and gt[1][0].tolist() == [2]
    tracks = {f: (np.array([5]), np.array([[10.5, 20, 14.5, 24]])) for f in range(6, 11)}  # covers 1 from frame 6
    assert first_cover_delay(gt, tracks, list(range(1, 11))) == [3, None]
    assert json.loads(json.dumps({"d": first_cover_delay(gt, tracks, list(range(1, 11)))})) == {"d": [3, None]}


def test_centre_matching_counts_a_mislocated_find_as_found_and_clutter_as_a_false_alarm():
    """Frame 1: a 3-px target with a detection 2 px off (IoU below 0.5) and a glint 40 px away; frame 2: the
    target found twice (the second detection is a false alarm) and one below conf."""
    target = np.array([[0, *_box(50, 50, 3)]])
    frame1 = np.array([[*_box(52, 50, 3), 0.9, 0], [*_box(90, 50, 3), 0.5, 0]])
    frame2 = np.array([[*_box(50, 51, 3), 0.8, 0], [*_box(51, 50, 3), 0.7, 0], [*_box(10, 10, 3), 0.1, 0]])
    p = centre_point([frame1, frame2], [target, target], 0.25, 3.0)
    assert (p["pd"], p["false_alarms"], p["false_alarms_per_frame"]) == (1.0, 2, 1.0)
    assert centre_point([frame1, frame2], [target, target], 0.25, 1.5)["pd"] == 0.5  # 2 px off: missed at 1.5 px
