"""Views of frames of any size: tiles cover every pixel, inputs are stride multiples, detections map back to
frame pixels, and a target seen by two tiles becomes one box."""

from __future__ import annotations

import numpy as np
import pytest

from fscfnet.data.views import (
    InferenceMode,
    View,
    letterbox_view,
    merge_detections,
    tile_origins,
)
from fscfnet.errors import UserError


@pytest.mark.parametrize("hw", [(1024, 1024), (1000, 333), (250, 333), (2048, 1280), (641, 640)])
@pytest.mark.parametrize("tile,overlap", [(320, 0.2), (640, 0.0), (100, 0.5)])
def test_tiles_cover_every_pixel_with_the_overlap_asked_and_stay_inside(hw, tile, overlap):
    views = InferenceMode("slice", tile=tile, overlap=overlap).views(hw, 32)
    covered = np.zeros(hw, np.int32)
    for v in views:
        assert v.x0 >= 0 and v.y0 >= 0 and v.x0 + v.w <= hw[1] and v.y0 + v.h <= hw[0]
        assert v.shape[0] % 32 == 0 and v.shape[1] % 32 == 0 and v.ratio == 1
        covered[v.y0:v.y0 + v.h, v.x0:v.x0 + v.w] += 1
    assert covered.min() >= 1  # every pixel seen
    for length in hw:
        starts = tile_origins(length, tile, overlap)
        if length > tile:  # neighbours overlap by at least the fraction asked; the last tile ends at the edge
            assert all(b - a <= tile - overlap * tile + 1 for a, b in zip(starts, starts[1:]))  # +1: rounding
            assert starts[0] == 0 and starts[-1] + tile == length
        else:
            assert starts == [0]


def test_native_pads_to_the_stride_and_slices_beyond_max_size():
    (v,) = InferenceMode("native").views((250, 333), 32)
    assert (v.x0, v.y0, v.w, v.h, v.ratio, v.shape) == (0, 0, 333, 250, 1.0, (256, 352))
    frame = np.full((250, 333, 1), 7, np.uint8)
    img = v.image(frame)
    assert img.shape == (256, 352, 1) and (img[:250, :333] == 7).all() and (img[250:] == 114).all()
    big = InferenceMode("native", max_size=512).views((1000, 700), 32)
    assert len(big) > 1 and all(max(x.w, x.h) <= 512 and x.shape == (512, 512) for x in big)


def test_detections_map_back_to_frame_pixels_and_are_clipped_to_their_view():
    mode = InferenceMode("slice", tile=100, overlap=0.2)
    v = [x for x in mode.views((300, 300), 32) if x.x0 > 0 and x.y0 > 0][0]
    det = np.array([[10.0, 20, 15, 26, 0.9, 0], [95, 95, 140, 140, 0.5, 0]])  # the second runs into the padding
    back = v.to_frame(det)
    np.testing.assert_allclose(back[0], [v.x0 + 10, v.y0 + 20, v.x0 + 15, v.y0 + 26, 0.9, 0])
    assert back[1, 2] == v.x0 + v.w and back[1, 3] == v.y0 + v.h  # clipped to the tile's region
    assert len(v.to_frame(np.array([[110.0, 10, 120, 20, 0.9, 0]]))) == 0  # wholly in the padding: dropped
    lb = letterbox_view((200, 400), 100)  # 0.25 scale, 25 grey rows above
    np.testing.assert_allclose(lb.to_frame(np.array([[10.0, 30, 20, 35, 1, 0]])), [[40, 20, 80, 40, 1, 0]])
    tall = letterbox_view((400, 200), 100)  # 0.25 scale, 25 grey columns on the left
    np.testing.assert_allclose(tall.to_frame(np.array([[30.0, 10, 35, 20, 1, 0]])), [[20, 40, 40, 80, 1, 0]])


def test_a_target_straddling_a_seam_gives_one_box():
    """Tiles [0, 100) and [80, 180) of a 200 x 200 frame: a 6x6 target at x 96..102 is cut by the first tile's
    edge (x 100, a seam) and seen whole by the second; merged, one box: the union, with the higher score. A
    box of another class, and boxes elsewhere, stay."""
    a, b = View(0, 0, 100, 200, 1.0, 0, 0, (224, 128)), View(80, 0, 100, 200, 1.0, 0, 0, (224, 128))
    left = np.array([[96.0, 40, 100, 46, 0.6, 0], [10, 10, 14, 14, 0.8, 0]])
    right = np.array([[96.0, 40, 102, 46, 0.9, 0], [150, 150, 155, 155, 0.7, 0], [97, 41, 101, 45, 0.5, 1]])
    merged = merge_detections([(a, left), (b, right)], (200, 200))
    assert len(merged) == 4
    np.testing.assert_allclose(merged[(merged[:, 5] == 0) & (merged[:, 0] == 96)], [[96, 40, 102, 46, 0.9, 0]])
    cut = merge_detections([(a, np.array([[97.0, 40, 100, 46, 0.95, 0]])), (b, right[:1])], (200, 200))
    np.testing.assert_allclose(cut, [[96, 40, 102, 46, 0.95, 0]])  # the cut part scored higher: still the union


def test_a_target_seen_whole_by_two_views_keeps_its_best_box_and_one_view_is_left_alone():
    a, b = View(0, 0, 120, 200, 1.0, 0, 0, (224, 128)), View(80, 0, 120, 200, 1.0, 0, 0, (224, 128))
    big_low = np.array([[85.0, 30, 115, 60, 0.05, 0]])  # a low-scored, larger box over the same target
    small_high = np.array([[96.0, 40, 102, 46, 0.9, 0]])
    np.testing.assert_allclose(merge_detections([(a, small_high), (b, big_low)], (200, 200)), small_high)
    same_view = np.array([[96.0, 40, 102, 46, 0.9, 0], [97, 41, 101, 45, 0.8, 0]])  # the model's own two boxes
    assert len(merge_detections([(a, same_view), (b, np.zeros((0, 6)))], (200, 200))) == 2
    assert len(merge_detections([(a, same_view)], (200, 200))) == 2 and len(merge_detections([], (9, 9))) == 0


def _pieces(views, target, score=1.0, cls=0.0):
    """What each view outlines of a target box (x1, y1, x2, y2): its part inside the view's region, where that part
    is at least a pixel each way."""
    parts = []
    for v in views:
        x1, y1 = max(target[0], v.x0), max(target[1], v.y0)
        x2, y2 = min(target[2], v.x0 + v.w), min(target[3], v.y0 + v.h)
        det = [[x1, y1, x2, y2, score, cls]] if x2 - x1 >= 1 and y2 - y1 >= 1 else []
        parts.append((v, np.array(det, np.float64).reshape(-1, 6)))
    return parts


@pytest.mark.parametrize("overlap", [0.0, 0.2])
def test_a_target_cut_by_touching_or_overlapping_tiles_becomes_one_box(overlap):
    """A 600 x 300 frame in 300-px tiles: with overlap 0 the tiles only touch at x 300, and the two pieces of a
    target there share an edge, no area. With the default overlap a piece and the whole box. One box either way;
    and a target on the corner of four tiles (600 x 600) gives one box too."""
    views = InferenceMode("slice", tile=300, overlap=overlap).views((300, 600), 32)
    merged = merge_detections(_pieces(views, (295, 100, 305, 110)), (300, 600))
    np.testing.assert_allclose(merged, [[295, 100, 305, 110, 1, 0]])
    views = InferenceMode("slice", tile=300, overlap=overlap).views((600, 600), 32)
    corner = (296, 294, 305, 303) if overlap == 0 else (356, 296, 365, 305)  # on the tiles' edges either way
    parts = _pieces(views, corner)
    assert sum(len(d) for _, d in parts) >= 4  # four tiles (six with the overlap) see some of it
    np.testing.assert_allclose(merge_detections(parts, (600, 600)), [[*corner, 1, 0]])


def test_a_target_cut_at_a_tile_corner_stays_one_box_whatever_the_scores():
    """Slice 160 of a 678 x 1311 frame: the target at 1052..1059 x 573..576 is cut in x and y by one tile, in y by
    a second, in x by a third and seen whole by a fourth. With the pieces scored above the whole box, the pieces
    cut in one direction each overlap by less than half and once stayed two boxes."""
    views = InferenceMode("slice", tile=160).views((678, 1311), 32)
    parts = _pieces(views, (1052, 573, 1059, 576))
    for _, det in parts:
        if len(det):
            cut_x, cut_y = det[0, 2] < 1059, det[0, 3] < 576
            det[0, 4] = 0.62 if cut_x and cut_y else 0.61 if cut_y else 0.60 if cut_x else 0.55
    assert sorted(d[0, 4] for _, d in parts if len(d)) == [0.55, 0.60, 0.61, 0.62]
    np.testing.assert_allclose(merge_detections(parts, (678, 1311)), [[1052, 573, 1059, 576, 0.62, 0]])


@pytest.mark.parametrize("tile,overlap", [(160, 0.0), (160, 0.2), (300, 0.0), (320, 0.25)])
def test_random_targets_across_seams_and_corners_each_give_one_box(tile, overlap):
    """150 frames with a few targets placed on seams and corners, each view outlining its part with scores that
    often tie: every target comes back as exactly its own box, never as two."""
    rng = np.random.default_rng(tile + int(100 * overlap))
    for _ in range(150):
        hw = (int(rng.integers(tile + 1, 3 * tile)), int(rng.integers(tile + 1, 3 * tile)))
        views = InferenceMode("slice", tile=tile, overlap=overlap).views(hw, 32)
        edges_x = sorted({v.x0 for v in views} | {v.x0 + v.w for v in views})
        edges_y = sorted({v.y0 for v in views} | {v.y0 + v.h for v in views})
        targets = []
        for k in range(3):  # apart from each other: 60-px bands
            w, h = (int(s) for s in rng.integers(2, 12, 2))
            x = int(np.clip(rng.choice(edges_x) - rng.integers(1, w + 1), 0, hw[1] - w))
            y = int(np.clip(rng.choice(edges_y) - rng.integers(1, h + 1), 0, hw[0] - h))
            if all(abs(x - t[0]) > 40 or abs(y - t[1]) > 40 for t in targets):
                targets.append((x, y, x + w, y + h))
        parts = [(v, np.zeros((0, 6))) for v in views]
        for t in targets:
            for k, (_, det) in enumerate(_pieces(views, t)):
                det[:, 4] = rng.choice([0.5, 0.7, 0.9], len(det))
                parts[k] = (parts[k][0], np.concatenate([parts[k][1], det]))
        merged = merge_detections(parts, hw)
        got = sorted(tuple(m[:4]) for m in merged)
        assert got == sorted(targets), (hw, targets, merged)


def _merge_reference(parts, hw, ios=0.5, tol=1.0):
    """The merge rule the plain way: every box against every box, one pair at a time."""
    boxes, view, cut = [], [], []
    for k, (v, det) in enumerate(parts):
        for d in det:
            boxes.append(d)
            view.append(k)
            cut.append([v.x0 > 0 and d[0] <= v.x0 + tol, v.y0 > 0 and d[1] <= v.y0 + tol,
                        v.x0 + v.w < hw[1] and d[2] >= v.x0 + v.w - tol, v.y0 + v.h < hw[0] and d[3] >= v.y0 + v.h - tol])
    n = len(boxes)

    def agree_and_overlap(i, j):
        a, b, va, vb = boxes[i], boxes[j], parts[view[i]][0], parts[view[j]][0]
        r = [max(va.x0, vb.x0), max(va.y0, vb.y0), min(va.x0 + va.w, vb.x0 + vb.w), min(va.y0 + va.h, vb.y0 + vb.h)]
        if r[2] < r[0] or r[3] < r[1] or a[5] != b[5]:
            return False, False
        if not all(d[2] >= r[0] - tol and d[0] <= r[2] + tol and d[3] >= r[1] - tol and d[1] <= r[3] + tol
                   for d in (a, b)):
            return False, False
        ok = True
        for lo, hi in ((0, 2), (1, 3)):
            if r[hi] - r[lo] < tol:
                continue
            ca = (min(max(a[lo], r[lo]), r[hi]), min(max(a[hi], r[lo]), r[hi]))
            cb = (min(max(b[lo], r[lo]), r[hi]), min(max(b[hi], r[lo]), r[hi]))
            inter = min(ca[1], cb[1]) - max(ca[0], cb[0])
            ok = ok and inter > 0 and inter >= 0.5 * (max(ca[1], cb[1]) - min(ca[0], cb[0]))
        iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
        smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
        over = iw > 0 and ih > 0 and smaller > 0 and iw * ih / smaller >= ios
        return ok, over and not ok

    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if view[i] != view[j]]
    flags = {p: agree_and_overlap(*p) for p in pairs}
    group = {i: {i} for i in range(n)}
    order = sorted((p for p in pairs if flags[p][0]), key=lambda p: (-max(boxes[p[0]][4], boxes[p[1]][4]),
                                                                  -min(boxes[p[0]][4], boxes[p[1]][4]), p))
    for i, j in order:
        if group[i] is not group[j] and not {view[k] for k in group[i]} & {view[k] for k in group[j]}:
            joined = group[i] | group[j]
            for k in joined:
                group[k] = joined
    targets = sorted({id(g): sorted(g) for g in group.values()}.values(), key=lambda m: (-max(boxes[k][4] for k in m), m[0]))
    kept, out = [], []
    for m in targets:
        views_m = {view[k] for k in m}
        if any(flags.get((min(i, j), max(i, j)), (0, 0))[1] and not views_m & {view[k] for k in t}
               for t in kept for i in m for j in t):
            continue
        kept.append(m)
        best = max(m, key=lambda k: (boxes[k][4], -k))
        whole = [k for k in m if not any(cut[k])]
        box = list(boxes[max(whole, key=lambda k: (boxes[k][4], -k))][:4]) if whole else [
            (min if side < 2 else max)([boxes[k][side] for k in m if not cut[k][side]] or [boxes[k][side] for k in m])
            for side in range(4)]
        out.append([*box, boxes[best][4], boxes[best][5]])
    return np.array(out).reshape(-1, 6)


@pytest.mark.parametrize("seed", range(4))
def test_the_merge_equals_the_plain_rule_on_crowded_tiles(seed):
    """Dozens of boxes per tile, many across seams, two classes, tied scores: comparing only the boxes that reach
    two views' common region changes nothing about which boxes join, which are dropped and what each target's box is."""
    rng = np.random.default_rng(seed)
    hw = (500, 700)
    views = InferenceMode("slice", tile=320, overlap=(0.0, 0.25)[seed % 2]).views(hw, 32)
    parts = []
    for v in views:
        n = int(rng.integers(0, 40))
        x1 = rng.uniform(v.x0 - 4, v.x0 + v.w, n)
        y1 = rng.uniform(v.y0 - 4, v.y0 + v.h, n)
        size = rng.choice([2.0, 5.0, 12.0, 90.0], (n, 2))
        det = np.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1], rng.choice(np.linspace(0.01, 1, 25), n),
                        rng.integers(0, 2, n).astype(float)], 1)
        det[:, [0, 2]] = det[:, [0, 2]].clip(v.x0, v.x0 + v.w)
        det[:, [1, 3]] = det[:, [1, 3]].clip(v.y0, v.y0 + v.h)
        # a copy of some boxes as a neighbouring view would see them: pieces that agree
        parts.append((v, det[(det[:, 2] > det[:, 0]) & (det[:, 3] > det[:, 1])]))
    for k, (v, det) in enumerate(parts):  # every box also as each other view sees it (its part there)
        for d in det[: len(det) // 2]:
            for j, (w, _) in enumerate(parts):
                if j != k:
                    piece = _pieces([w], d[:4], d[4] - 0.01, d[5])[0][1]
                    parts[j] = (w, np.concatenate([parts[j][1], piece]))
    got = merge_detections(parts, hw)
    want = _merge_reference(parts, hw)
    assert len(want) < sum(len(d) for _, d in parts)  # boxes did merge
    np.testing.assert_array_equal(got, want)


def test_bad_modes_are_one_line_errors():
    with pytest.raises(UserError, match="not one of letterbox, native, slice"):
        InferenceMode("tiles")
    with pytest.raises(UserError, match="--overlap 1.2 must lie in"):
        InferenceMode("slice", overlap=1.2)
