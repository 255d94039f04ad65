"""The trainer end to end on tiny demo sets: checkpoints, reproducibility, non-finite losses, resume (kill -9, SIGINT/SIGTERM, across devices), DDP, EMA validation, patience, val_period, close_mosaic, precision."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import train
from fscfnet import build_model
from fscfnet.cfg.data import load_data_config
from fscfnet.cfg.train import TrainConfig, load_train_config
from fscfnet.commands import train as train_command
from fscfnet.data.dataset import IRSTDDataset
from fscfnet.detection.loss import COMPONENTS, V10DetectionLoss
from fscfnet.engine import trainer as trainer_module
from fscfnet.engine.checkpoint import load_checkpoint, model_from_checkpoint
from fscfnet.engine.run_dir import TIME_COLUMNS, read_rows
from fscfnet.engine.schedule import Schedule
from fscfnet.engine.validator import validate
from fscfnet.experiments import cli as experiments_cli
from fscfnet.utils.ema import ModelEMA

# mosaic only: no scale, shift, flip or photometric change, so a non-mosaic sample is the plain letterbox
MOSAIC_ONLY = {"mosaic": 1.0, "translate": 0.0, "scale": 0.0, "fliplr": 0.0, "flipud": 0.0, "brightness": 0.0,
               "contrast": 0.0, "gamma": 0.0}


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine, two OpenMP threads spin-wait and run ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(make_demo, tmp_path_factory):
    return make_demo(16, 8)


@pytest.fixture(scope="module")
def one_batch(make_demo, tmp_path_factory):
    """8 training images (one batch of 8: one iteration per epoch) and 4 test images."""
    return make_demo(8, 4)


def _args(tiny, project, *extra):
    return ["--data", str(tiny), "--model", "yolov10n", "--imgsz", "64", "--batch", "8", "--workers", "0",
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

    def sometimes_nan(self, outputs, targets):
        calls["n"] += 1
        loss, parts = original(self, outputs, targets)
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
    save_checkpoint(src, build_model("yolov10n", nc=3), ["a", "b", "c"])
    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "w", "--weights", str(src))) == 0
    out = capsys.readouterr().out
    # expected, from the two state_dicts: the tensors of the nc=1 model whose name and shape the nc=3 one has
    own, src_sd = build_model("yolov10n", nc=1).state_dict(), load_checkpoint(src)["state_dict"]
    expected = sum(k in src_sd and src_sd[k].shape == v.shape for k, v in own.items())
    mismatched = {k for k, v in own.items() if src_sd[k].shape != v.shape}
    assert own.keys() == src_sd.keys() and len(mismatched) == 12  # class conv weight + bias, 3 levels, 2 heads
    assert expected == len(own) - 12
    assert f"loaded {expected}/{len(own)} tensors" in out, out


@pytest.mark.parametrize("sets", [["--set", "scale=native", "--set", "val_period=5", "--set", "loss.nwd_ratio=1"],
                                  ["--set", "scale=native", "val_period=5", "loss.nwd_ratio=1"]])
def test_every_set_applies_whether_repeated_or_listed(tiny, tmp_path, sets):
    """``--set a=1 --set b=2`` once kept only the last flag's settings (a run trained with scale resize)."""
    cfg = train_command.build_config(train_command.parse_args(_args(tiny, tmp_path, *sets)))
    assert (cfg.scale, cfg.val_period, cfg.loss) == ("native", 5, {"nwd_ratio": 1})
    assert experiments_cli.parse_args(sets).set == ["scale=native", "val_period=5", "loss.nwd_ratio=1"]


def test_a_setting_given_twice_with_different_values_is_a_one_line_error(tiny, tmp_path, capsys):
    assert train.main(_args(tiny, tmp_path, "--set", "scale=native", "--set", "scale=resize")) == 2
    assert "error: --set: scale is given twice, as 'native' and 'resize'; keep one" in capsys.readouterr().err
    args = train_command.parse_args(_args(tiny, tmp_path, "--set", "seed=3", "--set", "seed=3"))
    assert train_command.build_config(args).seed == 3  # the same value twice is no contradiction


def test_bad_settings_are_one_line_errors(tiny, tmp_path, capsys):
    assert train.main(_args(tiny, tmp_path, "--set", "lossx.nwd_ratio=1")) == 2
    assert "unknown key 'lossx'; did you mean 'loss'" in capsys.readouterr().err
    assert train.main(_args(tiny, tmp_path, "--set", "loss.nwd_ratoi=1")) == 2
    assert "unknown key 'nwd_ratoi'; did you mean 'nwd_ratio'" in capsys.readouterr().err
    assert train.main(_args(tiny, tmp_path, "--imgsz", "70")) == 2
    assert "multiple of the model stride 32" in capsys.readouterr().err
    assert train.main(_args(tiny, tmp_path, "--resume", str(tmp_path / "none.pt"))) == 2
    assert "weights file not found" in capsys.readouterr().err


def test_resume_after_kill_9_mid_epoch_gives_unique_epoch_rows(repo, wait_for, tiny, tmp_path):
    cmd = [sys.executable, "train.py", *_args(tiny, tmp_path, "--epochs", "4", "--name", "k", "--batch", "2")]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def test_an_interrupt_in_the_final_plots_says_the_run_is_complete(tiny, tmp_path, monkeypatch, capsys):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module.Trainer, "_plots", interrupted)
    assert train.main(_args(tiny, tmp_path, "--epochs", "1", "--name", "r")) == 130
    out = capsys.readouterr()
    assert "interrupted after the last epoch" in out.out + out.err and "redoes epoch" not in out.out + out.err
    assert train.main(["--resume", str(tmp_path / "r" / "weights" / "last.pt"), "--device", "cpu"]) == 2  # finished


def _interrupt_after_epoch_1(repo, wait_for, args: list[str], last, whole_group: bool, sig) -> tuple[int, str]:
    """Start ``train.py ARGS`` in a child, send ``sig`` once ``last`` (epoch 1) is written, to the child or to its
    whole process group (loader workers included; then no process of the group may outlive it); check the clean
    interrupt (exit 130, the message, no traceback) and return the epoch ``last.pt`` holds and the output."""
    # a shell starts background jobs with SIGINT ignored, and Python then keeps it ignored (as `nohup ... &`
    # users expect); give the child the default disposition so the test does not depend on how pytest was started.
    # Output goes to a file, not a pipe: the forked workers hold the pipe too, so reading it to its end would
    # wait for them and hide whether they outlived the run.
    log = last.parents[2] / f"{last.parents[1].name}.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "train.py", *args], cwd=repo, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=whole_group,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert wait_for(last.is_file)  # epoch 1 committed
        assert not whole_group or len(_group(proc.pid)) >= 3, _group(proc.pid)  # the run and its 2 loader workers
        os.killpg(proc.pid, sig) if whole_group else proc.send_signal(sig)
        proc.wait(timeout=120)
        # before the clean-up below kills whatever is left, and sooner than an orphaned worker's own check of its
        # parent (every 5 s) would end it: the workers end with the run
        assert not whole_group or wait_for(lambda: not _group(proc.pid), timeout=3), "loader workers outlived the run"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL) if whole_group else proc.kill()
    out = log.read_text()
    assert proc.returncode == 130 and "Traceback" not in out and "DataLoader worker" not in out, out[-2000:]
    cut_at = load_checkpoint(last)["epoch"]
    assert cut_at < 2 and f"interrupted in epoch {cut_at + 2}" in out and "redoes epoch" in out
    return cut_at, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_after_epoch_1_and_resumed_equals_uninterrupted(repo, wait_for, tiny, tmp_path, sig):
    """SIGTERM (kill, job schedulers) or Ctrl-C after epoch 1 of 3, then --resume: the final weights (EMA and
    training), optimizer state and results.csv equal those of a run that was never interrupted."""
    # 8 batches per epoch, a step every 3: the gradients of 2 batches are pending at each epoch's end
    args = _args(tiny, tmp_path, "--epochs", "3", "--batch", "2", "--set", "warmup_epochs=0", "nbs=6")
    assert train.main([*args, "--name", "ref"]) == 0
    last = tmp_path / "cut" / "weights" / "last.pt"
    cut_at, _ = _interrupt_after_epoch_1(repo, wait_for, [*args, "--name", "cut"], last, whole_group=False, sig=sig)
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


def test_sigterm_to_the_whole_process_group_with_loader_workers_stops_cleanly(repo, wait_for, tiny, tmp_path):
    """A scheduler or `timeout` signals every process of the job, loader workers included: the run still stops
    with the interrupt message and exit code 130, not an error about a worker, leaves no process behind, and
    resumes. (Ctrl-C in a terminal does the same with SIGINT, which PyTorch's workers already exit on quietly.)"""
    args = _args(tiny, tmp_path, "--epochs", "3", "--batch", "2", "--name", "cut")
    args[args.index("--workers") + 1] = "2"  # persistent: started in epoch 1, alive when last.pt appears
    last = tmp_path / "cut" / "weights" / "last.pt"
    _interrupt_after_epoch_1(repo, wait_for, args, last, whole_group=True, sig=signal.SIGTERM)
    assert train.main(["--resume", str(last), "--workers", "0", "--device", "cpu"]) == 0


def _group(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid`` (Linux /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


def test_torchrun_two_cpu_processes_train_one_epoch(repo, tiny, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "train.py", *_args(tiny, tmp_path, "--epochs", "1", "--name", "ddp")]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300,
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
    assert trainer.state.amp.scaler.is_enabled() and trainer.state.epoch + 1 == 1


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


@pytest.mark.usefixtures("one_thread")  # in-process only: no subprocess to match
def test_validation_and_best_pt_use_the_ema_weights(one_batch, tmp_path, monkeypatch):
    """A 1-epoch run (one optimizer step; tau=1 so the EMA is far from the trained weights): last.pt's
    state_dict = d_1 * initial + (1 - d_1) * train_state_dict; best.pt holds those EMA weights, not the trained
    ones; and best.pt's metrics are those of validating the EMA weights (the trained ones score differently)."""
    seen = {}

    class RecordingEMA(ModelEMA):
        def __init__(self, model, **kw):
            seen["initial"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            super().__init__(model, tau=1.0)

    monkeypatch.setattr(trainer_module, "ModelEMA", RecordingEMA)
    assert train.main(_args(one_batch, tmp_path, "--epochs", "1", "--name", "e")) == 0
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

    def numbers(m: dict) -> dict:
        """The metrics as flat numbers (each class's row under its name)."""
        out = {k: v for k, v in m.items() if k not in ("ms_per_image", "mode", "input_norm", "per_class")}
        for row in m.get("per_class", []):
            out.update({f"{row['name']} {k}": v for k, v in row.items() if k != "name"})
        return out

    data = load_data_config(str(one_batch))
    scores = []
    for weights in (ema, trained):
        model = model_from_checkpoint({**best, "state_dict": weights})
        val = IRSTDDataset(data, "test", 64, None, model.ch, log=lambda s: None)
        m = validate(model, val, batch_size=16, workers=0).metrics_dict()
        scores.append(numbers(m))
        assert m["mode"] == best["metrics"]["mode"]  # validated as training validates: letterbox at 64
    stored = numbers(best["metrics"])
    assert stored.keys() == scores[0].keys()
    for k, v in stored.items():
        assert v == pytest.approx(scores[0][k], rel=1e-6, abs=1e-9), k
    assert scores[1] != pytest.approx(stored)  # the comparison tells EMA from trained weights


# -------------------------------------------------------------------------------------------------------- 5. patience
@pytest.mark.usefixtures("one_thread")  # in-process only: no subprocess to match
def test_patience_stops_when_fitness_does_not_improve(one_batch, tmp_path):
    """patience=1 and AP stuck at 0: epoch 1 is best, epoch 2 no better -> stop after epoch 2 of 4 with
    last.pt finished; results.csv has 2 rows whose lr is the hand-computed warmup value."""
    assert train.main(_args(one_batch, tmp_path, "--epochs", "4", "--name", "p", "--set", "patience=1")) == 0
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


@pytest.mark.usefixtures("one_thread")  # in-process only: no subprocess to match
def test_val_period_validates_every_nth_and_the_last_epoch_and_best_pt_is_a_validated_one(one_batch, tmp_path,
                                                                                            monkeypatch):
    """val_period=2 over 5 epochs: validation after epochs 2, 4 and 5 only; the other rows carry no metrics;
    best.pt (AP stays 0 here, so the first validated epoch) is epoch 2, never an unvalidated epoch 1."""
    calls = []
    original = trainer_module.validate

    def counting(*args, **kw):
        calls.append(len(calls))
        return original(*args, **kw)

    monkeypatch.setattr(trainer_module, "validate", counting)
    assert train.main(_args(one_batch, tmp_path, "--epochs", "5", "--name", "vp", "--set", "val_period=2")) == 0
    rows = read_rows(tmp_path / "vp" / "results.csv")
    assert len(calls) == 3
    assert [r["epoch"] for r in rows if r["ap50"] != ""] == ["2", "4", "5"]
    assert [r["epoch"] for r in rows if r["val_s"] != ""] == ["2", "4", "5"]
    assert all(r["train_s"] != "" for r in rows)
    assert load_checkpoint(tmp_path / "vp" / "weights" / "best.pt")["epoch"] == 1
    assert load_checkpoint(tmp_path / "vp" / "weights" / "last.pt")["epoch"] == 4


@pytest.mark.usefixtures("one_thread")  # in-process only: no subprocess to match
def test_trainer_closes_mosaic_for_the_last_epochs(one_batch, tmp_path, monkeypatch):
    """--epochs 3 --close-mosaic 1: mosaic_until == 2; with mosaic=1.0 (and no other augmentation) epochs 0, 1
    draw mosaics, epoch 2 gives the plain letterboxed image (114 bands above and below the 64x48 picture)."""
    cfg = load_train_config({"data": str(one_batch), "model": "yolov10n", "imgsz": 64, "epochs": 3, "close_mosaic": 1,
                             "batch": 8, "workers": 0, "device": "cpu", "project": str(tmp_path), "name": "m",
                             "augment": MOSAIC_ONLY})
    t = trainer_module.Trainer(cfg, log=lambda s: None)
    ds = t.train_loader.dataset
    assert ds.mosaic_until == 2
    # the schedule it built: 1 batch per epoch -> the 100-iteration minimum warmup; 3 steps -> AdamW 0.002
    assert t.schedule == Schedule(0.002, 0.01, 3, "linear", 100, 0.1, 0.8, 0.937, 8, 64)
    assert type(t.state.optimizer) is torch.optim.AdamW

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


# ------------------------------------------------------------------------------------------------------------ 8. AMP
@pytest.mark.usefixtures("one_thread")  # in-process only: no subprocess to match
def test_bf16_autocast_through_the_trainer_on_cpu(one_batch, tmp_path):
    """--amp bf16 on CPU, FSCFNet at 64 px, 1 epoch: training convolutions output bfloat16 (autocast on),
    validation ones float32; the losses in results.csv are finite."""
    dtypes = {True: set(), False: set()}

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            dtypes[module.training].add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        code = train.main(_args(one_batch, tmp_path, "--epochs", "1", "--name", "b", "--model", "fscfnet", "--amp", "bf16"))
    finally:
        handle.remove()
    assert code == 0
    assert dtypes[True] == {torch.bfloat16}, dtypes
    assert dtypes[False] == {torch.float32}, dtypes
    rows = read_rows(tmp_path / "b" / "results.csv")
    assert len(rows) == 1 and all(math.isfinite(float(rows[0][k])) for k in COMPONENTS)
    assert float(rows[0]["box_o2m"]) > 0
    assert load_checkpoint(tmp_path / "b" / "weights" / "last.pt")["train_args"]["amp"] == "bf16"


@pytest.mark.usefixtures("one_thread")  # in-process only: no subprocess to match
def test_fp16_on_cpu_is_a_one_line_error(one_batch, tmp_path, capsys):
    """amp fp16 needs CUDA: on CPU, exit code 2 and one error line (flag and --set alike)."""
    for extra in (["--amp", "fp16"], ["--set", "amp=fp16"]):
        assert train.main(_args(one_batch, tmp_path, "--epochs", "1", "--name", "f", *extra)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: amp fp16 needs a CUDA device"), err
    assert TrainConfig(amp="bf16").resolve_amp(torch.device("cpu")) is torch.bfloat16
    assert TrainConfig(amp="auto").resolve_amp(torch.device("cpu")) is None
