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


def _merge_reference(parts, hw, ios=0.5):
    """The merge rule checked the plain way: every row against every kept box, in keeping order."""
    def at_seam(d, v):
        h, w = hw
        return bool((v.x0 > 0 and d[0] <= v.x0 + 1) or (v.y0 > 0 and d[1] <= v.y0 + 1)
                    or (v.x0 + v.w < w and d[2] >= v.x0 + v.w - 1) or (v.y0 + v.h < h and d[3] >= v.y0 + v.h - 1))

    def ios_of(a, b):
        iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
        smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
        return iw * ih / smaller if iw > 0 and ih > 0 and smaller > 0 else 0.0

    rows = sorted([(d, k, at_seam(d, v)) for k, (v, det) in enumerate(parts) for d in det], key=lambda r: -r[0][4])
    kept = []
    for d, k, seam in rows:
        for m in kept:
            if m[1] != k and m[0][5] == d[5] and ios_of(m[0], d) >= ios:
                if seam or m[2]:
                    m[0][:2], m[0][2:4] = np.minimum(m[0][:2], d[:2]), np.maximum(m[0][2:4], d[2:4])
                    m[2] = m[2] and seam
                break
        else:
            kept.append([d.copy(), k, seam])
    return np.array([m[0] for m in kept]).reshape(-1, 6)


@pytest.mark.parametrize("seed", range(6))
def test_the_indexed_merge_equals_the_plain_rule_on_crowded_tiles(seed):
    """Hundreds of boxes per tile, many across seams, two classes, tied scores: the spatial index changes nothing
    about which boxes merge, grow or stay."""
    rng = np.random.default_rng(seed)
    hw = (700, 900)
    views = InferenceMode("slice", tile=320, overlap=0.25).views(hw, 32)
    parts = []
    for v in views:
        n = int(rng.integers(0, 120))
        x1 = rng.uniform(v.x0 - 4, v.x0 + v.w, n)
        y1 = rng.uniform(v.y0 - 4, v.y0 + v.h, n)
        size = rng.choice([2.0, 5.0, 12.0, 90.0], (n, 2))
        det = np.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1], rng.choice(np.linspace(0.01, 1, 25), n),
                        rng.integers(0, 2, n).astype(float)], 1)
        det[:, [0, 2]] = det[:, [0, 2]].clip(v.x0, v.x0 + v.w)
        det[:, [1, 3]] = det[:, [1, 3]].clip(v.y0, v.y0 + v.h)
        parts.append((v, det))
    got = merge_detections(parts, hw)
    want = _merge_reference(parts, hw)
    assert len(want) < sum(len(d) for _, d in parts)  # boxes did merge
    np.testing.assert_array_equal(got, want)


def test_bad_modes_are_one_line_errors():
    with pytest.raises(UserError, match="not one of letterbox, native, slice"):
        InferenceMode("tiles")
    with pytest.raises(UserError, match="--overlap 1.2 must lie in"):
        InferenceMode("slice", overlap=1.2)
