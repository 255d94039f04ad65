"""YAML graph builder and registry: extensibility, scaling rules and errors that name the file and row."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

from fscfnet import build_model
from fscfnet.cfg import MODELS_DIR
from fscfnet.nn import ModelConfigError, get_block, register, registered_names
from fscfnet.nn.registry import _REGISTRY, summed_channels

BASE = yaml.safe_load((MODELS_DIR / "yolov10n.yaml").read_text())


def _write(tmp_path, cfg: dict, name: str = "model.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _tiny(**over) -> dict:
    cfg = {"nc": 1, "backbone": [[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "Conv", [32, 3, 2]]],
           "head": [[[0, 1], 1, "V10Detect", ["nc"]]]}
    cfg.update(over)
    return cfg


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        register("Conv")(type("Other", (nn.Module,), {}))


def test_custom_block_registers_and_builds_without_builder_changes():
    @register("TestDoubleWidth")
    class DoubleWidth(nn.Module):
        def __init__(self, c1: int, c2: int):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, 1)

        def forward(self, x):
            return self.conv(x)

    try:
        cfg = _tiny(backbone=[[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "TestDoubleWidth", [24]],
                              [-1, 1, "Conv", [32, 3, 2]]])
        cfg["head"] = [[[1, 2], 1, "V10Detect", ["nc"]]]
        model = build_model(cfg)
        assert model.layers[1].conv.out_channels == 24
        assert model.stride.tolist() == [2.0, 4.0]
    finally:
        del _REGISTRY["TestDoubleWidth"]


def test_width_depth_scaling_rounds_to_multiples_of_8():
    cfg = _tiny(scales={"s": [0.33, 0.3, 64]}, backbone=[[-1, 1, "Conv", [40, 3, 2]], [-1, 3, "C2f", [100]],
                                                        [-1, 1, "Conv", [32, 3, 2]]])
    cfg["head"] = [[[1, 2], 1, "V10Detect", ["nc"]]]
    model = build_model(cfg)
    assert model.specs[0].out_channels == 16  # 40 * 0.3 = 12 -> 16
    assert model.specs[1].out_channels == 24  # min(100, 64) * 0.3 = 19.2 -> 24
    assert model.specs[1].repeats == 1 and model.specs[1].args[2] == 1  # round(3 * 0.33) = 1, passed inside
    assert model.specs[2].out_channels == 16


def test_concat_rule_and_ch_override():
    assert get_block("Concat").channels is summed_channels
    model = build_model(MODELS_DIR / "yolov10n.yaml", ch=1)
    assert model.layers[0].conv.in_channels == 1 and model.yaml["ch"] == 1
    assert model.specs[12].out_channels == 256 + 128  # cat(upsampled P5, P4)
    assert model.nc == 1


def test_unknown_module_suggests_name_and_names_file_and_row(tmp_path):
    cfg = {**BASE, "head": [list(r) for r in BASE["head"]]}
    cfg["head"][2] = [-1, 3, "C2F", [512]]
    path = _write(tmp_path, cfg)
    with pytest.raises(ModelConfigError) as e:
        build_model(path)
    msg = str(e.value)
    assert str(path) in msg and "head row 2 (layer 13)" in msg and "did you mean 'C2f'?" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("row,expect", [
    ([5, 1, "Conv", [16, 3, 2]], "'from' index 5 does not name an earlier layer"),
    ([-3, 1, "Conv", [16, 3, 2]], "'from' index -3"),
    ([-1, 1, "Conv", [16, 3, 2, None, 1, 1, True, "extra"]], "Conv does not take args"),
    ([-1, 1, "SPPF", []], "first arg must be the output channel count"),
    ([-1, 0, "Conv", [16]], "repeats must be a positive integer"),
    ([-1, 1, "Conv"], "a row is [from, repeats, module, args]"),
    ([[-1, "x"], 1, "Concat", [1]], "'from' must be an int or a list of ints"),
])
def test_bad_rows_name_file_and_row(tmp_path, row, expect):
    cfg = _tiny()
    cfg["backbone"] = [cfg["backbone"][0], row, *cfg["backbone"][1:]]
    cfg["head"] = [[[0, 2], 1, "V10Detect", ["nc"]]]
    path = _write(tmp_path, cfg)
    with pytest.raises(ModelConfigError) as e:
        build_model(path)
    assert str(path) in str(e.value) and "backbone row 1 (layer 1)" in str(e.value)
    assert expect in str(e.value)


def test_unknown_top_level_key_and_scale(tmp_path):
    with pytest.raises(ModelConfigError, match=r"unknown key 'scals'; did you mean 'scales'\?"):
        build_model(_write(tmp_path, {**BASE, "scals": BASE["scales"]}))
    with pytest.raises(ModelConfigError, match=r"unknown scale 'x'"):
        build_model(MODELS_DIR / "yolov10n.yaml", scale="x")
    two = {k: v for k, v in BASE.items() if k != "scale"}
    two["scales"] = {"n": [0.33, 0.25, 1024], "s": [0.33, 0.5, 1024]}
    with pytest.raises(ModelConfigError, match="several scales"):
        build_model(two)
    assert build_model(two, scale="s").specs[0].out_channels == 32


def test_head_must_be_last_and_missing_file():
    cfg = _tiny()
    cfg["head"].append([-1, 1, "Conv", [16]])
    with pytest.raises(ModelConfigError, match="head must be the last layer"):
        build_model(cfg)
    with pytest.raises(ModelConfigError, match="model config not found"):
        build_model(MODELS_DIR / "nope.yaml")


def test_registry_lists_every_block_the_configs_use():
    used = {row[2] for p in (MODELS_DIR).glob("*.yaml")
            for section in ("backbone", "head") for row in yaml.safe_load(p.read_text())[section]}
    assert used <= set(registered_names())
    assert {"FSConv", "ConvACA", "MRCB", "RFBlock", "CIB", "C2fCIB", "PSA", "SCDown", "SPPF"} <= set(registered_names())


def test_builds_from_dict_and_is_deterministic_with_seed():
    torch.manual_seed(1)
    a = build_model(BASE)
    torch.manual_seed(1)
    b = build_model(BASE)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and len(sa) > 100  # the same tensors, by name and order
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
