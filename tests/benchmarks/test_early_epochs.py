"""benchmarks/early_epochs.py: seed statistics of AP50 by epoch against hand-written runs; mixed groups refused."""

from __future__ import annotations

import json

import pytest
import yaml

SCRIPT = "early_epochs"


def _run(path, seed, ap50, **settings):
    path.mkdir(parents=True)
    args = {"model": f"/somewhere/{path.parent.name}.yaml", "epochs": 30, "warmup_epochs": 3.0, "seed": seed,
            "project": str(path.parent), "name": path.name, "workers": 2, **settings}
    (path / "args.yaml").write_text(yaml.safe_dump(args))
    (path / "results.csv").write_text("epoch,ap50\n" + "".join(f"{i + 1},{v}\n" for i, v in enumerate(ap50)))
    return str(path)


def test_first_epochs_means_and_differing_settings(script, tmp_path, capsys):
    a = [_run(tmp_path / "a" / f"seed{s}", s, v) for s, v in ((0, [0, 0, 0.05, 0.2]), (1, [0, 0.02, 0.3, 0.4]))]
    b = [_run(tmp_path / "b" / "seed0", 0, [0, 0, 0, 0.15, 0.5], warmup_epochs=0.0)]
    out = tmp_path / "out.json"
    assert script.main(["--group", "A", *a, "--group", "B", *b, "--epochs", "3", "4", "5",
                           "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    ga, gb = r["groups"]["A"], r["groups"]["B"]
    assert ga["first_epoch_ap50_above_0"] == [3, 2] and ga["first_epoch_ap50_above_0.1"] == [4, 3]
    assert ga["epochs_common"] == 4 and "5" not in ga["ap50_at"]
    assert ga["ap50_at"]["3"]["mean"] == pytest.approx(0.175)
    assert ga["ap50_at"]["3"]["std"] == pytest.approx(0.17677669529663687)  # sample std of 0.05 and 0.3
    assert gb["first_epoch_ap50_above_0"] == [4] and gb["ap50_at"]["5"]["mean"] == pytest.approx(0.5)
    # the model differs only by folder, so only warmup_epochs (and the model's file name) tell the groups apart
    assert r["differing_settings"] == {"model": {"A": "a.yaml", "B": "b.yaml"},
                                       "warmup_epochs": {"A": 3.0, "B": 0.0}}
    assert "| A | 0, 1 | 3, 2 | 4, 3 |" in capsys.readouterr().out


def test_a_group_mixing_settings_is_refused(script, tmp_path, capsys):
    runs = [_run(tmp_path / "a" / "seed0", 0, [0.1]), _run(tmp_path / "a" / "seed1", 1, [0.1], warmup_epochs=0.0)]
    assert script.main(["--group", "A", *runs, "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "--group A" in err and "warmup_epochs" in err and "seed1" in err
    assert not (tmp_path / "o.json").exists()
    runs = [_run(tmp_path / "b" / "seed0", 0, [0.1]), _run(tmp_path / "b" / "again", 0, [0.2])]
    assert script.main(["--group", "B", *runs, "--out", str(tmp_path / "o.json")]) == 2
    assert "--group B: a seed appears twice" in capsys.readouterr().err


def test_an_epoch_without_ap50_is_refused_not_read_as_zero(script, tmp_path, capsys):
    run = _run(tmp_path / "a" / "seed0", 0, [0.1, 0.2])
    (tmp_path / "a" / "seed0" / "results.csv").write_text("epoch,ap50\n1,0.1\n2,\n3,0.3\n")
    assert script.main(["--group", "A", run, "--out", str(tmp_path / "o.json")]) == 2
    assert "results.csv: epoch 2 has no AP50" in capsys.readouterr().err
