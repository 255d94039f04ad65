"""Training at native scale: imgsz crops of frames at their own pixel scale, around targets or anywhere. Checked
against the pixels themselves: every target's visible part in a crop is labelled exactly when the min_box_px /
min_visible rule keeps it; small frames are padded, never upscaled; the batches do not depend on the workers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fscfnet.cfg.augment import AugmentConfig
from fscfnet.cfg.data import DataConfig
from fscfnet.data.augment import filter_boxes, native_crop
from fscfnet.data.dataset import IRSTDDataset, build_dataloader

SIZE, T = 6, 255  # targets: 6 x 6 squares at 255 on a background of 20
NO_OTHER_AUG = dict(mosaic=0.0, translate=0.0, scale=0.0, fliplr=0.0, flipud=0.0, brightness=0.0, contrast=0.0,
                    gamma=0.0)


def _dataset(tmp_path, frames: dict[str, tuple[int, int, list[tuple[int, int]]]]) -> DataConfig:
    """Frames ``stem -> (height, width, [target top-left corners])`` written with their YOLO labels."""
    for sub in ("images", "labels", "img_idx"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    for stem, (h, w, corners) in frames.items():
        img = np.full((h, w), 20, np.uint8)
        rows = []
        for x, y in corners:
            img[y:y + SIZE, x:x + SIZE] = T
            rows.append(f"0 {(x + SIZE / 2) / w:.6f} {(y + SIZE / 2) / h:.6f} {SIZE / w:.6f} {SIZE / h:.6f}")
        cv2.imwrite(str(tmp_path / "images" / f"{stem}.png"), img)
        (tmp_path / "labels" / f"{stem}.txt").write_text("\n".join(rows) + "\n")
    (tmp_path / "img_idx" / "train.txt").write_text("\n".join(frames) + "\n")
    return DataConfig(path=str(tmp_path), train="img_idx/train.txt", test="img_idx/train.txt")


def _components(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """x1, y1, x2, y2 (exclusive) of the bright components of a (C, H, W) sample, by OpenCV, not by the labels."""
    n, _, stats, _ = cv2.connectedComponentsWithStats((img[0] > 200).astype(np.uint8), connectivity=8)
    return sorted((x, y, x + w, y + h) for x, y, w, h, _ in stats[1:])


@pytest.mark.parametrize("min_box_px,min_visible", [(1.0, 0.25), (3.0, 0.25), (1.0, 0.6)])
def test_each_visible_target_is_labelled_exactly_when_the_rule_keeps_it(tmp_path, min_box_px, min_visible):
    """Targets near each other and the frame's edges, 64-px crops at scale 1 (no jitter): whatever the crop cuts,
    a bright component is labelled (with its visible box) if and only if it is at least min_box_px wide and high
    and shows at least min_visible of the target's area."""
    corners = [(30, 40), (60, 44), (95, 100), (140, 20), (0, 150), (194, 170)]
    cfg = _dataset(tmp_path, {"a": (176, 200, corners)})
    aug = AugmentConfig(**NO_OTHER_AUG, min_box_px=min_box_px, min_visible=min_visible, native_jitter=0.0,
                        background_crops=0.3)
    ds = IRSTDDataset(cfg, "train", 64, aug, log=lambda s: None, scale="native")
    kept = dropped = 0
    for epoch in range(60):
        img, target, _ = ds[(epoch, 0)]
        labelled = sorted(tuple(round(float(v)) for v in ((t[1] - t[3] / 2) * 64, (t[2] - t[4] / 2) * 64,
                                                   (t[1] + t[3] / 2) * 64, (t[2] + t[4] / 2) * 64)) for t in target)
        expected = [c for c in _components(img.numpy())
                    if min(c[2] - c[0], c[3] - c[1]) >= min_box_px and (c[2] - c[0]) * (c[3] - c[1]) >= min_visible * SIZE ** 2]
        assert labelled == expected, (epoch, labelled, _components(img.numpy()))
        kept += len(expected)
        dropped += len(_components(img.numpy())) - len(expected)
    assert kept > 30 and dropped > 0  # both outcomes occur


def test_the_crop_rule_at_its_boundaries():
    """min_visible is a lower bound that keeps its equal; min_box_px holds for width and height alike."""
    b, _ = filter_boxes(np.array([[-3.0, -3, 3, 3]]), np.zeros(1), 64, 64, 1.0, 0.25)
    assert b.tolist() == [[0, 0, 3, 3]]  # 9 of 36 px visible: exactly min_visible, kept
    b, _ = filter_boxes(np.array([[-4.0, 10, 2, 16]]), np.zeros(1), 64, 64, 3.0, 0.25)
    assert len(b) == 0  # 2 x 6 px visible: area enough, but narrower than min_box_px
    b, _ = filter_boxes(np.array([[10.0, -4, 16, 2]]), np.zeros(1), 64, 64, 3.0, 0.25)
    assert len(b) == 0  # and lower


def test_crops_are_around_targets_unless_background_and_small_frames_are_padded_not_upscaled():
    rng = np.random.default_rng(0)
    frame = np.full((500, 700, 1), 20, np.uint8)
    frame[300:306, 600:606] = T
    boxes = np.array([[600.0, 300, 606, 306]])
    for _ in range(50):  # every target crop holds the whole target (at a random offset), and its box
        out, b = native_crop(frame, boxes, 128, 0.0, 0.0, rng)
        assert (out == T).sum() == SIZE * SIZE and b[0, :2].min() >= 0 and b[0, 2:].max() <= 128
    offsets = {tuple(native_crop(frame, boxes, 128, 0.0, 0.0, rng)[1][0, :2].round()) for _ in range(20)}
    assert len(offsets) > 5  # not always centred
    small = np.full((40, 60, 1), 20, np.uint8)
    small[10:16, 20:26] = T
    out, b = native_crop(small, np.array([[20.0, 10, 26, 16]]), 128, 0.0, 0.0, rng)
    assert out.shape == (128, 128, 1) and (out == 114).sum() == 128 * 128 - 40 * 60  # padded with grey
    ys, xs = np.nonzero(out[..., 0] == T)
    assert (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == (SIZE, SIZE)  # native size, not upscaled
    np.testing.assert_allclose(b[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    scales = [native_crop(frame, boxes, 128, 0.33, 0.0, rng)[1][0] for _ in range(200)]
    widths = np.array([s[2] - s[0] for s in scales])
    assert widths.min() < 5.0 and widths.max() > 7.0  # rescaled both ways, within [1 / 1.33, 1.33]
    assert widths.min() >= 6 / 1.33 - 0.02 and widths.max() <= 6 * 1.33 + 0.02


def test_native_crop_batches_are_the_same_for_0_1_and_2_workers(tmp_path):
    cfg = _dataset(tmp_path, {f"f{i}": (150 + 40 * i, 220 - 20 * i, [(20 + 10 * i, 30), (100, 90 + i)])
                              for i in range(6)})
    aug = AugmentConfig(mosaic=0.5)  # mosaic of native crops too, every other augmentation on
    ds = IRSTDDataset(cfg, "train", 96, aug, log=lambda s: None, scale="native")
    runs = []
    for workers in (0, 1, 2):
        loader = build_dataloader(ds, 4, workers, shuffle=True, seed=3)
        batches = []
        for epoch in (0, 1):
            loader.sampler.set_epoch(epoch)
            batches += [(images, targets) for images, targets, _ in loader]
        runs.append(batches)
    for other in runs[1:]:
        assert len(other) == len(runs[0]) == 4
        for (a_img, a_t), (b_img, b_t) in zip(runs[0], other, strict=True):
            assert torch.equal(a_img, b_img) and all(torch.equal(x, y) for x, y in zip(a_t, b_t, strict=True))
    assert sum(int(t.mask.sum()) for _, t in runs[0]) > 0
