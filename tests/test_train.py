"""Loss and trainer: tiny-target assignment, NWD, end-to-end epochs, resume, NaN stop, reproducibility, DDP."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import train
from conftest import ROOT, tiny_demo_yaml, wait_for
from fscfnet import build_model
from fscfnet.engine.results import read_rows
from fscfnet.utils.boxes import box_quality, ciou, nwd
from fscfnet.utils.checkpoint import load_checkpoint
from fscfnet.utils.loss import LossConfig, V10DetectionLoss

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
    # the YOLOv8 recipe (uniform DFL init, CIoU-only quality, no candidate enlargement) leaves it ~nothing
    for branch in (model.head.one2many, model.head.one2one):
        for conv in branch.box:
            torch.nn.init.constant_(conv[-1].bias, 1.0)
    out = model(torch.rand(1, 3, 320, 320))
    plain = V10DetectionLoss(model, LossConfig(nwd_ratio=1.0, min_candidate_px=0.0))
    a = plain.assign(out, torch.tensor([[0, 0, 101 / 320, 61 / 320, 2 / 320, 2 / 320]]), (320, 320))
    assert all(v.scores.max() < 1e-3 for v in a.values())


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
        assert train.main(_args(tiny, tmp_path, "--epochs", "2", "--name", name, "--set", "warmup_epochs=0")) == 0
    assert (tmp_path / "a" / "results.csv").read_text() == (tmp_path / "b" / "results.csv").read_text()


def test_forced_nan_stops_with_epoch_and_batch_and_keeps_last_checkpoint(tiny, tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    original = V10DetectionLoss.__call__

    def sometimes_nan(self, outputs, targets, size):
        calls["n"] += 1
        loss, parts = original(self, outputs, targets, size)
        return (loss * float("nan"), parts) if calls["n"] > 2 else (loss, parts)  # 2 batches = epoch 1

    monkeypatch.setattr(V10DetectionLoss, "__call__", sometimes_nan)
    assert train.main(_args(tiny, tmp_path, "--epochs", "3", "--name", "n")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "non-finite loss at epoch 2, batch 0" in err and "keeps epoch 1" in err
    assert load_checkpoint(tmp_path / "n" / "weights" / "last.pt")["epoch"] == 0


def test_weights_load_matching_tensors_and_report_the_count(tiny, tmp_path, capsys):
    src = tmp_path / "src.pt"
    from fscfnet.utils.checkpoint import save_checkpoint
    save_checkpoint(src, build_model(YOLO, nc=3), ["a", "b", "c"])
    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "w", "--weights", str(src))) == 0
    out = capsys.readouterr().out
    n_total = len(build_model(YOLO, nc=1).state_dict())
    loaded = int(out.split("loaded ")[1].split("/")[0])
    assert 0 < loaded < n_total and f"/{n_total} tensors" in out  # the class convs (nc 3 vs 1) do not match


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
    assert load_checkpoint(last)["epoch"] == 3
    assert train.main(["--resume", str(last), "--device", "cpu"]) == 2  # already finished


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_saves_last_and_exits_cleanly(tiny, tmp_path, sig):
    cmd = [sys.executable, "train.py", *_args(tiny, tmp_path, "--epochs", "50", "--name", "c", "--batch", "2")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: (tmp_path / "c" / "train_batch0.jpg").is_file())
        time.sleep(0.5)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted in epoch" in out and "Traceback" not in out
    assert "optimizer" in load_checkpoint(tmp_path / "c" / "weights" / "last.pt")


def test_torchrun_two_cpu_processes_train_one_epoch(tiny, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "train.py", *_args(tiny, tmp_path, "--epochs", "1", "--name", "ddp")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r["epoch"] for r in read_rows(tmp_path / "ddp" / "results.csv")] == ["1"]
    assert "(2 processes)" in proc.stdout and load_checkpoint(tmp_path / "ddp" / "weights" / "last.pt")["epoch"] == 0
