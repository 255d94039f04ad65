"""The experiments runner: resumes after a kill without retraining finished pairs; results.md matches done.json."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import torch

from fscfnet.engine.checkpoint import load_checkpoint
from fscfnet.engine.run_dir import read_rows
from fscfnet.experiments import main


def test_runner_resumes_after_kill_without_retraining_finished_pairs(make_demo, repo, wait_for, tmp_path, capsys):
    data = make_demo(12, 6)
    args = ["--models", "yolov10n", "fscfnet", "--data", str(data), "--epochs", "2", "--imgsz", "64", "--batch", "4",
            "--workers", "0", "--device", "cpu", "--project", str(tmp_path / "exp"), "--name", "t"]
    root = tmp_path / "exp" / "t"
    first, second = root / "demo" / "yolov10n" / "seed0", root / "demo" / "fscfnet" / "seed0"
    proc = subprocess.Popen([sys.executable, "-m", "fscfnet.experiments", *args], cwd=repo,
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
    assert "demo / yolov10n / seed 0: done, skipped" in out and "demo / fscfnet / seed 0: resuming" in out
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # the finished pair was not touched
    assert [int(r["epoch"]) for r in read_rows(second / "results.csv")] == [1, 2]

    rows = json.loads((root / "results.json").read_text())["runs"]
    assert [(r["data"], r["model"], r["seed"]) for r in rows] == [("demo", "yolov10n", 0), ("demo", "fscfnet", 0)]
    table = (root / "results.md").read_text()
    for r in rows:
        assert r == json.loads((root / r["data"] / r["model"] / "seed0" / "done.json").read_text())
        line = next(ln for ln in table.splitlines() if ln.startswith(f"| {r['model']} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[4] == (f"{r['ap50']:.3f}" if r["ap50"] is not None else "-")  # one seed: the value itself
        assert cells[10] == f"{r['params'] / 1e6:.2f}" and cells[-1] == f"{r['best_epoch']}/2"
        assert r["provenance"]["torch"] == torch.__version__ and r["train_s"] > 0 and r["val_images_per_s"] > 0
        starts = [s["epoch"] for s in r["training_provenance"]]
        assert starts == ([1] if r["model"] == "yolov10n" else [1, 2])  # fscfnet was killed after epoch 1, resumed
    assert (root / "comparison.svg").stat().st_size > 0

    assert main(args) == 0  # everything done: nothing retrained, the same table
    assert (root / "results.md").read_text() == table


def test_runner_refuses_changed_settings_and_unknown_models(make_demo, tmp_path, capsys):
    data = make_demo(4, 2)
    base = ["--data", str(data), "--imgsz", "64", "--batch", "2", "--workers", "0", "--device", "cpu",
            "--project", str(tmp_path / "exp"), "--name", "t"]
    assert main(["--models", "nope", *base, "--epochs", "1"]) == 2
    assert "--models nope: model config not found (pass a YAML path or a shipped name: fscfnet," in capsys.readouterr().err
    (tmp_path / "exp" / "t").mkdir(parents=True)
    (tmp_path / "exp" / "t" / "plan.yaml").write_text("epochs: 5\nimgsz: 64\nbatch: 2\nseeds: [0]\nsettings: {}\n")
    assert main(["--models", "yolov10n", *base, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "plan.yaml: this experiment ran with epochs=5, not 1" in err and err.count("\n") == 1
    assert main(["--models", "yolov10n", *base, "--epochs", "1", "--set", "optimzer=SGD"]) == 2
    assert "did you mean 'optimizer'" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["x", "=1"])
def test_set_needs_key_and_value(tmp_path, capsys, bad):
    assert main(["--models", "yolov10n", "--data", "demo", "--set", bad, "--project", str(tmp_path)]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_rerun_after_a_kill_between_the_last_epoch_and_done_json_finishes_the_grid(make_demo, tmp_path, capsys):
    """Killed during the final validation (last.pt at the final epoch, no done.json), or after an early stop:
    the same command must finish the pair without training it again."""
    data = make_demo(8, 4)
    args = ["--models", "yolov10n", "--data", str(data), "--epochs", "4", "--imgsz", "64", "--batch", "4",
            "--workers", "0", "--device", "cpu", "--project", str(tmp_path / "exp"), "--name", "t",
            "--set", "patience=1"]  # AP stays 0 on this tiny set: stops early after epoch 2
    assert main(args) == 0
    pair = tmp_path / "exp" / "t" / "demo" / "yolov10n" / "seed0"
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


def test_seed_table_and_paired_differences_against_hand_computed_statistics():
    """Three seeds of two models: mean ± sample std per metric and paired differences, computed here by hand."""
    from fscfnet.experiments import format_results, summarize

    def row(model, seed, ap50, ap, fa, last_ap50):
        return {"data": "D", "model": model, "seed": seed, "precision": 0.5, "recall": 0.5, "f1": 0.5, "ap50": ap50,
                "ap50_95": ap, "pd": 0.5, "fa": fa, "last": {"ap50": last_ap50, "ap50_95": ap}, "params": 2e6,
                "gflops": 1.0, "best_epoch": 9, "epochs": 10, "device": "cpu", "train_images_per_s": 10.0}

    rows = [row("base", 0, 0.70, 0.25, 2e-4, 0.69), row("new", 0, 0.74, 0.24, 1e-4, 0.70),
            row("base", 1, 0.72, 0.27, 2e-4, 0.71), row("new", 1, 0.71, 0.26, 3e-4, 0.72),
            row("base", 2, 0.68, 0.26, 2e-4, 0.66), row("new", 2, 0.75, 0.25, 1e-4, 0.70)]
    s = {x["model"]: x for x in summarize(rows, "base")}
    # new AP50: 0.74, 0.71, 0.75 -> mean 0.7333, sample std sqrt(((.0067)^2 + (.0233)^2 + (.0167)^2) / 2) = 0.02082
    assert s["new"]["best"]["ap50"]["mean"] == pytest.approx(0.733333, abs=1e-6)
    assert s["new"]["best"]["ap50"]["std"] == pytest.approx(0.020817, abs=1e-6)
    d = s["new"]["vs_baseline"]["best.ap50"]  # differences 0.04, -0.01, 0.07
    assert (d["mean"], d["favour_model"], d["favour_baseline"]) == (pytest.approx(0.033333, abs=1e-6), 2, 1)
    assert d["std"] == pytest.approx(0.040415, abs=1e-6)
    fa = s["new"]["vs_baseline"]["best.fa"]  # -1e-4, +1e-4, -1e-4: lower is better, so 2 seeds favour new
    assert (fa["favour_model"], fa["favour_baseline"]) == (2, 1)
    assert s["new"]["vs_baseline"]["last.ap50"]["mean"] == pytest.approx((0.01 + 0.01 + 0.04) / 3)
    table = format_results(summarize(rows, "base"), rows, {"epochs": 10, "imgsz": 320, "batch": 16, "seeds": [0, 1, 2], "settings": {}}, "base")
    line = next(ln for ln in table.splitlines() if ln.startswith("| new |") and "±" in ln)
    assert "0.733 ± 0.021" in line and "9/10, 9/10, 9/10" in line
    diff_line = [ln for ln in table.splitlines() if ln.startswith("| new |")][-1]
    assert "0.033 ± 0.040 (2/1)" in diff_line


def test_timings_sum_the_epochs_and_take_the_rate_from_the_median_epoch(tmp_path):
    from fscfnet.engine.run_dir import write_rows
    from fscfnet.experiments import timings
    # epoch 2 was paused (SIGSTOP) for 300 s: the totals keep it, the rate does not
    write_rows(tmp_path / "results.csv", [{"epoch": 1, "train_s": 10.0, "val_s": 2.0},
                                          {"epoch": 2, "train_s": 310.0, "val_s": 4.0},
                                          {"epoch": 3, "train_s": 12.0, "val_s": 3.0}])
    t = timings(tmp_path, train_images=240, val_images=30)
    assert t["train_s"] == pytest.approx(332.0) and t["val_s"] == pytest.approx(9.0)
    assert t["train_images_per_s"] == pytest.approx(240 / 12.0) and t["val_images_per_s"] == pytest.approx(30 / 3.0)


def _done_row(model, seed, ap50, ap50_95):
    metrics = {"precision": 0.8, "recall": 0.7, "f1": 0.75, "ap50": ap50, "ap50_95": ap50_95, "pd": 0.7, "fa": 1e-4}
    return {"data": "demo", "model": model, "seed": seed, **metrics, "last": {"ap50": ap50 - 0.01, "ap50_95": ap50_95,
            "epoch": 3}, "params": 2.0e6, "gflops": 1.5, "epochs": 3, "best_epoch": 3, "imgsz": 64, "device": "cpu",
            "train_images_per_s": 10.0}


def test_report_tabulates_finished_runs_and_names_the_missing(tmp_path, capsys):
    args = ["--models", "yolov10n", "fscfnet", "--data", "demo", "--epochs", "3", "--imgsz", "64", "--seeds", "0", "1",
            "--baseline", "yolov10n", "--project", str(tmp_path), "--name", "t", "--report"]
    root = tmp_path / "t"
    assert main(args) == 2
    assert "--report:" in capsys.readouterr().err and not root.exists()  # nothing to report: no plan, nothing made
    root.mkdir()
    plan = ("epochs: 3\nimgsz: 64\nbatch: 16\nseeds: [0, 1]\nsettings: {}\nmodels: [yolov10n, fscfnet]\n"
            "data: [demo]\n")
    (root / "plan.yaml").write_text(plan)
    assert main(args) == 2
    assert "no run of" in capsys.readouterr().err
    assert main([a for a in args if a != "1"]) == 2  # seed 0 only: not the recorded plan, so it would look final
    assert "ran with seeds=[0, 1], not [0]; pass --report the experiment's own arguments" in capsys.readouterr().err
    rows = {("yolov10n", 0): (0.60, 0.20), ("fscfnet", 0): (0.64, 0.19), ("yolov10n", 1): (0.50, 0.22)}
    for (model, seed), (a, b) in rows.items():
        (root / "demo" / model / f"seed{seed}").mkdir(parents=True)
        (root / "demo" / model / f"seed{seed}" / "done.json").write_text(json.dumps(_done_row(model, seed, a, b)))
    assert main(args) == 0
    table = (root / "results.md").read_text()
    assert "**Interim**: 3 of 4 runs finished; not yet: demo/fscfnet/seed1." in table
    assert "demo/yolov10n: 0, 1; demo/fscfnet: 0" in table
    line = next(ln for ln in table.splitlines() if ln.startswith("| yolov10n |"))
    assert line.split("|")[5].strip() == "0.550 ± 0.071"  # AP50 over seeds 0 and 1: mean 0.55, sample std 0.0707
    paired = [ln for ln in table.splitlines() if ln.startswith("| fscfnet |")][1]
    assert paired.split("|")[2].strip() == "0.040 (1/0)" and paired.split("|")[3].strip() == "-0.010 (0/1)"
    saved = json.loads((root / "results.json").read_text())
    assert saved["missing"] == ["demo/fscfnet/seed1"] and len(saved["runs"]) == 3
    assert (root / "plan.yaml").read_text() == plan  # not rewritten


def test_training_rate_counts_the_images_of_an_epoch_background_share_included(tmp_path):
    """12 target images and 9 background frames: under the default ratio (a quarter) an epoch holds 12 + 4
    images, under none all 21; the table's img/s divides that count, not the index's 12, by the median epoch."""
    import statistics

    import cv2
    import numpy as np

    from fscfnet.data.demo import generate_demo

    generate_demo(tmp_path / "demo", seed=0, n_train=12, n_test=4)
    (tmp_path / "demo" / "background").mkdir()
    for i in range(9):
        cv2.imwrite(str(tmp_path / "demo" / "background" / f"sky{i}.png"), np.full((64, 64), 60 + i, np.uint8))
    data = tmp_path / "demo.yaml"
    data.write_text(f"path: {tmp_path / 'demo'}\ntrain: img_idx/train_demo.txt\ntest: img_idx/test_demo.txt\n"
                    f"names: [target]\n")
    for name, extra, images in (("default", [], 16), ("all", ["--set", "background_ratio=null"], 21)):
        assert main(["--models", "yolov10n", "--data", str(data), "--epochs", "1", "--imgsz", "32", "--batch", "8",
                     "--workers", "0", "--device", "cpu", "--project", str(tmp_path / "exp"), "--name", name,
                     *extra]) == 0
        run = tmp_path / "exp" / name / "demo" / "yolov10n" / "seed0"
        median = statistics.median(float(r["train_s"]) for r in read_rows(run / "results.csv"))
        done = json.loads((run / "done.json").read_text())
        assert done["train_images_per_s"] == pytest.approx(images / median)
