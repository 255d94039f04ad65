"""The package: console command, configs shipped and resolved by name, the datasets root setting, and the
dependency lists (pyproject.toml and requirements.txt) in step. The wheel itself is built, installed and run
from an empty directory by .ci/run."""

from __future__ import annotations

import re

import pytest
import tomllib

from fscfnet import build_model
from fscfnet.cfg import MODELS_DIR, dataset_names, model_names, resolve_model
from fscfnet.cfg.data import load_data_config
from fscfnet.commands import SUBCOMMANDS, main
from fscfnet.errors import UserError


def test_console_command_dispatches_and_suggests_on_typos(capsys):
    assert set(SUBCOMMANDS) == {"train", "val", "detect", "track", "export", "ship", "bench", "experiments", "prepare"}
    assert main(["trian"]) == 2
    assert "unknown subcommand 'trian'; did you mean 'train'?" in capsys.readouterr().err
    assert main(["--help"]) == 0 and "experiments" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # each subcommand's own --help
        main(["export", "--help"])
    assert e.value.code == 0 and "--format" in capsys.readouterr().out


def test_shipped_configs_resolve_by_name_and_a_wrong_name_lists_them():
    assert {"fscfnet", "yolov10n", "fscfnet-aca", "fscfnet-mrcb", "fscfnet-fsconv"} <= set(model_names())
    assert {"demo", "NUAA-SIRST", "NUDT-SIRST", "IRSTD-1K", "Drone-IR"} <= set(dataset_names())
    assert resolve_model("fscfnet") == MODELS_DIR / "fscfnet.yaml"
    by_name, by_path = build_model("yolov10n", nc=1), build_model(MODELS_DIR / "yolov10n.yaml", nc=1)
    assert by_name.state_dict().keys() == by_path.state_dict().keys()
    with pytest.raises(UserError, match="shipped name: .*fscfnet.*yolov10n"):
        resolve_model("yolov11n")


def test_datasets_root_is_the_environment_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("FSCFNET_DATASETS", str(tmp_path / "data"))
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "data" / "NUAA-SIRST"))):
        load_data_config("NUAA-SIRST")


def test_pyproject_dependencies_equal_requirements_txt(repo):
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = [ln.split("#")[0].strip() for ln in (repo / "requirements.txt").read_text().splitlines()]
    assert sorted(deps) == sorted(ln for ln in lines if ln)
