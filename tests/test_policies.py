"""Training policies, each against hand-computed values or an independent reference: EMA, schedule, the
``auto`` optimizer, accumulation and weight decay, patience, close_mosaic, the loss terms and bf16 autocast."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import complete_box_iou_loss

import train
from conftest import ROOT, tiny_demo_yaml
from fscfnet.cfg.data import load_data_config
from fscfnet.data.dataset import IRSTDDataset
from fscfnet.engine import trainer as trainer_module
from fscfnet.engine.checkpoint import load_checkpoint, model_from_checkpoint
from fscfnet.cfg.train import TrainConfig, load_train_config
from fscfnet.engine.optim import accumulation, build_optimizer, optimizer_steps, param_groups, scaled_weight_decay
from fscfnet.engine.run_dir import read_rows
from fscfnet.engine.schedule import Point, Schedule, apply
from fscfnet.engine.validator import validate
from fscfnet.detection.boxes import ciou, nwd
from fscfnet.utils.ema import ModelEMA
from fscfnet.detection.loss import COMPONENTS, dfl_loss

FSCFNET = str(ROOT / "cfg" / "models" / "fscfnet.yaml")
YOLO = str(ROOT / "cfg" / "models" / "yolov10n.yaml")
# mosaic only: no scale, shift, flip or photometric change, so a non-mosaic sample is the plain letterbox
MOSAIC_ONLY = {"mosaic": 1.0, "translate": 0.0, "scale": 0.0, "fliplr": 0.0, "flipud": 0.0, "brightness": 0.0,
               "contrast": 0.0, "gamma": 0.0}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine, two OpenMP threads spin-wait and run ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """8 training images (one batch of 8: one iteration per epoch) and 4 test images."""
    return tiny_demo_yaml(tmp_path_factory.mktemp("policies"), n_train=8, n_test=4)


def _args(tiny, project, *extra):
    return ["--data", str(tiny), "--model", YOLO, "--imgsz", "64", "--batch", "8", "--workers", "0",
            "--project", str(project), "--device", "cpu", *extra]


# ------------------------------------------------------------------------------------------------------------ 1. EMA
class _One(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.0]))
        self.register_buffer("count", torch.tensor(0))


def test_ema_follows_the_ramped_decay_step_by_step_and_copies_integer_buffers():
    """After k updates the EMA weight is e_k = d_k e_{k-1} + (1 - d_k) w_k, d_k = decay (1 - exp(-k / tau));
    integer buffers are copied, not averaged; a resumed EMA (updates=u) continues with d_{u+1}."""
    model, decay, tau = _One(), 0.9, 2.0
    ema = ModelEMA(model, decay=decay, tau=tau)
    expected = 0.0  # the copy of w_0
    for k, w in enumerate([1.0, 3.0, -2.0, 5.0, 0.5], start=1):
        with torch.no_grad():
            model.w.fill_(w)
        model.count.fill_(10 * k)
        ema.update(model)
        d = decay * (1 - math.exp(-k / tau))
        expected = d * expected + (1 - d) * w
        assert ema.ema.w.item() == pytest.approx(expected, rel=1e-6, abs=1e-7), k
        assert ema.ema.count.item() == 10 * k and ema.ema.count.dtype == torch.int64
        assert ema.updates == k
    fresh = _One()
    first = ModelEMA(fresh, decay=0.9, tau=2.0)
    with torch.no_grad():
        fresh.w.fill_(1.0)
    first.update(fresh)
    assert first.ema.w.item() == pytest.approx(0.645878, abs=1e-6)  # d_1 = 0.9 (1 - e^-0.5) = 0.354122
    resumed = ModelEMA(_One(), decay=0.9, tau=2.0, updates=4)
    resumed.update(fresh)
    d5 = 0.9 * (1 - math.exp(-5 / 2))
    assert resumed.ema.w.item() == pytest.approx(1 - d5, rel=1e-6)  # 0 * d5 + 1 * (1 - d5)


def test_validation_and_best_pt_use_the_ema_weights(tiny, tmp_path, monkeypatch):
    """A 1-epoch run (one optimizer step; tau=1 so the EMA is far from the trained weights): last.pt's
    state_dict = d_1 * initial + (1 - d_1) * train_state_dict; best.pt holds those EMA weights, not the trained
    ones; and best.pt's metrics are those of validating the EMA weights (the trained ones score differently)."""
    seen = {}

    class RecordingEMA(ModelEMA):
        def __init__(self, model, **kw):
            seen["initial"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            super().__init__(model, tau=1.0)

    monkeypatch.setattr(trainer_module, "ModelEMA", RecordingEMA)
    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "e")) == 0
    last = load_checkpoint(tmp_path / "e" / "weights" / "last.pt")
    best = load_checkpoint(tmp_path / "e" / "weights" / "best.pt")
    assert last["ema_updates"] == 1  # 1 batch, accumulate 1 at iteration 0 of the warmup
    d = 0.9999 * (1 - math.exp(-1.0))
    ema, trained, init = last["state_dict"], last["train_state_dict"], seen["initial"]
    assert ema.keys() == trained.keys() == init.keys()
    for k, v in ema.items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(v, init[k] * d + trained[k] * (1 - d), rtol=1e-5, atol=1e-6, msg=k)
        else:
            assert torch.equal(v, trained[k]), k
    assert all(torch.equal(best["state_dict"][k], v) for k, v in ema.items())
    assert any(not torch.equal(ema[k], trained[k]) for k in ema if ema[k].dtype.is_floating_point)

    data = load_data_config(str(tiny))
    scores = []
    for weights in (ema, trained):
        model = model_from_checkpoint({**best, "state_dict": weights})
        val = IRSTDDataset(data, "test", 64, None, model.ch, log=lambda s: None)
        m = validate(model, val, batch_size=16, workers=0).metrics_dict()
        scores.append({k: v for k, v in m.items() if k != "ms_per_image"})
    stored = {k: v for k, v in best["metrics"].items() if k != "ms_per_image"}
    assert stored.keys() == scores[0].keys()
    for k, v in stored.items():
        assert v == pytest.approx(scores[0][k], rel=1e-6, abs=1e-9), k
    assert scores[1] != pytest.approx(stored)  # the comparison tells EMA from trained weights


# ---------------------------------------------------------------------------------------------------- 2. schedule
def _schedule(**kw) -> Schedule:
    values = dict(lr0=0.01, lrf=0.01, epochs=10, kind="linear", warmup=100, warmup_bias_lr=0.1,
                  warmup_momentum=0.8, momentum=0.937, batch=16, nbs=64)
    return Schedule(**{**values, **kw})


def _approx_point(p: Point, lrs, momentum, accumulate):
    assert p.lrs == pytest.approx(lrs, rel=1e-9, abs=1e-15)
    assert p.momentum == pytest.approx(momentum, rel=1e-12)
    assert p.accumulate == accumulate


def test_warmup_interpolates_lr_momentum_and_accumulation_by_hand():
    """Warmup over 100 iterations, lr0 0.01, epochs 10, bias lr from 0.1, others from 0, momentum from 0.8 to
    0.937, accumulation from 1 to nbs/batch = 4 (rounded)."""
    s = _schedule()
    _approx_point(s(0, 0), (0.1, 0.0, 0.0), 0.8, 1)
    # it 60 of 100, epoch 0 (factor 1, lr 0.01): bias 0.1 - 0.6 * 0.09, others 0.6 * 0.01, 1 + 0.6 * 3 = 2.8
    _approx_point(s(60, 0), (0.046, 0.006, 0.006), 0.8 + 0.6 * 0.137, 3)
    # it 25, epoch 1: lr = 0.01 * ((1 - 1/10) * 0.99 + 0.01) = 0.00901; 1 + 0.25 * 3 = 1.75
    _approx_point(s(25, 1), (0.1 + 0.25 * (0.00901 - 0.1), 0.25 * 0.00901, 0.25 * 0.00901), 0.83425, 2)
    _approx_point(s(100, 1), (0.00901, 0.00901, 0.00901), 0.937, 4)  # the ramp's end point
    _approx_point(s(101, 1), (0.00901, 0.00901, 0.00901), 0.937, 4)  # after warmup
    # batch 48: the ramp ends at 64/48 = 1.33 -> 1; batch 100: 0.64, never below 1
    assert [_schedule(batch=48)(it, 0).accumulate for it in (0, 50, 100, 500)] == [1, 1, 1, 1]
    assert [_schedule(batch=100)(it, 0).accumulate for it in (0, 50, 100, 500)] == [1, 1, 1, 1]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_after_warmup_lr_decays_by_the_written_out_formula(kind):
    """lr = lr0 * f(e): linear (1 - e/E)(1 - lrf) + lrf, cosine ((1 - cos(pi e/E)) / 2)(lrf - 1) + 1; every
    group alike, constant within an epoch, lr0 * lrf at e = E."""
    lr0, lrf, E = 0.01, 0.05, 20
    s = _schedule(lr0=lr0, lrf=lrf, epochs=E, kind=kind)

    def f(e):
        if kind == "linear":
            return (1 - e / E) * (1 - lrf) + lrf
        return ((1 - math.cos(math.pi * e / E)) / 2) * (lrf - 1) + 1

    for e in (3, 7, 10, 19, 20):
        for it in (500 + 40 * e, 520 + 40 * e):
            _approx_point(s(it, e), (lr0 * f(e),) * 3, 0.937, 4)
    hand = {"linear": 0.8 * 0.95 + 0.05, "cosine": 1 - 0.95 * (1 - math.cos(0.2 * math.pi)) / 2}[kind]  # e = 4
    assert s(1000, 4).lrs[2] == pytest.approx(lr0 * hand, rel=1e-12)
    assert s.factor(0) == pytest.approx(1.0) and s.factor(E) == pytest.approx(lrf)
    assert s(1000, 5).lrs[2] > s(1000, 15).lrs[2]


def test_warmup_length_and_disabled_warmup():
    """warmup = max(round(warmup_epochs * nb), 100) iterations; warmup_epochs=0 disables it (iteration 0 already
    has the scheduled lr, momentum and full accumulation)."""
    cfg = TrainConfig(warmup_epochs=3.0)
    assert Schedule.from_config(cfg, 0.01, 10, 50).warmup == 150
    assert Schedule.from_config(cfg, 0.01, 10, 10).warmup == 100
    assert Schedule.from_config(TrainConfig(warmup_epochs=0.5), 0.01, 10, 501).warmup == 250  # round(250.5)
    off = Schedule.from_config(TrainConfig(warmup_epochs=0.0), 0.01, 10, 50)
    assert off.warmup == -1
    _approx_point(off(0, 0), (0.01, 0.01, 0.01), 0.937, 4)
    assert Schedule.from_config(cfg, 0.002, 7, 50) == Schedule(0.002, 0.01, 7, "linear", 150, 0.1, 0.8, 0.937, 16, 64)


@pytest.mark.parametrize("name", ["AdamW", "SGD"])
def test_apply_sets_group_lrs_and_adamw_beta1_or_sgd_momentum(name):
    """``apply`` writes the three groups' lrs and the warmup momentum into AdamW betas[0] (beta2 kept) or SGD
    momentum."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt, _ = build_optimizer(model, TrainConfig(optimizer=name), 100)
    s = _schedule()
    for it, beta1 in ((0, 0.8), (50, 0.8685), (200, 0.937)):
        p = s(it, 0)
        apply(opt, p)
        assert [g["lr"] for g in opt.param_groups] == list(p.lrs)
        for g in opt.param_groups:
            if name == "AdamW":
                assert g["betas"][0] == pytest.approx(beta1) and g["betas"][1] == 0.999
            else:
                assert g["momentum"] == pytest.approx(beta1) and "betas" not in g
    apply(opt, Point((0.3, 0.2, 0.1), 0.5, 1))
    assert [g["lr"] for g in opt.param_groups] == [0.3, 0.2, 0.1]
    assert {g["betas"] if name == "AdamW" else g["momentum"] for g in opt.param_groups} == \
        {(0.5, 0.999) if name == "AdamW" else 0.5}


# ------------------------------------------------------------------------------------------------ 3. auto optimizer
def test_auto_picks_adamw_below_10000_steps_and_sgd_from_there():
    """optimizer_steps = epochs * ceil(images / max(batch, nbs)); auto: AdamW (lr 0.002, beta1 = momentum)
    at 9,999 steps, SGD (lr 0.01, nesterov, momentum 0.937) at 10,000; an explicit lr0 or optimizer is kept."""
    cfg = TrainConfig()  # batch 16, nbs 64
    assert optimizer_steps(99, 101 * 64, cfg) == 9_999
    assert optimizer_steps(100, 6400, cfg) == 10_000
    assert optimizer_steps(100, 6401, cfg) == 10_100  # ceil
    assert optimizer_steps(10, 1000, TrainConfig(batch=128)) == 10 * 8  # ceil(1000 / 128)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt, choice = build_optimizer(model, cfg, optimizer_steps(99, 101 * 64, cfg))
    assert type(opt) is torch.optim.AdamW and (choice.name, choice.lr0, choice.auto) == ("AdamW", 0.002, True)
    assert all(g["lr"] == 0.002 and g["betas"] == (0.937, 0.999) for g in opt.param_groups)
    opt, choice = build_optimizer(model, cfg, optimizer_steps(100, 6400, cfg))
    assert type(opt) is torch.optim.SGD and (choice.name, choice.lr0, choice.auto) == ("SGD", 0.01, True)
    assert all(g["lr"] == 0.01 and g["nesterov"] and g["momentum"] == 0.937 for g in opt.param_groups)
    for steps, kind in ((9_999, torch.optim.AdamW), (10_000, torch.optim.SGD)):
        opt, choice = build_optimizer(model, TrainConfig(lr0=0.005), steps)
        assert type(opt) is kind and choice.lr0 == 0.005 and all(g["lr"] == 0.005 for g in opt.param_groups)
    opt, choice = build_optimizer(model, TrainConfig(optimizer="SGD"), 5)
    assert type(opt) is torch.optim.SGD and (choice.lr0, choice.auto) == (0.01, False)
    opt, choice = build_optimizer(model, TrainConfig(optimizer="AdamW"), 10**6)
    assert type(opt) is torch.optim.AdamW and (choice.lr0, choice.auto) == (0.002, False)


# ------------------------------------------------------------------------------------ 4. accumulation, weight decay
def test_accumulation_to_nbs_and_scaled_weight_decay():
    """accumulate = max(round(nbs / batch), 1); weight decay = wd * batch * accumulate / nbs."""
    assert accumulation(16, 64) == 4 and accumulation(48, 64) == 1 and accumulation(100, 64) == 1
    assert accumulation(8, 64) == 8 and accumulation(24, 64) == 3 and accumulation(40, 64) == 2  # 2.67, 1.6
    assert scaled_weight_decay(TrainConfig(batch=16)) == pytest.approx(5e-4)  # 16 * 4 = 64
    assert scaled_weight_decay(TrainConfig(batch=48)) == pytest.approx(5e-4 * 48 / 64)
    assert scaled_weight_decay(TrainConfig(batch=100)) == pytest.approx(5e-4 * 100 / 64)
    assert scaled_weight_decay(TrainConfig(batch=24, weight_decay=1e-3)) == pytest.approx(1e-3 * 72 / 64)


def test_param_groups_biases_norm_weights_other_weights_and_decay_on_the_last_only():
    """Group 0: every bias (norm biases included); group 1: weights of any _BatchNorm (2d, 1d, SyncBatchNorm)
    and other norms; group 2: conv / linear weights, the only group with weight decay."""
    conv, bn2, sync, bn1 = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.SyncBatchNorm(4), nn.BatchNorm1d(4)
    lin = nn.Linear(4, 2)
    nobias = nn.Conv2d(4, 4, 1, bias=False)
    frozen = nn.Linear(2, 2)
    frozen.requires_grad_(False)
    model = nn.Sequential(conv, bn2, sync, nobias, nn.Sequential(bn1, lin), frozen)
    groups = param_groups(model, 0.123)
    ids = [{id(p) for p in g["params"]} for g in groups]
    assert ids[0] == {id(m.bias) for m in (conv, bn2, sync, bn1, lin)}
    assert ids[1] == {id(m.weight) for m in (bn2, sync, bn1)}
    assert ids[2] == {id(m.weight) for m in (conv, nobias, lin)}
    assert [g["weight_decay"] for g in groups] == [0.0, 0.0, 0.123]
    opt, _ = build_optimizer(model, TrainConfig(batch=48), 10)
    assert [g["weight_decay"] for g in opt.param_groups] == pytest.approx([0.0, 0.0, 5e-4 * 48 / 64])
    assert [len(g["params"]) for g in opt.param_groups] == [5, 3, 3]


# -------------------------------------------------------------------------------------------------------- 5. patience
def test_patience_stops_when_fitness_does_not_improve(tiny, tmp_path):
    """patience=1 and AP stuck at 0: epoch 1 is best, epoch 2 no better -> stop after epoch 2 of 4 with
    last.pt finished; results.csv has 2 rows whose lr is the hand-computed warmup value."""
    assert train.main(_args(tiny, tmp_path, "--epochs", "4", "--name", "p", "--set", "patience=1")) == 0
    rows = read_rows(tmp_path / "p" / "results.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(float(r[k]) == 0 for r in rows for k in ("ap50", "ap50_95"))  # the premise: no improvement
    last = load_checkpoint(tmp_path / "p" / "weights" / "last.pt")
    assert last["epoch"] == 1 and last["finished"] is True and last["best_epoch"] == 0
    assert load_checkpoint(tmp_path / "p" / "weights" / "best.pt")["epoch"] == 0
    # 1 batch per epoch, warmup 100 iterations, AdamW lr0 0.002: the weight lr at iteration it of epoch e is
    # it / 100 * 0.002 * ((1 - e/4) * 0.99 + 0.01): 0 at (0, 0), 0.01 * 0.002 * 0.7525 at (1, 1)
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.0, 1.505e-5], rel=1e-3)
    assert train.main(["--resume", str(tmp_path / "p" / "weights" / "last.pt"), "--device", "cpu"]) == 2


def test_val_period_validates_every_nth_and_the_last_epoch_and_best_pt_is_a_validated_one(tiny, tmp_path,
                                                                                            monkeypatch):
    """val_period=2 over 5 epochs: validation after epochs 2, 4 and 5 only; the other rows carry no metrics;
    best.pt (AP stays 0 here, so the first validated epoch) is epoch 2, never an unvalidated epoch 1."""
    calls = []
    original = trainer_module.validate

    def counting(model, loader, **kw):
        calls.append(len(calls))
        return original(model, loader, **kw)

    monkeypatch.setattr(trainer_module, "validate", counting)
    assert train.main(_args(tiny, tmp_path, "--epochs", "5", "--name", "vp", "--set", "val_period=2")) == 0
    rows = read_rows(tmp_path / "vp" / "results.csv")
    assert len(calls) == 3
    assert [r["epoch"] for r in rows if r["ap50"] != ""] == ["2", "4", "5"]
    assert [r["epoch"] for r in rows if r["val_s"] != ""] == ["2", "4", "5"]
    assert all(r["train_s"] != "" for r in rows)
    assert load_checkpoint(tmp_path / "vp" / "weights" / "best.pt")["epoch"] == 1
    assert load_checkpoint(tmp_path / "vp" / "weights" / "last.pt")["epoch"] == 4


# ---------------------------------------------------------------------------------------------------- 6. close_mosaic
def test_mosaic_on_respects_mosaic_until(tiny):
    """mosaic_on(e): augmenting with mosaic > 0 and e < mosaic_until (None: always)."""
    data = load_data_config(str(tiny))
    aug = load_train_config({"augment": MOSAIC_ONLY}).augment_config()
    ds = IRSTDDataset(data, "train", 64, aug, log=lambda s: None)
    assert [ds.mosaic_on(e) for e in range(4)] == [True] * 4
    ds.mosaic_until = 2
    assert [ds.mosaic_on(e) for e in range(4)] == [True, True, False, False]
    ds.mosaic_until = 0
    assert not ds.mosaic_on(0)
    no_mosaic = IRSTDDataset(data, "train", 64, load_train_config({"augment": {"mosaic": 0.0}}).augment_config(),
                             log=lambda s: None)
    assert not no_mosaic.mosaic_on(0)
    assert not IRSTDDataset(data, "test", 64, None, log=lambda s: None).mosaic_on(0)


def test_trainer_closes_mosaic_for_the_last_epochs(tiny, tmp_path, monkeypatch):
    """--epochs 3 --close-mosaic 1: mosaic_until == 2; with mosaic=1.0 (and no other augmentation) epochs 0, 1
    draw mosaics, epoch 2 gives the plain letterboxed image (114 bands above and below the 64x48 picture)."""
    cfg = load_train_config({"data": str(tiny), "model": YOLO, "imgsz": 64, "epochs": 3, "close_mosaic": 1,
                             "batch": 8, "workers": 0, "device": "cpu", "project": str(tmp_path), "name": "m",
                             "augment": MOSAIC_ONLY})
    t = trainer_module.Trainer(cfg, log=lambda s: None)
    ds = t.train_set
    assert ds.mosaic_until == 2
    # the schedule it built: 1 batch per epoch -> the 100-iteration minimum warmup; 3 steps -> AdamW 0.002
    assert t.schedule == Schedule(0.002, 0.01, 3, "linear", 100, 0.1, 0.8, 0.937, 8, 64)
    assert type(t.optimizer) is torch.optim.AdamW

    import fscfnet.data.dataset as dataset_module
    calls = []
    real = dataset_module.mosaic
    monkeypatch.setattr(dataset_module, "mosaic", lambda *a, **k: calls.append(1) or real(*a, **k))
    for i in range(len(ds)):
        plain = ds.letterboxed(i)[0].transpose(2, 0, 1).astype(int)
        assert (plain[:, :8] == 114).all() and (plain[:, 56:] == 114).all()  # 192x144 -> 64x48, 8-px bands
        late = ds[(2, i)][0].numpy().astype(int)
        assert np.abs(late - plain).max() <= 1, i  # photometric identity may round by one level
        n = len(calls)
        early = ds[(0, i)][0].numpy().astype(int)
        assert len(calls) == n + 1
        assert (np.abs(early - plain) > 1).mean() > 0.2, i
    assert len(calls) == len(ds)  # epoch 2 never called mosaic
    ds[(1, 0)]
    assert len(calls) == len(ds) + 1


# ---------------------------------------------------------------------------------------------------- 7. loss terms
def _random_boxes(n: int, g: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 60
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 30 + 0.5
    return torch.cat((xy, xy + wh), 1)


def _ciou_by_formula(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    wa, ha, wb, hb = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    iou = inter / (wa * ha + wb * hb - inter)
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    rho2 = ((a[:, 0] + a[:, 2] - b[:, 0] - b[:, 2]) / 2) ** 2 + ((a[:, 1] + a[:, 3] - b[:, 1] - b[:, 3]) / 2) ** 2
    v = 4 / math.pi ** 2 * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    alpha = v / (1 - iou + v)
    return iou - rho2 / (cw ** 2 + ch ** 2) - alpha * v


def test_ciou_matches_torchvision_and_the_written_out_formula():
    """CIoU = IoU - rho^2 / c^2 - alpha v on random (overlapping and disjoint) boxes, = 1 - torchvision's
    complete_box_iou_loss; one case by hand."""
    g = torch.Generator().manual_seed(1)
    a, b = _random_boxes(500, g), _random_boxes(500, g)
    got = ciou(a, b)
    ref = 1 - complete_box_iou_loss(a, b, reduction="none")
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(got, _ciou_by_formula(a, b), rtol=0, atol=1e-6)
    assert got.min() < -0.2 and got.max() > 0.5  # disjoint and well-overlapping pairs both covered
    assert ciou(a.view(20, 25, 4).float(), b.view(20, 25, 4).float()).shape == (20, 25)
    # (0,0,4,4) vs (2,0,6,4): IoU 8/24, centres 2 apart, enclosing box 6x4 (c^2 = 52), same aspect (v = 0)
    hand = ciou(torch.tensor([0.0, 0, 4, 4]), torch.tensor([2.0, 0, 6, 4])).item()
    assert hand == pytest.approx(1 / 3 - 4 / 52, abs=1e-6)


def test_nwd_matches_the_written_out_formula():
    """NWD = exp(-sqrt(dcx^2 + dcy^2 + (dw^2 + dh^2) / 4) / C) on random pixel boxes, C = 12.8 and 5."""
    g = torch.Generator().manual_seed(2)
    a, b = _random_boxes(300, g), _random_boxes(300, g)
    dcx = (a[:, 0] + a[:, 2] - b[:, 0] - b[:, 2]) / 2
    dcy = (a[:, 1] + a[:, 3] - b[:, 1] - b[:, 3]) / 2
    dw = (a[:, 2] - a[:, 0]) - (b[:, 2] - b[:, 0])
    dh = (a[:, 3] - a[:, 1]) - (b[:, 3] - b[:, 1])
    w2 = torch.sqrt(dcx ** 2 + dcy ** 2 + (dw ** 2 + dh ** 2) / 4)
    for c in (12.8, 5.0):
        torch.testing.assert_close(nwd(a, b, c), torch.exp(-w2 / c), rtol=1e-6, atol=1e-9)
    # shifted by (3, 4), same size: W2 = 5
    assert nwd(torch.tensor([0.0, 0, 2, 2]), torch.tensor([3.0, 4, 5, 6])).item() == pytest.approx(math.exp(-5 / 12.8))


def test_dfl_loss_is_cross_entropy_on_the_two_neighbouring_bins():
    """DFL(t) = CE(left) * (right - t) + CE(right) * (t - left), left = floor(t), right = left + 1, CE written
    out as -log_softmax; uniform logits give log(reg_max) for any t."""
    g = torch.Generator().manual_seed(3)
    reg_max = 16
    logits = torch.randn(200, reg_max, generator=g, dtype=torch.float64) * 3
    t = torch.rand(200, generator=g, dtype=torch.float64) * (reg_max - 1 - 0.01)
    t[:5] = torch.tensor([0.0, 3.0, 7.0, 14.0, 14.99], dtype=torch.float64)  # whole bins and the top end
    logp = torch.log_softmax(logits, -1)
    left = torch.floor(t)
    right = left + 1
    ce_l = -logp.gather(1, left.long()[:, None])[:, 0]
    ce_r = -logp.gather(1, right.long()[:, None])[:, 0]
    torch.testing.assert_close(dfl_loss(logits, t), ce_l * (right - t) + ce_r * (t - left), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ce_l, F.cross_entropy(logits, left.long(), reduction="none"))  # the CE written out
    torch.testing.assert_close(dfl_loss(logits[:2], t[:2]), ce_l[:2])  # whole-bin targets: one bin only
    flat = dfl_loss(torch.zeros(3, reg_max), torch.tensor([0.0, 5.25, 14.5]))
    torch.testing.assert_close(flat, torch.full((3,), math.log(reg_max)))


# ------------------------------------------------------------------------------------------------------------ 8. AMP
def test_bf16_autocast_through_the_trainer_on_cpu(tiny, tmp_path):
    """--amp bf16 on CPU, FSCFNet at 64 px, 1 epoch: training convolutions output bfloat16 (autocast on),
    validation ones float32; the losses in results.csv are finite."""
    dtypes = {True: set(), False: set()}

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            dtypes[module.training].add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        code = train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "b", "--model", FSCFNET, "--amp", "bf16"))
    finally:
        handle.remove()
    assert code == 0
    assert dtypes[True] == {torch.bfloat16}, dtypes
    assert dtypes[False] == {torch.float32}, dtypes
    rows = read_rows(tmp_path / "b" / "results.csv")
    assert len(rows) == 1 and all(math.isfinite(float(rows[0][k])) for k in COMPONENTS)
    assert float(rows[0]["box_o2m"]) > 0
    assert load_checkpoint(tmp_path / "b" / "weights" / "last.pt")["train_args"]["amp"] == "bf16"


def test_fp16_on_cpu_is_a_one_line_error(tiny, tmp_path, capsys):
    """amp fp16 needs CUDA: on CPU, exit code 2 and one error line (flag and --set alike)."""
    for extra in (["--amp", "fp16"], ["--set", "amp=fp16"]):
        assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "f", *extra)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: amp fp16 needs a CUDA device"), err
    assert TrainConfig(amp="bf16").resolve_amp(torch.device("cpu")) is torch.bfloat16
    assert TrainConfig(amp="auto").resolve_amp(torch.device("cpu")) is None
