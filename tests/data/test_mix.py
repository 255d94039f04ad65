"""Several datasets trained as one: epoch shares counted over real epochs, class lists checked or mapped, each
dataset validated on its own and best.pt judged on the mean."""

from __future__ import annotations

import collections
import json
import math

import numpy as np
import pytest
import torch

import train
import val
from fscfnet.cfg.mix import load_training_data
from fscfnet.cfg.train import load_train_config
from fscfnet.data.demo import generate_demo
from fscfnet.data.mix import MixedDataset, epoch_quotas
from fscfnet.engine.checkpoint import load_checkpoint
from fscfnet.engine import trainer as trainer_module
from fscfnet.engine.run_dir import read_rows
from fscfnet.engine.trainer import Trainer
from fscfnet.errors import DatasetError, UserError


def make_set(tmp_path, name: str, n_train: int, n_test: int, seed: int, names=("target",)):
    """A synthetic dataset in ``tmp_path/name`` and its YAML (distinct names: a mix refuses one dataset twice)."""
    generate_demo(tmp_path / name, seed=seed, n_train=n_train, n_test=n_test)
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"path: {tmp_path / name}\ntrain: img_idx/train_{name}.txt\ntest: img_idx/test_{name}.txt\n"
                   f"names: [{', '.join(names)}]\n")
    return cfg


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mix")
    return make_set(tmp, "sky", 12, 4, seed=1), make_set(tmp, "sea", 6, 3, seed=2)


def _config(data, project, **extra):
    return load_train_config({"data": data, "model": "yolov10n", "imgsz": 64, "batch": 6, "workers": 0,
                              "device": "cpu", "project": str(project), "epochs": 1, "name": "mix",
                              "background_ratio": None, **extra})


@pytest.mark.parametrize("sizes, shares, expected", [
    ([100, 300], [None, None], [100, 300]),  # by size: each its own epoch
    ([100, 300], [0.5, None], [200, 200]),
    ([10, 20, 70], [0.25, None, None], [25, 17, 58]),  # the rest (75) by size 20:70 -> 16.67, 58.33
    ([1, 1, 1], [None, None, None], [1, 1, 1]),
    ([5, 5], [0.31, 0.69], [3, 7]),  # 3.1 and 6.9
])
def test_epoch_quotas_match_hand_computed_shares(sizes, shares, expected):
    assert epoch_quotas(sizes, shares) == expected


def _epoch_counts(trainer, epoch: int) -> tuple[collections.Counter, collections.Counter]:
    """Images per dataset folder and per image file over one epoch of the trainer's own loader."""
    trainer.train_loader.sampler.set_epoch(epoch)
    per_set, per_image = collections.Counter(), collections.Counter()
    for _, _, paths in trainer.train_loader:
        for p in paths:
            per_set[p.split("/")[-3]] += 1
            per_image[p] += 1
    return per_set, per_image


def test_an_epoch_samples_each_dataset_at_its_share(two_sets, tmp_path):
    sky, sea = two_sets
    by_size = Trainer(_config([str(sky), str(sea)], tmp_path))
    per_set, per_image = _epoch_counts(by_size, 0)
    assert per_set == {"sky": 12, "sea": 6} and set(per_image.values()) == {1}  # each image once

    mix = tmp_path / "mix.yaml"  # the small set at half of each 18-image epoch: 9 draws from 6 images
    mix.write_text(f"datasets:\n  - {sky}\n  - data: {sea}\n    share: 0.5\n")
    t = Trainer(_config(str(mix), tmp_path))
    for epoch in (0, 1):
        per_set, per_image = _epoch_counts(t, epoch)
        assert per_set == {"sky": 9, "sea": 9}
        sea_counts = sorted(n for p, n in per_image.items() if "/sea/" in p)
        assert sea_counts == [1, 1, 1, 2, 2, 2]  # every image once, then 3 drawn again
        assert max(n for p, n in per_image.items() if "/sky/" in p) == 1  # 9 of 12, no repeats
    ds = t.train_loader.dataset
    twice = [i for i in ds.epoch_indices(0) if ds.locate(i)[1] == 1]  # a second copy of an image ...
    k, _, i = ds.locate(twice[0])
    first = ds[(0, ds.starts[k] + i)][0]
    assert not torch.equal(first, ds[(0, twice[0])][0])  # ... is augmented anew, not a duplicate
    assert ds.epoch_indices(3) == MixedDataset(ds.parts, [None, 0.5], 0).epoch_indices(3)  # (seed, epoch) alone


def test_a_mixed_run_validates_each_dataset_and_keeps_best_on_their_mean(two_sets, tmp_path):
    sky, sea = two_sets
    assert train.main(["--data", str(sky), str(sea), "--model", "yolov10n", "--imgsz", "64", "--batch", "6",
                       "--workers", "0", "--device", "cpu", "--project", str(tmp_path), "--epochs", "2",
                       "--name", "r", "--set", "background_ratio=null"]) == 0
    run = tmp_path / "r"
    rows = read_rows(run / "results.csv")
    best = load_checkpoint(run / "weights" / "best.pt")
    assert best["train_args"]["data"] == [str(sky), str(sea)]
    per = best["metrics"]["datasets"]
    assert sorted(per) == ["sea", "sky"]
    # two epochs find no target, so AP, P and R are 0 on both (and the false-alarm rate saturates alike): the
    # image and target counts are what shows a swapped or shared row below; the planted-score test after this one
    # checks that the mean and best.pt follow the per-dataset numbers
    assert (per["sky"]["images"], per["sea"]["images"]) == (4, 3) and per["sky"]["targets"] != per["sea"]["targets"]
    row = rows[best["epoch"]]
    for name in ("sky", "sea"):  # the run's own rows against val.py on each dataset with best.pt
        out = tmp_path / f"val_{name}"
        assert val.main(["--weights", str(run / "weights" / "best.pt"), "--data", str(sky if name == "sky" else sea),
                         "--imgsz", "64", "--batch", "6", "--workers", "0", "--device", "cpu",
                         "--project", str(out), "--name", "v"]) == 0
        alone = json.loads((out / "v" / "metrics.json").read_text())
        assert per[name]["images"] == alone["images"] == {"sky": 4, "sea": 3}[name]
        assert per[name]["targets"] == alone["targets"]
        for key in ("ap50", "ap50_95", "precision", "recall", "fa"):
            assert math.isclose(per[name][key], alone[key], rel_tol=1e-5, abs_tol=1e-9), (name, key)  # fused in val
            assert math.isclose(float(row[f"{name}/{key}"]), alone[key], rel_tol=1e-5, abs_tol=1e-6)
    assert best["metrics"]["images"] == 7  # counts summed
    for key in ("ap50", "ap50_95", "recall", "fa"):
        assert math.isclose(best["metrics"][key], np.mean([per["sky"][key], per["sea"][key]]), abs_tol=1e-12)
        assert math.isclose(float(row[key]), best["metrics"][key], rel_tol=1e-5, abs_tol=1e-6)


def test_best_pt_is_the_epoch_with_the_best_mean_not_any_one_datasets_best(two_sets, tmp_path, monkeypatch):
    """An untrained model scores 0 everywhere, so the scores are planted: sky peaks at epoch 1, sea at epoch 3,
    their mean at epoch 2, which best.pt must hold."""
    planted = {"sky": [0.9, 0.6, 0.1], "sea": [0.0, 0.5, 0.7]}
    calls = []
    real = trainer_module.validate

    def fake(model, loader, *args, **kwargs):
        v = real(model, loader, *args, **kwargs)
        name = loader.dataset.dataset.cfg.name
        calls.append(name)
        ap = planted[name][sum(c == name for c in calls) - 1]
        v.metrics_dict = lambda: {"ap50": ap, "ap50_95": ap / 2, "precision": 0.0, "recall": 0.0, "f1": 0.0,
                                  "pd": 0.0, "fa": 0.0, "images": len(loader.dataset)}
        return v

    monkeypatch.setattr(trainer_module, "validate", fake)
    Trainer(_config([str(s) for s in two_sets], tmp_path, epochs=3)).train()
    assert calls == ["sky", "sea"] * 3
    best = load_checkpoint(tmp_path / "mix" / "weights" / "best.pt")
    assert best["epoch"] == 1 and math.isclose(best["metrics"]["ap50"], 0.55)
    assert best["metrics"]["datasets"]["sky"]["images"] == 4 and best["metrics"]["datasets"]["sea"]["images"] == 3
    rows = read_rows(tmp_path / "mix" / "results.csv")
    assert [float(r["sea/ap50"]) for r in rows] == planted["sea"]
    assert [round(float(r["ap50"]), 6) for r in rows] == [0.45, 0.55, 0.4]


def test_datasets_with_other_classes_are_refused_naming_both(two_sets, tmp_path, capsys):
    sky, _ = two_sets
    birds = make_set(tmp_path, "birds", 4, 2, seed=3, names=("bird",))
    assert train.main(["--data", str(sky), str(birds), "--device", "cpu", "--project", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{sky} has classes ['target'] but {birds} has ['bird']" in err and "maps the classes" in err
    mix = tmp_path / "bad.yaml"
    mix.write_text(f"datasets:\n  - {sky}\n  - data: {birds}\n    classes: {{bird: plane}}\n")
    with pytest.raises(UserError, match=r"'plane' is not one of the mix's names \(target\)"):
        load_training_data(str(mix))
    mix.write_text(f"datasets:\n  - {sky}\n  - data: {birds}\n    share: 0.7\n  - {sky}\n")
    with pytest.raises(UserError, match="listed twice"):
        load_training_data(str(mix))
    mix.write_text(f"datasets:\n  - data: {sky}\n    share: 0.6\n  - data: {birds}\n    share: 0.6\n"
                   f"    classes: {{bird: target}}\n")
    with pytest.raises(UserError, match="shares add up to 1.2"):
        load_training_data(str(mix))
    mix.write_text(f"datasets:\n  - data: {sky}\n    share: 1.0\n  - data: {birds}\n    classes: {{bird: target}}\n")
    with pytest.raises(UserError, match=f"leaves nothing of each epoch to {birds}"):
        load_training_data(str(mix))
    mix.write_text(f"datasets:\n  - data: {sky}\n  - data: {birds}\n    share: 0.01\n    classes: {{bird: target}}\n")
    with pytest.raises(DatasetError, match="birds: its share of each 16-image epoch rounds to no image"):
        Trainer(_config(str(mix), tmp_path))


def test_a_class_map_relabels_a_dataset_in_training_and_validation(two_sets, tmp_path):
    sky, _ = two_sets
    birds = make_set(tmp_path, "birds", 4, 2, seed=3, names=("bird",))
    mix = tmp_path / "map.yaml"
    mix.write_text(f"names: [target, bird]\ndatasets:\n  - data: {sky}\n    classes: {{target: target}}\n"
                   f"  - data: {birds}\n    classes: {{bird: bird}}\n")
    t = Trainer(_config(str(mix), tmp_path))
    assert t.model.nc == 2
    sky_set, bird_set = t.train_loader.dataset.parts
    assert {int(c) for lab in sky_set.labels for c in lab[:, 0]} == {0}
    assert {int(c) for lab in bird_set.labels for c in lab[:, 0]} == {1}  # its class 0, as the mix's "bird"
    val_birds = t.val_loaders["birds"].dataset.dataset
    assert {int(c) for lab in val_birds.labels for c in lab[:, 0]} == {1}
    assert val_birds.cfg.names == ["target", "bird"]  # what its validation names the classes


def test_a_mixed_run_interrupted_after_epoch_1_resumes_to_the_uninterrupted_weights(two_sets, tmp_path, monkeypatch):
    sky, sea = two_sets
    data = tmp_path / "mix.yaml"  # sea oversampled: each epoch draws 3 of its images a second time
    data.write_text(f"datasets:\n  - {sky}\n  - data: {sea}\n    share: 0.5\n")
    data = str(data)
    Trainer(_config(data, tmp_path, epochs=2, name="whole")).train()
    real = trainer_module.train_one_epoch

    def stop_in_epoch_2(model, loss_fn, loader, state, schedule, epoch, hooks):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(model, loss_fn, loader, state, schedule, epoch, hooks)

    monkeypatch.setattr(trainer_module, "train_one_epoch", stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        Trainer(_config(data, tmp_path, epochs=2, name="cut")).train()
    monkeypatch.setattr(trainer_module, "train_one_epoch", real)
    Trainer(_config(data, tmp_path, epochs=2, name="cut"), resume=tmp_path / "cut" / "weights" / "last.pt").train()
    whole, cut = (load_checkpoint(tmp_path / n / "weights" / "last.pt")["state_dict"] for n in ("whole", "cut"))
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
