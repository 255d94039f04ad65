"""Shipped checkpoints: half-precision storage exact to the rounding, loading by name everywhere
weights are taken, the card's identity and confidence, and each checkpoint actually shipped finding a target."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import detect
from fscfnet import FSCFNet
from fscfnet import weights as shipped
from fscfnet.cfg.paths import model_names
from fscfnet.commands import detect as detect_command
from fscfnet.engine.backends import load_inference_model
from fscfnet.engine.checkpoint import load_checkpoint, save_shipped
from fscfnet.errors import UserError
from fscfnet.commands.ship import main as pack_main


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """An empty shipped-weights folder in place of the package's."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", folder)
    return folder


@pytest.mark.parametrize("cfg", ["fscfnet", "yolov10n"])
def test_half_precision_storage_keeps_each_weight_at_its_nearest_half_value_and_restores_float32(make_checkpoint,
                                                                                                 tmp_path, cfg):
    """Exact: the stored tensors are the originals rounded to half precision, nothing else changed. What that
    rounding does to a trained model's detections is measured by benchmarks/half_precision.py (an untrained
    network is too ill-conditioned to say: any small relative change of its weights moves its scores visibly)."""
    src = make_checkpoint(tmp_path / "full.pt", cfg=cfg, bias=-1.0)
    ckpt = torch.load(src, weights_only=True)
    wide = next(k for k in ckpt["state_dict"] if k.endswith("running_var"))
    ckpt["state_dict"][wide][0] = 1e6  # beyond half precision's range (65504)
    torch.save(ckpt, src)
    dst = save_shipped(src, tmp_path / "half.pt", {"name": "half", "conf": 0.3})
    stored = torch.load(dst, weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float16 for k, v in stored.items() if v.is_floating_point() and k != wide)
    assert stored[wide].dtype == torch.float32  # kept whole rather than made infinite
    assert dst.stat().st_size < 0.6 * src.stat().st_size
    loaded, original = load_checkpoint(dst)["state_dict"], load_checkpoint(src)["state_dict"]
    assert loaded.keys() == original.keys()
    unit = 2.0 ** -11  # half precision's relative rounding bound; 2**-25 is half its smallest subnormal step
    for k, v in original.items():  # restored to float32 on load, each value its nearest half-precision one
        expected = v.half().float() if v.is_floating_point() and k != wide else v
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], expected), k
        if v.is_floating_point():
            assert loaded[k].isfinite().all() and ((loaded[k] - v).abs() <= unit * v.abs() + 2.0 ** -25).all(), k


def test_a_shipped_name_loads_wherever_weights_are_taken(make_checkpoint, tmp_path, weights_dir, monkeypatch, capsys):
    src = make_checkpoint(tmp_path / "full.pt", bias=-1.0, weight_scale=4.0)
    assert pack_main([str(src), "--name", "test-ship", "--conf", "0.6", "--about", "a test model",
                      "--out-dir", str(weights_dir)]) == 0
    assert shipped.shipped_names() == ["test-ship"]
    assert pack_main([str(src), "--name", "fscfnet", "--conf", "0.6", "--about", "x", "--out-dir", str(weights_dir)]) == 2
    assert "--name fscfnet: that is a model config's name" in capsys.readouterr().err
    assert shipped.shipped_names() == ["test-ship"] and "fscfnet" in model_names()
    model = FSCFNet("test-ship")
    assert model.weights == weights_dir / "test-ship.pt"
    assert model.model.conf == 0.6 and model.model.card["about"] == "a test model"
    assert "test-ship (shipped with fscfnet: target, trained on demo" in model.model.identity()
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.random.default_rng(0).integers(0, 255, (96, 128), dtype=np.uint8))
    monkeypatch.setattr(detect_command, "DEFAULT", "test-ship")  # detect without --weights: the default one
    assert detect.main(["--source", str(frame), "--project", str(tmp_path / "d"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "model: test-ship (shipped with fscfnet" in out and "conf 0.6" in out  # the card's confidence
    assert detect.main(["--weights", "test-ship", "--source", str(frame), "--conf", "0.2", "--project",
                        str(tmp_path / "d"), "--device", "cpu"]) == 0
    assert "conf 0.2" in capsys.readouterr().out  # a given --conf wins
    with pytest.raises(UserError, match=r"no-such: weights file not found \(nor a shipped checkpoint: test-ship\)"):
        load_inference_model("no-such")


def test_packing_refuses_a_file_over_the_size_limit(make_checkpoint, tmp_path, weights_dir, monkeypatch, capsys):
    src = make_checkpoint(tmp_path / "full.pt")
    monkeypatch.setattr(shipped, "MAX_BYTES", 1000)
    assert pack_main([str(src), "--name", "big", "--conf", "0.3", "--about", "x", "--out-dir", str(weights_dir)]) == 2
    assert "over the 0 MB a shipped checkpoint may weigh" in capsys.readouterr().err
    assert list(weights_dir.iterdir()) == []  # nothing written, no temporary left


@pytest.mark.parametrize("name", shipped.shipped_names() or [pytest.param("none", marks=pytest.mark.skip(
    reason="no checkpoint is shipped in fscfnet/weights yet"))])
def test_each_shipped_checkpoint_is_small_and_finds_a_synthetic_target_where_it_is(name):
    path = shipped.shipped_path(name)
    assert path.stat().st_size <= shipped.MAX_BYTES
    model = FSCFNet(name, device="cpu")
    card = model.model.card
    assert card["name"] == name and 0 < card["conf"] < 1 and card["commit"]
    rng = np.random.default_rng(0)  # a smooth sky with a 5x5 hot Gaussian target at (201, 117)
    sky = cv2.GaussianBlur(rng.normal(90, 6, (256, 320)), (0, 0), 8) + rng.normal(0, 1.5, (256, 320))
    yy, xx = np.mgrid[:256, :320]
    sky += 70 * np.exp(-((xx - 201) ** 2 + (yy - 117) ** 2) / (2 * 1.5 ** 2))
    frame = np.clip(sky, 0, 255).astype(np.uint8)
    result = model.predict(np.dstack([frame] * 3))[0]
    # one box on an otherwise smooth sky, small, centred on the target within the centroid rule's 3 px
    assert len(result.boxes) == 1, f"{name} at conf {model.model.conf}: {result.boxes}, {result.scores}"
    x1, y1, x2, y2 = result.boxes[0]
    assert x2 - x1 <= 24 and y2 - y1 <= 24, result.boxes
    assert abs((x1 + x2) / 2 - 201) <= 3 and abs((y1 + y2) / 2 - 117) <= 3, result.boxes
