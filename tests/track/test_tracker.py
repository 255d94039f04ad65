"""The tracker (fscfnet.track): one ID through a gap and a crossing, no confirmation from one detection, distance
association keeping a 3-px target that IoU association loses, low-score detections extending but never starting
tracks, the class vote, and a stop-and-resume through state_dict giving the same IDs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from fscfnet.track import Tracker, TrackerConfig


def _box(cx: float, cy: float, side: float = 3.0) -> list[float]:
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def _run(tracker: Tracker, frames: list[list[tuple[list[float], float, int]]]) -> list[list[tuple[int, int]]]:
    """Per frame, the (track ID, index of the detection it took) of the confirmed tracks reported."""
    out = []
    for dets in frames:
        boxes = np.array([d[0] for d in dets]).reshape(-1, 4)
        scores = np.array([d[1] for d in dets])
        classes = np.array([d[2] for d in dets], int)
        found = tracker.update(boxes, scores, classes)
        out.append(sorted((t.id, next(j for j, b in enumerate(boxes) if np.array_equal(b, t.box))) for t in found))
    return out


def test_constant_velocity_target_keeps_its_id_through_a_gap_of_k_minus_one_frames():
    cfg = TrackerConfig(max_coast=6)
    frames = [[(_box(20 + 2.5 * f, 40 + 1.0 * f), 0.8, 0)] if not 20 <= f < 26 else [] for f in range(40)]  # 6 missed
    ids = _run(Tracker(cfg), frames)
    seen = {i for frame in ids for i, _ in frame}
    assert seen == {1}
    assert ids[2] == [(1, 0)] and ids[19] == [(1, 0)] and ids[26] == [(1, 0)] and ids[39] == [(1, 0)]
    # one more missed frame than max_coast ends the track: the target comes back under a new ID (confirmed again)
    frames = [[(_box(20 + 2.5 * f, 40), 0.8, 0)] if not 20 <= f < 27 else [] for f in range(40)]  # 7 > 6 missed
    ids = _run(Tracker(cfg), frames)
    assert {i for frame in ids[:20] for i, _ in frame} == {1}
    assert ids[27] == [] and ids[28] == [] and ids[29] == [(2, 0)]  # tentative for two frames, confirmed on the third


def test_two_crossing_targets_keep_their_ids():
    """Two 3-px targets of one class on crossing diagonals that meet at frame 15 (0.5 px apart): each keeps its ID,
    by motion alone."""
    frames, index_of_a = [], []
    for f in range(30):
        a, b = (_box(10 + 2 * f, 10 + 2 * f), 0.9, 0), (_box(10 + 2 * f, 70.5 - 2 * f), 0.9, 0)
        frames.append([a, b] if f % 2 else [b, a])  # the detections' order changes every frame
        index_of_a.append(0 if f % 2 else 1)
    ids = _run(Tracker(), frames)
    id_of_a = {f: next(i for i, j in ids[f] if j == index_of_a[f]) for f in range(2, 30)}
    id_of_b = {f: next(i for i, j in ids[f] if j != index_of_a[f]) for f in range(2, 30)}
    assert set(id_of_a.values()) == {id_of_a[2]} and set(id_of_b.values()) == {id_of_b[2]} != {id_of_a[2]}


def test_a_detection_seen_once_never_becomes_a_track():
    # glints: one bright detection per frame, each somewhere else (over 100 px from the last four)
    points = np.array([[50 + 137 * f % 900, 50 + 311 * f % 900] for f in range(50)], float)
    for f in range(1, 50):
        assert np.linalg.norm(points[max(f - 4, 0):f] - points[f], axis=1).min() > 100
    frames = [[(_box(*p), 0.9, 0)] for p in points]
    tracker = Tracker()
    assert all(frame == [] for frame in _run(tracker, frames))
    assert tracker.finish() == []


def test_low_scores_extend_a_confirmed_track_but_never_start_one():
    cfg = TrackerConfig(high=0.5, low=0.1)
    frames = [[(_box(30 + 2 * f, 30), 0.9 if f < 5 else 0.2, 0)] for f in range(15)]
    assert [len(f) for f in _run(Tracker(cfg), frames)] == [0, 0] + [1] * 13
    faint = [[(_box(30 + 2 * f, 30), 0.2, 0)] for f in range(15)]
    assert all(f == [] for f in _run(Tracker(cfg), faint))


def test_distance_association_keeps_a_3px_target_that_iou_association_loses():
    """A 3 x 3 target moving 3.5 px per frame: consecutive boxes never overlap, so matching by IoU (ByteTrack's
    rule: IoU distance 1 - IoU below 0.8) pairs nothing and would start a new track every frame; the tracker
    keeps one ID over all 30 frames."""
    boxes = [_box(20 + 3.5 * f, 50) for f in range(30)]
    ious = [box_iou(torch.tensor([a]), torch.tensor([b])).item() for a, b in zip(boxes, boxes[1:])]
    assert max(ious) == 0.0 < 0.2  # ByteTrack pairs a track and a detection when 1 - IoU < 0.8: never here
    ids = _run(Tracker(), [[(b, 0.9, 0)] for b in boxes])
    assert {i for frame in ids for i, _ in frame} == {1} and all(frame == [(1, 0)] for frame in ids[2:])


def test_class_is_the_score_weighted_vote_and_ended_tracks_are_reported():
    frames = [[(_box(40 + 2 * f, 40), s, c)] for f, (s, c) in enumerate([(0.9, 2), (0.3, 1), (0.3, 1), (0.9, 2),
                                                                         (0.35, 1)] * 3)]
    tracker = Tracker(TrackerConfig(low=0.1, high=0.25))
    _run(tracker, frames)
    (rec,) = tracker.finish()
    assert rec["class"] == 2 and rec["votes"] == {"1": pytest.approx(0.95 * 3), "2": pytest.approx(1.8 * 3)}
    assert (rec["id"], rec["first_frame"], rec["last_frame"], rec["hits"]) == (1, 1, 15, 15)
    assert rec["peak_score"] == 0.9 and len(rec["path"]) == 15 and rec["path"][0][:3] == [1, 40.0, 40.0]
    json.dumps(rec)  # plain data


def test_state_saved_and_restored_mid_sequence_gives_the_same_ids():
    rng = np.random.default_rng(3)
    frames = []
    for f in range(60):
        dets = [(_box(20 + 2 * f, 30 + 0.5 * f), 0.8, 0), (_box(200 - 1.5 * f, 100), 0.6, 1)]
        dets += [(_box(*rng.uniform(0, 300, 2)), float(rng.uniform(0.05, 0.5)), 0) for _ in range(3)]  # clutter
        if f % 7 == 3:
            dets = dets[1:]  # the first target missed now and then
        frames.append(dets)
    reference = Tracker()
    whole = _run(reference, frames)
    first = Tracker()
    part = _run(first, frames[:27])
    state = json.loads(json.dumps(first.state_dict()))  # through JSON: plain data
    second = Tracker()
    second.load_state_dict(state)
    assert part + _run(second, frames[27:]) == whole
    assert json.dumps(second.state_dict()) == json.dumps(reference.state_dict())
    assert second.finish() == reference.finish()  # every ended track's record: frames, path, votes
    first_target = {i for f, frame in enumerate(whole) for i, j in frame if j == 0 and f % 7 != 3}
    second_target = {i for f, frame in enumerate(whole) for i, j in frame if j == (0 if f % 7 == 3 else 1)}
    assert len(first_target) == 1 and len(second_target) == 1 and first_target != second_target  # one ID each


def test_bad_settings_and_frames_are_refused():
    with pytest.raises(ValueError, match="low <= high"):
        TrackerConfig(high=0.2, low=0.3)
    with pytest.raises(ValueError, match="confirm_hits"):
        TrackerConfig(confirm_hits=6, confirm_window=5)
    t = Tracker()
    t.update(np.zeros((0, 4)), np.zeros(0), frame=5)
    with pytest.raises(ValueError, match="does not follow"):
        t.update(np.zeros((0, 4)), np.zeros(0), frame=5)


def test_min_motion_confirms_a_moving_target_and_never_a_glint_that_stands_still():
    """The same detector output: a glint at one spot (jittering 0.3 px) and a target moving 1 px per frame."""
    frames = [[(_box(40 + 0.3 * (f % 2), 40), 0.9, 0), (_box(100 + f, 60), 0.9, 0)] for f in range(20)]
    plain, moving = _run(Tracker(), frames), _run(Tracker(TrackerConfig(min_motion=2.0)), frames)
    assert {j for frame in plain for _, j in frame} == {0, 1}  # persistence alone confirms both
    assert {j for frame in moving for _, j in frame} == {1}  # the glint never moves 2 px: never a track
    assert moving[1] == [] and moving[2] == [(1, 1)]  # 3 hits, 2 px from its first detection: the third frame
    with pytest.raises(ValueError, match="min_motion"):
        TrackerConfig(min_motion=-1)


def test_a_second_box_on_a_tracked_target_starts_no_rival_track():
    """A detector that puts a second box 2 px beside the target from the first frame on, and misses the main one
    every third frame: the second box never becomes a track of its own (neither started beside the confirmed
    track nor confirmed together with it), so the target keeps ID 1; a rival track once took the target's
    detection whenever the first missed it, and the ID switched back and forth. A target appearing far away still
    gets its own track."""
    frames = []
    for f in range(30):
        x, y = 20 + 1.5 * f, 40.0
        main, twin = (_box(x, y), 0.9, 0), (_box(x + 2, y + 1), 0.6, 0)
        dets = [twin] if f % 3 == 2 else [main, twin]
        if f >= 10:
            dets.append((_box(80, 10), 0.8, 0))  # a second, distant target from frame 10
        frames.append(dets)
    ids = _run(Tracker(), frames)
    near = {i for f, found in enumerate(ids) for i, j in found if frames[f][j][0][1] > 30}
    far = {i for f, found in enumerate(ids) for i, j in found if frames[f][j][0][1] < 30}
    assert near == {1} and far == {2}
    assert all(any(i == 1 for i, _ in ids[f]) for f in range(2, 30))  # seen in every frame once confirmed
