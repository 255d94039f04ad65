"""Loss and trainer: tiny-target assignment, NWD, end-to-end epochs, resume, NaN stop, reproducibility, DDP."""

from __future__ import annotations

import math
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import torchvision

import train
from conftest import ROOT, tiny_demo_yaml, wait_for
from fscfnet import build_model
from fscfnet.engine.run_dir import TIME_COLUMNS, read_rows
from fscfnet.detection.boxes import box_quality, ciou, nwd
from fscfnet.engine.checkpoint import load_checkpoint
from fscfnet.cfg.loss import LossConfig
from fscfnet.detection.loss import V10DetectionLoss

FSCFNET = str(ROOT / "cfg" / "models" / "fscfnet.yaml")
YOLO = str(ROOT / "cfg" / "models" / "yolov10n.yaml")


def test_nwd_equals_hand_computed_value():
    a, b = torch.tensor([0.0, 0, 4, 4]), torch.tensor([3.0, 4, 9, 8])
    # centres (2, 2) and (6, 6); sizes 4x4 and 6x4: W2^2 = 4^2 + 4^2 + (2^2 + 0^2) / 4 = 33
    assert nwd(a, b).item() == pytest.approx(math.exp(-math.sqrt(33) / 12.8), rel=1e-6)
    assert nwd(a, b, c=6.4).item() == pytest.approx(math.exp(-math.sqrt(33) / 6.4), rel=1e-6)
    assert box_quality(a, b, 0.5, 12.8).item() == pytest.approx(0.5 * ciou(a, b).item() + 0.5 * math.exp(-math.sqrt(33) / 12.8))
    assert box_quality(a, b, 1.0, 12.8).item() == ciou(a, b).item()


@pytest.mark.parametrize("cfg_path", [FSCFNET, YOLO])
def test_two_pixel_target_gets_positives_with_nonzero_scores_on_both_heads(cfg_path):
    torch.manual_seed(0)
    model = build_model(cfg_path, nc=1)
    out = model(torch.rand(1, 3, 320, 320))
    for x, y in [(100.0, 60.0), (101.0, 61.0), (4.0, 317.0), (163.5, 170.5)]:  # on, off and between anchor centres
        targets = torch.tensor([[0, 0, x / 320, y / 320, 2 / 320, 2 / 320]])
        for name, a in V10DetectionLoss(model).assign(out, targets, (320, 320)).items():
            assert a.fg.sum() >= 1, (name, x, y)
            assert a.scores.max() > 0.1, (name, x, y, a.scores.max())
    # the YOLOv8 recipe (uniform DFL init, CIoU-only quality, no candidate enlargement) leaves it ~nothing: a 2x2 px
    # target centred on the stride-8 anchor (100, 60) (= 4 + 8 * (12, 7)), the only anchor centre inside it, is
    # picked, but its class target is the CIoU of that anchor's ~120 px initial box with the target, < 1e-3
    for branch in (model.head.one2many, model.head.one2one):
        for conv in branch.box:
            torch.nn.init.constant_(conv[-1].bias, 1.0)
    out = model(torch.rand(1, 3, 320, 320))
    plain = V10DetectionLoss(model, LossConfig(nwd_ratio=1.0, min_candidate_px=0.0))
    target = torch.tensor([[99.0, 59.0, 101.0, 61.0]])
    a = plain.assign(out, torch.tensor([[0, 0, 100 / 320, 60 / 320, 2 / 320, 2 / 320]]), (320, 320))
    for name, v in a.items():
        assert v.fg[0].nonzero().flatten().tolist() == [7 * 40 + 12], name  # that anchor, and only it
        # by hand: the anchor's DFL distances (grid cells) from the raw P3 map, CIoU by torchvision
        reg_max = model.head.reg_max
        logits = out[name][0][0, :4 * reg_max, 7, 12].detach().view(4, reg_max)
        dist = logits.softmax(-1) @ torch.arange(reg_max).float()
        box = torch.cat((torch.tensor([12.5, 7.5]) - dist[:2], torch.tensor([12.5, 7.5]) + dist[2:]))[None] * 8
        assert box[0, 2] - box[0, 0] > 60  # the uniform init's large box
        expected = torchvision.ops.complete_box_iou(box, target)[0, 0].clamp(min=0)
        assert v.scores.max().item() == pytest.approx(expected.item(), rel=1e-3, abs=1e-7), name
        assert v.scores.max() < 1e-3, name


def test_dense_loss_and_assignment_equal_the_sparse_ones_in_value_and_gradient():
    """The sync-free dense form (CUDA's) against the nonzero-gathered sparse form (the CPU's), forced on the CPU:
    a batch with several targets, an image with none (padded rows, whose empty boxes give CIoU NaN) and a target
    at the border; the same positives, the same loss terms and the same gradients."""
    torch.manual_seed(0)
    model = build_model(YOLO, nc=2)
    x = torch.rand(3, 3, 128, 128)
    targets = torch.tensor([[0, 0, 0.30, 0.40, 0.03, 0.04], [0, 1, 0.70, 0.20, 0.20, 0.10],
                            [0, 0, 0.71, 0.22, 0.05, 0.05], [2, 1, 0.02, 0.97, 0.03, 0.03]])  # image 1: none
    results = {}
    for dense in (False, True):
        model.zero_grad()
        out = model(x)
        loss_fn = V10DetectionLoss(model, dense=dense)
        loss, parts = loss_fn(out, targets, (128, 128))
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results[dense] = (parts, grads, loss_fn.assign(out, targets, (128, 128)))
    (ps, gs, a_s), (pd, gd, a_d) = results[False], results[True]
    assert torch.isfinite(pd).all() and torch.isfinite(gd).all()
    assert (ps > 0).all()  # every term is exercised
    torch.testing.assert_close(pd, ps, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gd, gs, rtol=1e-4, atol=1e-6)
    for name in ("one2many", "one2one"):
        assert torch.equal(a_d[name].fg, a_s[name].fg) and a_s[name].fg.sum() > 0
        torch.testing.assert_close(a_d[name].scores, a_s[name].scores, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_demo_yaml(tmp_path_factory.mktemp("tiny"), n_train=16, n_test=8)


def _args(tiny, project, *extra):
    return ["--data", str(tiny), "--model", YOLO, "--imgsz", "64", "--batch", "8", "--workers", "0",
            "--project", str(project), "--device", "cpu", *extra]


def test_one_epoch_end_to_end_and_checkpoints_load_weights_only(tiny, tmp_path):
    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "r")) == 0
    run = tmp_path / "r"
    for f in ("args.yaml", "results.csv", "results.png", "labels.png", "train_batch0.jpg", "PR_curve.png",
              "weights/last.pt", "weights/best.pt"):
        assert (run / f).is_file(), f
    rows = read_rows(run / "results.csv")
    assert [r["epoch"] for r in rows] == ["1"] and float(rows[0]["box_o2m"]) > 0
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(run / "weights" / name, map_location="cpu", weights_only=True)
        assert ckpt["epoch"] == 0 and ckpt["names"] == ["target"]
        args = ckpt["train_args"]  # the values used, not the defaults that chose them
        assert (args["imgsz"], args["epochs"], args["optimizer"], args["lr0"]) == (64, 1, "AdamW", 0.002)
    assert "optimizer" in load_checkpoint(run / "weights" / "last.pt")
    assert "optimizer" not in load_checkpoint(run / "weights" / "best.pt")


def test_two_runs_with_one_seed_write_identical_results(tiny, tmp_path):
    for name in ("a", "b"):
        # nbs=8: a step every batch (4 in all); with the default 64 (x8 accumulation) these 4 batches never step
        assert train.main(_args(tiny, tmp_path, "--epochs", "2", "--name", name, "--set", "warmup_epochs=0",
                                "nbs=8")) == 0
    a, b = (read_rows(tmp_path / n / "results.csv") for n in ("a", "b"))
    assert len(a) == len(b) == 2
    assert [{k: v for k, v in r.items() if k not in TIME_COLUMNS} for r in a] == \
        [{k: v for k, v in r.items() if k not in TIME_COLUMNS} for r in b]
    assert all(float(r["train_s"]) > 0 and float(r["val_s"]) > 0 for r in a)
    # the compared numbers are not trivially zero (AP is, on this tiny set): every loss term and the lr are not
    losses = ("box_o2m", "cls_o2m", "dfl_o2m", "box_o2o", "cls_o2o", "dfl_o2o", "lr")
    assert all(float(r[k]) > 0 for r in a for k in losses) and a[0]["box_o2m"] != a[1]["box_o2m"]
    # and the final weights (EMA and training) and optimizer state, which the CSV's 6 digits do not show, are equal
    wa, wb = (load_checkpoint(tmp_path / n / "weights" / "last.pt") for n in ("a", "b"))
    for key in ("state_dict", "train_state_dict"):
        assert list(wa[key]) == list(wb[key]) and len(wa[key]) > 100
        assert all(torch.equal(wa[key][k], wb[key][k]) for k in wa[key]), key
    first = load_checkpoint(tmp_path / "a" / "weights" / "best.pt")["state_dict"]  # (best.pt: epoch 1 here)
    assert sum(not torch.equal(first[k], wa["state_dict"][k]) for k in first) > 100  # epoch 2 trained something
    _assert_same_optimizer_state(wa["optimizer"], wb["optimizer"])


def _nan_from(monkeypatch, first: int, last: int = 10**9) -> None:
    """Make the loss of batches ``first`` .. ``last`` (counted over the run, from 1) NaN."""
    calls = {"n": 0}
    original = V10DetectionLoss.__call__

    def sometimes_nan(self, outputs, targets, size):
        calls["n"] += 1
        loss, parts = original(self, outputs, targets, size)
        return (loss * float("nan"), parts) if first <= calls["n"] <= last else (loss, parts)

    monkeypatch.setattr(V10DetectionLoss, "__call__", sometimes_nan)


def test_nonfinite_losses_in_a_row_stop_with_epoch_and_batch_and_keep_last_checkpoint(tiny, tmp_path, monkeypatch,
                                                                                     capsys):
    _nan_from(monkeypatch, 3)  # 2 batches = epoch 1; every batch from epoch 2 on is NaN
    assert train.main(_args(tiny, tmp_path, "--epochs", "3", "--name", "n")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "non-finite loss from epoch 2, batch 0" in err, err
    assert "3 optimizer steps in a row skipped" in err and "keeps epoch 2" in err
    ckpt = load_checkpoint(tmp_path / "n" / "weights" / "last.pt")
    assert ckpt["epoch"] == 1  # epoch 2 ended (its steps skipped); epoch 3 stopped at its first batch
    rows = read_rows(tmp_path / "n" / "results.csv")
    assert rows[1]["box_o2m"] == "nan" and float(rows[0]["box_o2m"]) > 0  # no finite batch in epoch 2


def test_one_nonfinite_step_is_skipped_and_training_goes_on(tiny, tmp_path, monkeypatch):
    _nan_from(monkeypatch, 3, 3)
    assert train.main(_args(tiny, tmp_path, "--epochs", "2", "--name", "s", "--set", "warmup_epochs=0",
                            "nbs=8")) == 0
    ref = tmp_path / "ref"
    monkeypatch.undo()
    assert train.main(_args(tiny, tmp_path, "--epochs", "2", "--name", "ref", "--set", "warmup_epochs=0",
                            "nbs=8")) == 0
    skipped = load_checkpoint(tmp_path / "s" / "weights" / "last.pt")
    full = load_checkpoint(ref / "weights" / "last.pt")
    assert skipped["epoch"] == full["epoch"] == 1
    assert skipped["ema_updates"] == full["ema_updates"] - 1  # exactly the one NaN step was not taken
    rows = read_rows(tmp_path / "s" / "results.csv")
    assert all(math.isfinite(float(r["box_o2m"])) for r in rows)  # the NaN batch is left out of the means


def test_weights_load_matching_tensors_and_report_the_count(tiny, tmp_path, capsys):
    src = tmp_path / "src.pt"
    from fscfnet.engine.checkpoint import save_checkpoint
    save_checkpoint(src, build_model(YOLO, nc=3), ["a", "b", "c"])
    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "w", "--weights", str(src))) == 0
    out = capsys.readouterr().out
    # expected, from the two state_dicts: the tensors of the nc=1 model whose name and shape the nc=3 one has
    own, src_sd = build_model(YOLO, nc=1).state_dict(), load_checkpoint(src)["state_dict"]
    expected = sum(k in src_sd and src_sd[k].shape == v.shape for k, v in own.items())
    mismatched = {k for k, v in own.items() if src_sd[k].shape != v.shape}
    assert own.keys() == src_sd.keys() and len(mismatched) == 12  # class conv weight + bias, 3 levels, 2 heads
    assert expected == len(own) - 12
    assert f"loaded {expected}/{len(own)} tensors" in out, out


def test_bad_settings_are_one_line_errors(tiny, tmp_path, capsys):
    assert train.main(_args(tiny, tmp_path, "--set", "lossx.nwd_ratio=1")) == 2
    assert "unknown key 'lossx'; did you mean 'loss'" in capsys.readouterr().err
    assert train.main(_args(tiny, tmp_path, "--set", "loss.nwd_ratoi=1")) == 2
    assert "unknown key 'nwd_ratoi'; did you mean 'nwd_ratio'" in capsys.readouterr().err
    assert train.main(_args(tiny, tmp_path, "--imgsz", "70")) == 2
    assert "multiple of the model stride 32" in capsys.readouterr().err
    assert train.main(_args(tiny, tmp_path, "--resume", str(tmp_path / "none.pt"))) == 2
    assert "weights file not found" in capsys.readouterr().err


def test_resume_after_kill_9_mid_epoch_gives_unique_epoch_rows(tiny, tmp_path):
    cmd = [sys.executable, "train.py", *_args(tiny, tmp_path, "--epochs", "4", "--name", "k", "--batch", "2")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "k" / "weights" / "last.pt"
    try:
        assert wait_for(last.is_file)
        time.sleep(0.5)  # into epoch 2 (8 batches of 2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = load_checkpoint(last)["epoch"]
    assert done < 3
    assert train.main(["--resume", str(last), "--workers", "0", "--device", "cpu"]) == 0
    epochs = [int(r["epoch"]) for r in read_rows(tmp_path / "k" / "results.csv")]
    assert epochs == [1, 2, 3, 4]
    starts = json.loads((tmp_path / "k" / "provenance.json").read_text())["starts"]  # one entry per (re)start
    assert [s["epoch"] for s in starts] == [1, done + 2] and "train.py" in starts[0]["command"]
    assert "pytest" in starts[1]["command"]  # the resume ran inside this test process
    assert all(s["torch"] == torch.__version__ and "commit" in s for s in starts)
    assert load_checkpoint(last)["epoch"] == 3
    assert train.main(["--resume", str(last), "--device", "cpu"]) == 2  # already finished


def _assert_same_optimizer_state(ref: dict, got: dict) -> None:
    """Every state entry (each parameter index, each tensor, exactly) and every param_group field are equal."""
    assert ref.keys() == got.keys() == {"state", "param_groups"}
    n_params = sum(len(g["params"]) for g in ref["param_groups"])
    assert n_params > 100 and len(ref["state"]) > 0.9 * n_params  # (a parameter that never had a gradient has none)
    assert sorted(ref["state"]) == sorted(got["state"]), "state: different parameter indices"
    for i in ref["state"]:
        a, b = ref["state"][i], got["state"][i]
        assert a.keys() == b.keys() and len(a) > 0, (i, a.keys(), b.keys())
        for k in a:
            if isinstance(a[k], torch.Tensor):
                assert isinstance(b[k], torch.Tensor) and a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), (i, k)
            else:
                assert a[k] == b[k], (i, k, a[k], b[k])
    assert len(ref["param_groups"]) == len(got["param_groups"]) > 0
    for j, (a, b) in enumerate(zip(ref["param_groups"], got["param_groups"], strict=True)):
        assert a.keys() == b.keys(), (j, a.keys(), b.keys())
        for k in a:
            assert a[k] == b[k], (j, k, a[k], b[k])  # lr, betas, weight_decay, params (indices), ...


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_after_epoch_1_and_resumed_equals_uninterrupted(tiny, tmp_path, sig):
    """SIGTERM (kill, job schedulers) or Ctrl-C after epoch 1 of 3, then --resume: the final weights (EMA and
    training), optimizer state and results.csv equal those of a run that was never interrupted."""
    # 8 batches per epoch, a step every 3: the gradients of 2 batches are pending at each epoch's end
    args = _args(tiny, tmp_path, "--epochs", "3", "--batch", "2", "--set", "warmup_epochs=0", "nbs=6")
    assert train.main([*args, "--name", "ref"]) == 0
    # a shell starts background jobs with SIGINT ignored, and Python then keeps it ignored (as `nohup ... &`
    # users expect); give the child the default disposition so the test does not depend on how pytest was started
    proc = subprocess.Popen([sys.executable, "train.py", *args, "--name", "cut"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    last = tmp_path / "cut" / "weights" / "last.pt"
    try:
        assert wait_for(last.is_file)  # epoch 1 committed
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in out, out[-2000:]
    cut_at = load_checkpoint(last)["epoch"]
    assert cut_at < 2 and f"interrupted in epoch {cut_at + 2}" in out and "redoes epoch" in out
    assert [int(r["epoch"]) for r in read_rows(tmp_path / "cut" / "results.csv")] == list(range(1, cut_at + 2))
    assert train.main(["--resume", str(last), "--workers", "0", "--device", "cpu"]) == 0
    ref, cut = (load_checkpoint(tmp_path / n / "weights" / "last.pt") for n in ("ref", "cut"))
    for key in ("state_dict", "train_state_dict"):
        assert ref[key].keys() == cut[key].keys()
        assert all(torch.equal(ref[key][k], cut[key][k]) for k in ref[key]), key
    _assert_same_optimizer_state(ref["optimizer"], cut["optimizer"])
    untimed = [{k: v for k, v in r.items() if k not in TIME_COLUMNS} for r in read_rows(tmp_path / "ref" / "results.csv")]
    assert untimed == [{k: v for k, v in r.items() if k not in TIME_COLUMNS}
                       for r in read_rows(tmp_path / "cut" / "results.csv")]
    assert train.main(["--resume", str(last), "--device", "cpu"]) == 2  # already finished


def test_torchrun_two_cpu_processes_train_one_epoch(tiny, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "train.py", *_args(tiny, tmp_path, "--epochs", "1", "--name", "ddp")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r["epoch"] for r in read_rows(tmp_path / "ddp" / "results.csv")] == ["1"]
    assert "(2 processes," in proc.stdout and load_checkpoint(tmp_path / "ddp" / "weights" / "last.pt")["epoch"] == 0


def test_resumed_run_reports_its_best_metrics_from_before_the_resume(tiny, tmp_path, capsys):
    """The best epoch (epoch 1: AP stays 0 on this tiny set) came before the resume: train.py still prints it."""
    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "b")) == 0
    last = tmp_path / "b" / "weights" / "last.pt"
    ckpt = load_checkpoint(last)
    ckpt["train_args"]["epochs"], ckpt["finished"] = 2, False  # as if interrupted after epoch 1 of 2
    torch.save(ckpt, last)
    capsys.readouterr()
    assert train.main(["--resume", str(last), "--workers", "0", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "best epoch 1: AP50" in out, out[-500:]


def test_exist_ok_run_into_a_used_folder_starts_a_new_results_csv(tiny, tmp_path):
    for _ in range(2):
        assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "same", "--set", "exist_ok=true")) == 0
    assert [r["epoch"] for r in read_rows(tmp_path / "same" / "results.csv")] == ["1"]


def test_cpu_checkpoint_resumes_where_fp16_scaling_is_on(tiny, tmp_path, monkeypatch):
    """A CPU run stores no scaler state; resuming it where the fp16 GradScaler is enabled (CUDA) must not load {}.
    Simulated on CPU by enabling the scaler (the GradScaler is device-agnostic)."""
    from fscfnet.cfg.train import TrainConfig
    from fscfnet.engine.trainer import Trainer

    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "g")) == 0
    last = tmp_path / "g" / "weights" / "last.pt"
    ckpt = load_checkpoint(last)
    assert ckpt["scaler"] == {}
    ckpt["train_args"]["epochs"], ckpt["finished"] = 2, False
    torch.save(ckpt, last)
    monkeypatch.setattr(TrainConfig, "resolve_amp", lambda self, device: torch.float16)
    trainer = Trainer(TrainConfig(device="cpu", workers=0), resume=last, log=lambda s: None)
    assert trainer.amp.scaler.is_enabled() and trainer.start_epoch == 1


def test_fp16_run_resumes_on_a_cpu_with_amp_auto_and_says_so_once(tiny, tmp_path, capsys):
    """A run stored with amp fp16 (a GPU run) resumes on a CPU: amp falls back to auto (full precision), one
    line says so, and the checkpoint written after the resume records the setting used."""
    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "h")) == 0
    last = tmp_path / "h" / "weights" / "last.pt"
    ckpt = load_checkpoint(last)
    ckpt["train_args"].update(amp="fp16", epochs=2)
    ckpt["finished"] = False
    torch.save(ckpt, last)
    capsys.readouterr()
    assert train.main(["--resume", str(last), "--workers", "0", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("amp fp16, which needs CUDA") == 1, out[-800:]
    resumed = load_checkpoint(last)
    assert resumed["epoch"] == 1 and resumed["train_args"]["amp"] == "auto"


def test_checkpoint_tensors_are_copied_to_the_cpu_at_every_depth():
    from fscfnet.engine.checkpoint import to_cpu

    calls = []

    class Probe(torch.Tensor):  # records where it is sent: a CUDA tensor cannot exist on this machine
        def to(self, *args, **kwargs):
            calls.append(args)
            return torch.Tensor.to(torch.Tensor(self), *args, **kwargs)

    t = torch.ones(2).as_subclass(Probe)
    out = to_cpu({"state": {0: {"exp_avg": t, "step": t}}, "rng": [t, (t, 1)], "n": 3})
    assert len(calls) == 4 and all(a[0] == "cpu" for a in calls)
    assert out["n"] == 3 and isinstance(out["rng"][1], tuple) and out["rng"][1][1] == 1


def test_demo_generated_twice_into_one_folder_keeps_the_first(tmp_path):
    """Two DDP ranks generating the demo set at once: the second rename must not fail."""
    from fscfnet.data.demo import generate_demo

    generate_demo(tmp_path / "demo", n_train=2, n_test=1)
    before = sorted(p.name for p in (tmp_path / "demo" / "images").iterdir())
    generate_demo(tmp_path / "demo", n_train=2, n_test=1)
    assert sorted(p.name for p in (tmp_path / "demo" / "images").iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary folder left behind
