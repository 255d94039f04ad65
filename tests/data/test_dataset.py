"""Dataset, loader, augmentation and demo data: label checks, tiny-target survival, reproducibility."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fscfnet.cfg.augment import AugmentConfig
from fscfnet.cfg.data import DataConfig, data_yaml_text, load_data_config
from fscfnet.data import ensure_dataset
from fscfnet.data.dataset import IRSTDDataset, build_dataloader, label_stats
from fscfnet.data.demo import generate_demo, make_frame
from fscfnet.data.labels import read_yolo_labels
from fscfnet.data.views import letterbox_view
from fscfnet.errors import DatasetError, UserError
from fscfnet.utils.plots import plot_batch, plot_label_stats


def make_dataset(root, images: dict, labels: dict, train=None, test=None) -> DataConfig:
    """Write images ({stem: array or bytes}) and label lines ({stem: [str]}) in the project's layout."""
    for sub in ("images", "labels", "img_idx"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stem, img in images.items():
        if isinstance(img, bytes):
            (root / "images" / f"{stem}.png").write_bytes(img)
        else:
            cv2.imwrite(str(root / "images" / f"{stem}.png"), img)
    for stem, lines in labels.items():
        (root / "labels" / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
    stems = list(images)
    (root / "img_idx" / "train.txt").write_text("\n".join(train or stems) + "\n")
    (root / "img_idx" / "test.txt").write_text("\n".join(test or stems) + "\n")
    return DataConfig(path=str(root), train="img_idx/train.txt", test="img_idx/test.txt")


def target_image(w: int, h: int, x: int, y: int, size: int = 2, background: int = 0) -> np.ndarray:
    img = np.full((h, w), background, np.uint8)
    img[y:y + size, x:x + size] = 255
    return img


@pytest.mark.parametrize("line,message", [
    ("0 0.5 0.5 0.1", "expected 5 values 'class cx cy w h', got 4"),
    ("1 0.5 0.5 0.1 0.1", "class 1 is not an integer in 0..0"),
    ("0.5 0.5 0.5 0.1 0.1", "class 0.5 is not an integer"),
    ("0 0.99 0.5 0.1 0.1", "box 0.99 0.5 0.1 0.1 reaches outside the image"),
    ("0 0.5 0.5 0 0.1", "box has zero or negative size"),
    ("0 0.5 x 0.1 0.1", "values must be numbers"),
])
def test_bad_label_lines_name_file_and_line(tmp_path, line, message):
    cfg = make_dataset(tmp_path, {"a": target_image(32, 32, 4, 4)}, {"a": ["0 0.5 0.5 0.2 0.2", line]})
    with pytest.raises(DatasetError) as e:
        IRSTDDataset(cfg, "train", 32)
    assert f"{tmp_path / 'labels' / 'a.txt'}:2: {message}" in str(e.value)


def test_rounding_outside_the_image_is_clipped(tmp_path):
    lab = tmp_path / "l.txt"
    lab.write_text("0 0.0004 0.5 0.001 0.2\n")
    (_, cx, _, w, _), = read_yolo_labels(lab, 1)
    assert cx - w / 2 == pytest.approx(0.0, abs=1e-7)


def test_background_images_unreadable_files_and_channels(tmp_path):
    logged = []
    cfg = make_dataset(tmp_path, {"a": target_image(40, 30, 5, 6), "b": np.full((30, 40), 9, np.uint8),
                                  "broken": b"\x89PNG\r\n\x1a\nnot really"}, {"a": ["0 0.15 0.233333 0.05 0.066667"]})
    ds = IRSTDDataset(cfg, "train", 64, log=logged.append)
    assert len(ds) == 2 and ds.skipped == [str(tmp_path / "images" / "broken.png")]
    assert "broken.png: cannot be read as an image; skipped" in logged[0]
    assert "2 images, 1 targets, 1 background (1 without a label file), 1 unreadable skipped" in ds.summary
    frame = ds.frame(0)
    assert frame.shape == (30, 40, 3) and frame.dtype == np.uint8  # whole frames, as read
    assert IRSTDDataset(cfg, "train", 64, channels=1, log=logged.append).frame(0).shape == (30, 40, 1)
    assert (frame[..., 0] == frame[..., 1]).all() and (frame[..., 1] == frame[..., 2]).all()  # grey: 3 equal channels
    with pytest.raises(TypeError, match="frame"):
        ds[0]  # a dataset without augmentation gives whole frames, not training samples


def test_letterbox_view_maps_boxes_back_to_original_pixels(tmp_path):
    """Validation letterboxes a frame through a View: the same pixels and box map as the training Letterbox."""
    cfg = make_dataset(tmp_path, {"a": target_image(80, 40, 30, 10, size=4)}, {"a": ["0 0.4 0.3 0.05 0.1"]})
    ds = IRSTDDataset(cfg, "test", 64)
    frame = ds.frame(0)
    view, lb = letterbox_view(frame.shape[:2], 64), ds.letterbox(0)  # 80x40 -> 64x32 at 0.8, 16 grey rows above
    assert (view.ratio, view.left, view.top, view.shape) == (pytest.approx(0.8), 0, 16, (64, 64))
    assert np.array_equal(view.image(frame), lb(frame))
    x1, y1, x2, y2 = lb.boxes_to_input(ds.pixel_boxes(0))[0]
    assert (x1, y1) == pytest.approx((30 * 0.8, 10 * 0.8 + 16))
    np.testing.assert_allclose(view.to_frame(np.array([[x1, y1, x1 + 3.2, y1 + 3.2, 0.9, 0]])),
                               [[30, 10, 34, 14, 0.9, 0]], atol=1e-4)
    # clipped to the frame; a box wholly in the grey band is dropped
    np.testing.assert_allclose(view.to_frame(np.array([[-8.0, 10, 8, 20, 1, 0], [0, 0, 60, 12, 1, 0]])),
                               [[0, 0, 10, 5, 1, 0]])
    assert np.array_equal(IRSTDDataset(cfg, "test", 64, cache=True).frame(0), frame)


@pytest.mark.parametrize("scale", ["resize", "native"])
def test_a_cached_training_set_gives_the_samples_of_an_uncached_one(tmp_path, scale):
    """The cache holds what reading would give (resized images, or whole frames for native-scale crops)."""
    images = {f"f{k}": target_image(96 - 8 * k, 48 + 8 * k, 10 + k, 12, size=4) for k in range(3)}
    cfg = make_dataset(tmp_path, images, {s: ["0 0.2 0.3 0.05 0.1"] for s in images})
    plain, cached = (IRSTDDataset(cfg, "train", 64, AugmentConfig(), seed=1, scale=scale, cache=c) for c in (False, True))
    assert len(cached._cache) == 3 and cached.shapes == plain.shapes
    for i in range(3):
        (a, ta, _), (b, tb, _) = plain[i], cached[i]
        assert torch.equal(a, b) and torch.equal(ta, tb), i


def test_empty_index_and_missing_image(tmp_path):
    cfg = make_dataset(tmp_path, {"a": target_image(16, 16, 2, 2)}, {})
    (tmp_path / "img_idx" / "train.txt").write_text("\n")
    with pytest.raises(DatasetError, match="lists no images"):
        IRSTDDataset(cfg, "train", 32)
    (tmp_path / "img_idx" / "train.txt").write_text("a\nghost\n")
    with pytest.raises(DatasetError, match="1 listed images have no file"):
        IRSTDDataset(cfg, "train", 32)
    with pytest.raises(UserError, match="unknown split 'tset'; did you mean 'test'"):
        IRSTDDataset(cfg, "tset", 32)


def _target_footprints(img: np.ndarray, background: int) -> list[tuple[int, int, int, int, bool]]:
    """Half-maximum pixel extent (x1, y1, x2, y2 exclusive) of each bright blob, and whether it touches the border."""
    ndimage = pytest.importorskip("scipy.ndimage")
    comps, _ = ndimage.label(img > background + 8, structure=np.ones((3, 3)))
    out = []
    for k, (sy, sx) in enumerate(ndimage.find_objects(comps), 1):
        blob = np.where(comps == k, img.astype(float) - background, 0)
        ys, xs = np.nonzero(blob >= blob.max() / 2)
        edge = sy.start == 0 or sx.start == 0 or sy.stop == img.shape[0] or sx.stop == img.shape[1]
        out.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, edge))
    return out


def test_two_pixel_targets_stay_under_their_boxes_through_mosaic_affine_and_flip(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = {}, {}
    for i in range(6):  # a 2x2 target on a background equal to the padding value, so only targets stand out
        x, y = int(rng.integers(4, 90)), int(rng.integers(4, 60))
        images[f"t{i}"] = target_image(100, 70, x, y, background=114)
        labels[f"t{i}"] = [f"0 {(x + 1) / 100:.6f} {(y + 1) / 70:.6f} {2 / 100:.6f} {2 / 70:.6f}"]
    cfg = make_dataset(tmp_path, images, labels)
    aug = AugmentConfig(mosaic=1.0, translate=0.1, scale=0.5, fliplr=0.5, flipud=0.5, brightness=0, contrast=0, gamma=0)
    ds = IRSTDDataset(cfg, "train", 96, aug)
    matched = 0
    for epoch in range(8):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            img, target, _ = ds[i]
            boxes = [((cx - w / 2) * 96, (cy - h / 2) * 96, (cx + w / 2) * 96, (cy + h / 2) * 96)
                     for _, cx, cy, w, h in target.tolist()]
            footprints = _target_footprints(img[0].numpy(), 114)
            for bx in boxes:  # every box sits on a target, within 1 px on each side
                assert any(all(abs(a - b) <= 1.0 for a, b in zip(fp[:4], bx)) for fp in footprints), (epoch, i, bx)
            for fp in footprints:  # every target fully in view kept its box
                if not fp[4]:
                    assert any(all(abs(a - b) <= 1.0 for a, b in zip(fp[:4], bx)) for bx in boxes), (epoch, i, fp)
            matched += len(boxes)
    assert matched >= 48  # about a quarter of each 2s x 2s mosaic stays in view: 1-2 of its 4 targets


def test_min_box_size_setting_drops_sub_pixel_targets(tmp_path):
    """The rule, exactly: after augmentation a box stays iff its width and its height are both >= min_box_px."""
    # 1) no random scale (s = 1, boxes unchanged): box sizes chosen around the threshold, each case checked
    sizes = [(0.5, 3.0), (1.0, 1.0), (1.5, 2.5), (1.99, 3.0), (2.0, 2.0), (2.01, 2.5), (3.0, 1.99), (3.0, 2.5)]
    images = {f"b{i}": target_image(64, 64, 20, 20) for i in range(len(sizes))}
    labels = {f"b{i}": [f"0 0.5 0.5 {w / 64!r} {h / 64!r}"] for i, (w, h) in enumerate(sizes)}
    cfg = make_dataset(tmp_path / "exact", images, labels)
    for min_px in (1.0, 2.0):
        aug = AugmentConfig(mosaic=0, translate=0, scale=0, fliplr=0, brightness=0, contrast=0, gamma=0,
                            min_box_px=min_px)
        ds = IRSTDDataset(cfg, "train", 64, aug)
        for i, (w, h) in enumerate(sizes):
            target = ds[i][1]
            assert len(target) == int(w >= min_px and h >= min_px), (min_px, w, h, target)
            if len(target):  # kept unchanged
                assert target[0, 3:].tolist() == pytest.approx([w / 64, h / 64], abs=1e-6)
    # 2) random scale U(0.5, 1.5) on a 2x2 box: per seed, the box the 1 px setting keeps (2 s wide) is kept by
    # the 2 px setting iff it is >= 2 px; both outcomes occur among the seeds
    cfg = make_dataset(tmp_path / "scaled", {"a": target_image(64, 64, 20, 20)},
                       {"a": ["0 0.328125 0.328125 0.03125 0.03125"]})
    keep = AugmentConfig(mosaic=0, translate=0, scale=0.5, fliplr=0, min_box_px=1.0)
    strict = AugmentConfig(mosaic=0, translate=0, scale=0.5, fliplr=0, min_box_px=2.0)
    outcomes = set()
    for seed in range(20):
        kept = IRSTDDataset(cfg, "train", 64, keep, seed=seed)[0][1]
        assert len(kept) == 1, seed  # 2 s >= 1 px for every s in [0.5, 1.5]
        w, h = (kept[0, 3:] * 64).tolist()
        assert w == pytest.approx(h, abs=1e-4) and 1.0 - 1e-4 <= w <= 3.0 + 1e-4, (seed, w, h)
        stays = w >= 2.0
        got = IRSTDDataset(cfg, "train", 64, strict, seed=seed)[0][1]
        assert len(got) == int(stays), (seed, w)
        if stays:
            assert torch.equal(got, kept), seed
        outcomes.add(stays)
    assert outcomes == {True, False}


def test_samples_depend_only_on_seed_epoch_and_index(tmp_path):
    images = {f"s{i}": target_image(48, 40, 4 * i + 2, 10) for i in range(6)}
    labels = {k: [f"0 {(4 * i + 3) / 48:.6f} {11 / 40:.6f} {2 / 48:.6f} {2 / 40:.6f}"] for i, k in enumerate(images)}
    cfg = make_dataset(tmp_path, images, labels)
    ds = IRSTDDataset(cfg, "train", 64, AugmentConfig(), seed=3)
    a = ds[2]
    ds.set_epoch(1)
    b = ds[2]
    ds.set_epoch(0)
    assert torch.equal(ds[2][0], a[0]) and not torch.equal(b[0], a[0])

    def batches(workers):
        return [(x.clone(), [f.clone() for f in t]) for x, t, _ in build_dataloader(ds, 4, workers, shuffle=True,
                                                                                    seed=5)]

    def same(p, q) -> bool:  # images, then each field of the batch's Targets (labels, boxes, mask)
        return torch.equal(p[0], q[0]) and len(p[1]) == len(q[1]) == 3 and all(
            torch.equal(a, b) for a, b in zip(p[1], q[1], strict=True))

    one, two, serial = batches(2), batches(2), batches(0)
    assert len(one) == len(two) == len(serial) == 2  # 6 images in batches of 4
    assert all(same(p, q) for p, q in zip(one, two, strict=True))
    assert all(same(p, q) for p, q in zip(one, serial, strict=True))
    images_b, (labels_b, boxes_b, mask_b) = one[0]
    assert images_b.shape == (4, 3, 64, 64) and labels_b.shape == mask_b.shape == boxes_b.shape[:2]
    assert labels_b.shape[0] == 4 and boxes_b.shape[2] == 4 and mask_b.any()


def _components_as_yolo_rows(mask: np.ndarray) -> list[list[float]]:
    """The 8-connected components of ``mask > 127`` by scipy.ndimage, each as a YOLO row (class 0, centre and
    size normalised) of its tight pixel-inclusive box: columns x1..x2 -> x = x1, w = x2 - x1 + 1."""
    ndimage = pytest.importorskip("scipy.ndimage")
    comps, n = ndimage.label(mask > 127, structure=np.ones((3, 3)))
    h, w = mask.shape
    rows = []
    for sy, sx in ndimage.find_objects(comps):
        bw, bh = sx.stop - sx.start, sy.stop - sy.start
        rows.append([0.0, (sx.start + bw / 2) / w, (sy.start + bh / 2) / h, bw / w, bh / h])
    return sorted(rows, key=lambda r: (r[2], r[1]))


def test_demo_dataset_is_deterministic_and_labels_match_masks(tmp_path):
    generate_demo(tmp_path / "a" / "demo", seed=0, n_train=6, n_test=3)
    generate_demo(tmp_path / "b" / "demo", seed=0, n_train=6, n_test=3)
    generate_demo(tmp_path / "c" / "demo", seed=1, n_train=6, n_test=3)
    a, b, c = (tmp_path / k / "demo" for k in "abc")
    assert sorted(p.name for p in (a / "images").iterdir()) == [f"demo_{i:04d}.png" for i in range(9)]
    for sub in ("images", "masks", "labels"):
        assert all((a / sub / p.name).read_bytes() == (b / sub / p.name).read_bytes() for p in (a / sub).iterdir())
    assert (a / "images" / "demo_0000.png").read_bytes() != (c / "images" / "demo_0000.png").read_bytes()
    assert (a / "img_idx" / "test_demo.txt").read_text().split() == ["demo_0006", "demo_0007", "demo_0008"]
    assert (a / "img_idx" / "train_demo.txt").read_text().split() == [f"demo_{i:04d}" for i in range(6)]
    masks = sorted((a / "masks").iterdir())
    assert [p.name for p in masks] == [f"demo_{i:04d}.png" for i in range(9)]
    for i, p in enumerate(masks):
        mask = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        frame, frame_mask = make_frame(0, i)  # the generator's own frame i: written losslessly
        assert np.array_equal(mask, frame_mask) and np.array_equal(cv2.imread(str(a / "images" / p.name),
                                                                              cv2.IMREAD_UNCHANGED), frame)
        assert mask.shape == (144, 192) and set(np.unique(mask).tolist()) <= {0, 255}
        expected = _components_as_yolo_rows(mask)
        lab = read_yolo_labels(a / "labels" / f"{p.stem}.txt", 1)
        got = sorted(lab.tolist(), key=lambda r: (r[2], r[1]))
        assert 1 <= len(got) <= 3 and len(got) == len(expected), p.name
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6, err_msg=p.name)  # 6 decimals in the file
        sizes_px = np.array(expected)[:, 3:] * [192, 144]
        assert ((sizes_px >= 1) & (sizes_px <= 9)).all(), (p.name, sizes_px)  # the generator's 2-9 px targets
        assert frame.ndim == 2 and frame.shape == (144, 192)


def test_data_config_resolution(tmp_path):
    with pytest.raises(UserError, match="unknown dataset 'NUAA-SIRTS'; did you mean 'NUAA-SIRST'"):
        load_data_config("NUAA-SIRTS")
    bad = tmp_path / "d.yaml"
    bad.write_text("path: x\ntrain: a\ntest: b\nnmes: [t]\n")
    with pytest.raises(UserError, match="unknown key 'nmes'; did you mean 'names'"):
        load_data_config(bad)
    gen = tmp_path / "g.yaml"
    gen.write_text(f"path: {tmp_path / 'gen' / 'demo'}\ntrain: img_idx/train_demo.txt\ntest: img_idx/test_demo.txt\n"
                   f"names: [target]\ngenerate: demo\n")
    cfg = load_data_config(gen)
    assert not cfg.root.exists()  # loading a config writes nothing; the data layer generates on request
    assert ensure_dataset(cfg) is cfg and (cfg.root / "img_idx" / "train_demo.txt").is_file() and cfg.nc == 1
    missing = tmp_path / "m.yaml"
    missing.write_text(f"path: {tmp_path / 'nowhere'}\ntrain: a.txt\ntest: b.txt\n")
    with pytest.raises(DatasetError, match=r"m\.yaml: dataset folder .*nowhere does not exist; prepare it with"):
        load_data_config(missing)
    assert len(IRSTDDataset(cfg, "test", 192, log=lambda s: None)) == 80


def test_plots_are_written(tmp_path):
    cfg = make_dataset(tmp_path / "d", {f"p{i}": target_image(40, 30, 3 * i, 5) for i in range(4)},
                       {f"p{i}": [f"0 {(3 * i + 1) / 40:.6f} {6 / 30:.6f} 0.05 {2 / 30:.6f}"] for i in range(4)})
    ds = IRSTDDataset(cfg, "train", 64, AugmentConfig())
    sizes, centres = label_stats(ds)
    assert np.allclose(sizes, [[2.0, 2.0]] * 4, atol=1e-4)
    p1 = plot_label_stats(sizes, centres, tmp_path / "out" / "labels.png")
    images, targets, _ = next(iter(build_dataloader(ds, 4, 0, shuffle=False)))
    p2 = plot_batch(images, targets, tmp_path / "out" / "train_batch0.jpg")
    for p in (p1, p2):
        img = cv2.imread(str(p))
        assert img is not None and img.shape[0] > 50 and img.std() > 0


def test_a_written_dataset_yaml_reads_back_with_awkward_class_names(tmp_path):
    """The YAML that prepare, crop sets and views write: a folder and names that YAML would otherwise read as a
    mapping, a number, a boolean or a comment come back as the same strings."""
    names = ["a: b", "10", "yes", "# not a comment", "plain"]
    root = tmp_path / "a: folder #1"
    root.mkdir()
    (tmp_path / "d.yaml").write_text(data_yaml_text(root, "img_idx/train.txt", "img_idx/test.txt", names,
                                                    "made by a test\nwith a second line"))
    cfg = load_data_config(tmp_path / "d.yaml")
    assert cfg.names == names and cfg.root == root
    assert cfg.index_file("test") == root / "img_idx" / "test.txt"
