"""The experiments runner: resumes after a kill without retraining finished pairs; results.md matches done.json."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, tiny_demo_yaml, wait_for
from fscfnet.engine.results import read_rows
from fscfnet.experiments import main
from fscfnet.engine.checkpoint import load_checkpoint


def test_runner_resumes_after_kill_without_retraining_finished_pairs(tmp_path, capsys):
    data = tiny_demo_yaml(tmp_path, n_train=12, n_test=6)
    args = ["--models", "yolov10n", "fscfnet", "--data", str(data), "--epochs", "2", "--imgsz", "64", "--batch", "4",
            "--workers", "0", "--device", "cpu", "--project", str(tmp_path / "exp"), "--name", "t"]
    root = tmp_path / "exp" / "t"
    first, second = root / "demo" / "yolov10n", root / "demo" / "fscfnet"
    proc = subprocess.Popen([sys.executable, "-m", "fscfnet.experiments", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: (second / "weights" / "last.pt").is_file()), "the second pair never checkpointed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert (first / "done.json").is_file() and not (second / "done.json").is_file()
    killed_at = load_checkpoint(second / "weights" / "last.pt")["epoch"]
    assert killed_at == 0
    stamp = {p: p.stat().st_mtime_ns for p in (first / "done.json", first / "weights" / "best.pt",
                                               first / "weights" / "last.pt")}

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "demo / yolov10n: done, skipped" in out and "demo / fscfnet: resuming" in out
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # the finished pair was not touched
    assert [int(r["epoch"]) for r in read_rows(second / "results.csv")] == [1, 2]

    rows = json.loads((root / "results.json").read_text())
    assert [(r["data"], r["model"]) for r in rows] == [("demo", "yolov10n"), ("demo", "fscfnet")]
    table = (root / "results.md").read_text()
    for r in rows:
        assert r == json.loads((root / r["data"] / r["model"] / "done.json").read_text())
        line = next(ln for ln in table.splitlines() if ln.startswith(f"| {r['model']} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[4] == (f"{r['ap50']:.3f}" if r["ap50"] is not None else "-")
        assert cells[8] == f"{r['params'] / 1e6:.2f}" and cells[-1] == f"{r['best_epoch']}/2"
    assert (root / "comparison.png").stat().st_size > 0

    assert main(args) == 0  # everything done: nothing retrained, the same table
    assert (root / "results.md").read_text() == table


def test_runner_refuses_changed_settings_and_unknown_models(tmp_path, capsys):
    data = tiny_demo_yaml(tmp_path, n_train=4, n_test=2)
    base = ["--data", str(data), "--imgsz", "64", "--batch", "2", "--workers", "0", "--device", "cpu",
            "--project", str(tmp_path / "exp"), "--name", "t"]
    assert main(["--models", "nope", *base, "--epochs", "1"]) == 2
    assert "--models nope: no such model config (known:" in capsys.readouterr().err
    (tmp_path / "exp" / "t").mkdir(parents=True)
    (tmp_path / "exp" / "t" / "plan.yaml").write_text("epochs: 5\nimgsz: 64\nbatch: 2\nseed: 0\nsettings: {}\n")
    assert main(["--models", "yolov10n", *base, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "plan.yaml: this experiment ran with epochs=5, not 1" in err and err.count("\n") == 1
    assert main(["--models", "yolov10n", *base, "--epochs", "1", "--set", "optimzer=SGD"]) == 2
    assert "did you mean 'optimizer'" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["x", "=1"])
def test_set_needs_key_and_value(tmp_path, capsys, bad):
    assert main(["--models", "yolov10n", "--data", "demo", "--set", bad, "--project", str(tmp_path)]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_rerun_after_a_kill_between_the_last_epoch_and_done_json_finishes_the_grid(tmp_path, capsys):
    """Killed during the final validation (last.pt at the final epoch, no done.json), or after an early stop:
    the same command must finish the pair without training it again."""
    data = tiny_demo_yaml(tmp_path, n_train=8, n_test=4)
    args = ["--models", "yolov10n", "--data", str(data), "--epochs", "4", "--imgsz", "64", "--batch", "4",
            "--workers", "0", "--device", "cpu", "--project", str(tmp_path / "exp"), "--name", "t",
            "--set", "patience=1"]  # AP stays 0 on this tiny set: stops early after epoch 2
    assert main(args) == 0
    pair = tmp_path / "exp" / "t" / "demo" / "yolov10n"
    first = json.loads((pair / "done.json").read_text())
    assert [int(r["epoch"]) for r in read_rows(pair / "results.csv")] == [1, 2]
    (pair / "done.json").unlink()
    stamp = (pair / "weights" / "last.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert "training had finished" in capsys.readouterr().out
    assert (pair / "weights" / "last.pt").stat().st_mtime_ns == stamp  # not trained again
    assert [int(r["epoch"]) for r in read_rows(pair / "results.csv")] == [1, 2]
    again = json.loads((pair / "done.json").read_text())
    assert {k: again[k] for k in ("ap50", "best_epoch", "params")} == {k: first[k] for k in ("ap50", "best_epoch", "params")}
