"""Frames of any bit depth: 8-bit, 16-bit (12/14-bit in 16-bit containers) PNG/TIFF and float TIFF read without
loss; each input normalisation policy by its formula; a frame and its 14-bit twin give the same detections under
percentile; a dim frame under 8bit is reported once, naming the frame and what to use."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fscfnet.cfg import InputNorm
from fscfnet.data.images import ImageReader, decode
from fscfnet.engine.backends import load_inference_model
from fscfnet.engine.predictor import Predictor
from fscfnet.errors import UserError


@pytest.fixture
def frame8() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = (rng.random((60, 80)) * 120 + 20).astype(np.uint8)
    img[20:25, 30:35] = 250
    return img


def test_deep_and_float_frames_are_read_as_stored(tmp_path, frame8):
    deep = frame8.astype(np.uint16) * 64 + 37  # a 14-bit frame in a 16-bit container
    cv2.imwrite(str(tmp_path / "a.png"), deep)
    cv2.imwrite(str(tmp_path / "a.tif"), deep)
    flt = frame8.astype(np.float32) / 255
    cv2.imwrite(str(tmp_path / "f.tif"), flt)
    for name, want in (("a.png", deep), ("a.tif", deep), ("f.tif", flt)):
        got = decode(tmp_path / name)
        assert got is not None and got.dtype == want.dtype and np.array_equal(got, want), name


@pytest.mark.parametrize("spec,expect", [
    ("8bit", lambda x: np.clip(np.rint(x * 255 / 65535), 0, 255)),
    ("range 37 16357", lambda x: np.clip(np.rint((x - 37) * 255 / 16320), 0, 255)),
    ("percentile 0 100", lambda x: np.clip(np.rint((x - x.min()) * 255 / (x.max() - x.min())), 0, 255)),
    ("percentile 1 95", lambda x: np.clip(np.rint((x - np.percentile(x, 1)) * 255
                                                  / (np.percentile(x, 95) - np.percentile(x, 1))), 0, 255)),
    ("range 2000 10000", lambda x: np.clip(np.rint((x - 2000) * 255 / 8000), 0, 255)),  # clips at both ends
])
def test_each_policy_by_its_formula(frame8, spec, expect):
    deep = frame8.astype(np.uint16) * 64 + 37
    got = ImageReader(1, InputNorm.parse(spec))(deep)[..., 0]
    assert got.dtype == np.uint8 and np.array_equal(got, expect(deep.astype(np.float64)).astype(np.uint8))
    if spec == "range 37 16357":  # the sensor's range maps the 14-bit twin back onto the 8-bit frame
        assert np.array_equal(got, frame8)
    if spec.startswith("percentile"):  # per-frame percentiles: the twin as the 8-bit frame itself
        assert np.array_equal(got, ImageReader(1, InputNorm.parse(spec))(frame8)[..., 0])


def test_float_frames_and_8bit_frames_under_8bit(frame8):
    assert np.array_equal(ImageReader(1)(frame8)[..., 0], frame8)
    flt = frame8.astype(np.float32) / 255
    assert np.array_equal(ImageReader(1)(flt)[..., 0], frame8)  # float frames: 0..1


def test_a_dim_frame_is_reported_once_with_the_policy_to_use(frame8):
    said = []
    reader = ImageReader(1, InputNorm(), said.append)
    deep = frame8.astype(np.uint16) * 64 + 37  # max 16037 < 65535 / 4
    reader(deep, "first.png")
    reader(deep, "second.png")
    assert len(said) == 1 and reader.dim_frames == 2
    assert "first.png" in said[0] and "8bit" in said[0] and 'range 0 16383' in said[0] and "percentile" in said[0]
    quiet = []
    ImageReader(1, InputNorm.parse("range 0 16383"), quiet.append)(deep)
    ImageReader(1, InputNorm.parse("percentile 0.5 99.5"), quiet.append)(deep)
    ImageReader(1, InputNorm(), quiet.append)(frame8)
    assert quiet == []


def test_bad_policies_are_one_line_errors():
    for spec in ("10bit", "range 5", "range 9 3", "range 5 5", "percentile 2 120", "percentile 50 50",
                 "percentile a b"):
        with pytest.raises(UserError, match="use 8bit, range LO HI"):
            InputNorm.parse(spec)
    assert str(InputNorm.parse("range, 0, 16383")) == "range 0 16383" and str(InputNorm.parse(None)) == "8bit"


def test_a_frame_and_its_14_bit_twin_give_the_same_detections_under_percentile(make_checkpoint, tmp_path, frame8):
    """A model recorded with input_norm "percentile 0 100" sees a frame and its x64 + offset 16-bit twin alike (the
    percentiles move with the values), so its detections are the same; under 8bit the twin looks dark."""
    path = make_checkpoint(tmp_path / "m.pt", bias=-2.0)
    ckpt = torch.load(path, weights_only=True)
    ckpt["train_args"]["input_norm"] = "percentile 0 100"
    torch.save(ckpt, path)
    model = load_inference_model(path)
    assert str(model.norm) == "percentile 0 100"
    frame = np.repeat(cv2.resize(frame8, (320, 240), interpolation=cv2.INTER_NEAREST)[..., None], 3, 2)
    cv2.imwrite(str(tmp_path / "a.png"), frame)
    cv2.imwrite(str(tmp_path / "b.png"), frame.astype(np.uint16) * 64 + 37)
    a, b = Predictor(model, conf=0.01)([str(tmp_path / "a.png"), str(tmp_path / "b.png")])
    assert len(a) > 3 and np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)
    said = []
    c, d = Predictor(model, conf=0.01, norm=InputNorm(), warn=said.append)(
        [str(tmp_path / "a.png"), str(tmp_path / "b.png")])
    assert len(said) == 1 and "b.png" in said[0]
    same = len(c) == len(d) and np.array_equal(c.boxes, d.boxes) and np.array_equal(c.scores, d.scores)
    assert len(c) > 3 and not same  # under 8bit the twin is another picture to the model
