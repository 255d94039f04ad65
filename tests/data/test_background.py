"""Background in training: images without targets (no label file, an empty one, or a `background:` folder) are
background, not errors; `background_ratio` makes them a fixed share of every epoch; prepare --background adds a
folder of empty frames to the training split."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from fscfnet.cfg.augment import AugmentConfig
from fscfnet.cfg.data import DataConfig
from fscfnet.cfg.train import TrainConfig
from fscfnet.data.dataset import IRSTDDataset, build_dataloader, epoch_images
from fscfnet.data.prepare import prepare

PLAIN = AugmentConfig(mosaic=0.0, translate=0.0, scale=0.0)  # each sample: its own image, every target kept


def _write(root, stems_with_targets: list[str], empty_labels: list[str], no_labels: list[str], extra: int = 0):
    for sub in ("images", "labels", "img_idx", "background"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stem in stems_with_targets + empty_labels + no_labels:
        img = np.full((40, 50), 30, np.uint8)
        if stem in stems_with_targets:
            img[10:14, 20:24] = 250
            (root / "labels" / f"{stem}.txt").write_text("0 0.44 0.3 0.08 0.1\n")
        elif stem in empty_labels:
            (root / "labels" / f"{stem}.txt").write_text("")
        cv2.imwrite(str(root / "images" / f"{stem}.png"), img)
    for i in range(extra):
        cv2.imwrite(str(root / "background" / f"sky{i}.png"), np.full((30, 30), 40 + i, np.uint8))
    stems = stems_with_targets + empty_labels + no_labels
    (root / "img_idx" / "train.txt").write_text("\n".join(stems) + "\n")
    (root / "img_idx" / "test.txt").write_text("\n".join(stems) + "\n")
    return DataConfig(path=str(root), train="img_idx/train.txt", test="img_idx/test.txt")


def test_label_less_and_empty_label_images_and_background_folders_are_background(tmp_path):
    cfg = _write(tmp_path, ["t0", "t1"], ["e0"], ["n0", "n1"], extra=3)
    train = IRSTDDataset(cfg, "train", 64, PLAIN, log=lambda s: None)
    assert "8 images, 2 targets, 6 background (5 without a label file)" in train.summary
    assert [len(lab) for lab in train.labels] == [1, 1, 0, 0, 0, 0, 0, 0]
    assert [p.name for p in train.paths[-3:]] == ["sky0.png", "sky1.png", "sky2.png"]
    # the plan's optimizer-step count sees the same epoch: background folders included, or their share
    assert epoch_images(cfg, "train", None) == len(train) == 8
    assert epoch_images(cfg, "train", 0.5) == len(IRSTDDataset(cfg, "train", 64, PLAIN, log=lambda s: None,
                                                              background_ratio=0.5).epoch_indices(0)) == 4
    test = IRSTDDataset(cfg, "test", 64, log=lambda s: None)  # the background folders join training only
    assert "5 images, 2 targets, 3 background" in test.summary
    for i in range(len(train)):  # background samples train like any other: an image and no targets
        img, target, _ = train[(0, i)]
        assert img.shape == (3, 64, 64) and len(target) == (1 if i < 2 else 0)


def test_a_listed_background_folder_that_does_not_exist_is_named_in_a_warning(tmp_path):
    """The default (the root's background/) may be absent without a word; a folder the config lists may not."""
    cfg = _write(tmp_path, ["t0"], [], ["n0"])
    (tmp_path / "background").rmdir()
    lines: list[str] = []
    IRSTDDataset(cfg, "train", 64, PLAIN, log=lines.append)
    assert not [s for s in lines if "warning" in s]
    listed = dataclasses.replace(cfg, background=["sky"], source="d.yaml")
    ds = IRSTDDataset(listed, "train", 64, PLAIN, log=lines.append)
    assert len(ds) == 2
    assert f"warning: d.yaml: background folder {tmp_path / 'sky'} does not exist; it adds nothing to training" in lines


@pytest.mark.parametrize("ratio,k", [(0.25, 3), (0.4, 7), (0.5, 10), (0.9, 20), (0.0, 0)])  # 0.4: 6.67 -> 7
def test_background_ratio_is_honoured_in_every_epoch(tmp_path, ratio, k):
    """10 images with targets, 20 without: each epoch holds all 10 and round(r / (1 - r) * 10) background images
    (all 20 at most), a different draw per epoch, the same draw for the same (seed, epoch)."""
    cfg = _write(tmp_path, [f"t{i}" for i in range(10)], [f"e{i}" for i in range(10)], [f"n{i}" for i in range(10)])
    ds = IRSTDDataset(cfg, "train", 64, PLAIN, log=lambda s: None, background_ratio=ratio)
    loader = build_dataloader(ds, 4, 0, shuffle=True, seed=1)
    draws = []
    for epoch in range(4):
        loader.sampler.set_epoch(epoch)
        order = loader.sampler.order()
        background = [i for i in order if len(ds.labels[i]) == 0]
        assert len(order) == len(set(order)) == 10 + k == len(loader.sampler) == epoch_images(cfg, "train", ratio)
        assert sorted(i for i in order if len(ds.labels[i])) == list(range(10)) and len(background) == k
        assert sum(int(t.mask.sum()) for _, t, _ in loader) == 10  # every target, once
        draws.append(sorted(background))
    if 0 < k < 20:
        assert len({tuple(d) for d in draws}) > 1  # drawn anew each epoch
    loader.sampler.set_epoch(2)
    assert sorted(i for i in loader.sampler.order() if not len(ds.labels[i])) == draws[2]  # from (seed, epoch)


def test_prepare_background_adds_the_frames_to_training(tmp_path):
    src = tmp_path / "src"
    for sub in ("images", "masks", "img_idx"):
        (src / sub).mkdir(parents=True)
    for i in range(3):
        img, mask = np.full((30, 40), 20, np.uint8), np.zeros((30, 40), np.uint8)
        img[5:9, 5:9], mask[5:9, 5:9] = 250, 255
        cv2.imwrite(str(src / "images" / f"a{i}.png"), img)
        cv2.imwrite(str(src / "masks" / f"a{i}.png"), mask)
    (src / "img_idx" / "train_X.txt").write_text("a0\na1\n")
    (src / "img_idx" / "test_X.txt").write_text("a2\n")
    sky = tmp_path / "sky"
    sky.mkdir()
    for i in range(4):
        cv2.imwrite(str(sky / f"s{i}.png"), np.full((32, 32), 50, np.uint8))
    summary = prepare(src, tmp_path / "X", background=sky)
    assert summary["background_images"] == 4 and sorted(p.name for p in (tmp_path / "X" / "background").iterdir()) \
        == [f"s{i}.png" for i in range(4)]
    cfg = DataConfig(path=str(tmp_path / "X"), train="img_idx/train_X.txt", test="img_idx/test_X.txt")
    assert "6 images, 2 targets, 4 background" in IRSTDDataset(cfg, "train", 32, log=lambda s: None).summary


def test_mosaic_partners_come_from_the_epochs_images_and_a_split_without_targets_keeps_all(tmp_path, monkeypatch):
    cfg = _write(tmp_path, [f"t{i}" for i in range(4)], [], [f"n{i}" for i in range(12)])
    ds = IRSTDDataset(cfg, "train", 64, AugmentConfig(mosaic=1.0), log=lambda s: None, background_ratio=0.2)
    used = []
    real = IRSTDDataset._tile
    monkeypatch.setattr(IRSTDDataset, "_tile", lambda self, j, rng, padded: used.append(j) or real(self, j, rng, padded))
    for epoch in range(3):
        pool = ds.epoch_indices(epoch)
        assert len(pool) == 4 + 1  # round(0.2 / 0.8 * 4) = 1 background image
        used.clear()
        for i in pool:
            ds[(epoch, i)]
        assert set(used) <= set(pool) and len(used) == 4 * len(pool)  # every mosaic tile from this epoch's images
    empty = _write(tmp_path / "e", [], ["e0"], ["n0", "n1"])
    assert IRSTDDataset(empty, "train", 64, PLAIN, log=lambda s: None, background_ratio=0.3).epoch_indices(0) == [0, 1, 2]


def test_the_default_ratio_leaves_a_split_without_background_as_it_was(tmp_path):
    """The benchmarks hold no target-free image: under the default ratio their epochs, mosaics included, are the
    ones every earlier run trained on (no ratio), so fixed-seed results stay comparable."""
    cfg = _write(tmp_path, [f"t{i}" for i in range(9)], [], [])
    ratio = TrainConfig().background_ratio
    assert ratio is not None
    runs = []
    for r in (None, ratio):
        ds = IRSTDDataset(cfg, "train", 64, AugmentConfig(mosaic=1.0), log=lambda s: None, background_ratio=r)
        loader = build_dataloader(ds, 3, 0, shuffle=True, seed=2)
        epochs = []
        for epoch in range(2):
            loader.sampler.set_epoch(epoch)
            epochs.append([(i, ds[(epoch, i)][0]) for i in loader.sampler.order()])
        runs.append(epochs)
    for plain, default in zip(*runs):
        assert [i for i, _ in plain] == [i for i, _ in default] and len(plain) == 9
        assert all(a.equal(b) for (_, a), (_, b) in zip(plain, default))
