"""benchmarks/one_class_view.py: a several-class split seen as one class, boxes and frame attributes kept."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fscfnet.data.catalog import open_dataset
from fscfnet.data.dataset import IRSTDDataset
from fscfnet.errors import UserError

SCRIPT = "one_class_view"


def _three_class_set(root):
    """5 test frames: frame k has one box of class k % 3, except frame 3, which is target-free (no label file)."""
    for sub in ("images", "labels", "img_idx"):
        (root / sub).mkdir(parents=True)
    stems = [f"f{k}" for k in range(5)]
    for k, s in enumerate(stems):
        cv2.imwrite(str(root / "images" / f"{s}.png"), np.full((32, 40), 10 * k, np.uint8))
        if k != 3:
            (root / "labels" / f"{s}.txt").write_text(f"{k % 3} 0.{k + 1}00000 0.500000 0.100000 0.200000\n")
    (root / "img_idx" / "test.txt").write_text("\n".join(stems) + "\n")
    (root / "frames.csv").write_text("image,sequence\n" + "".join(f"{s},seq{k // 3}\n" for k, s in enumerate(stems)))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: img_idx/test.txt\ntest: img_idx/test.txt\n"
                                    f"names: [a, b, c]\n")
    return root / "data.yaml"


def test_every_class_becomes_target_with_its_box_and_frames_kept(script, tmp_path):
    data = _three_class_set(tmp_path / "three")
    out = tmp_path / "view"
    assert script.one_class_view(str(data), "test", 2, out) == 3  # f0, f2, f4
    assert (out / "img_idx" / "test.txt").read_text().split() == ["f0", "f2", "f4"]
    cfg = open_dataset(out / "data.yaml")
    assert cfg.names == ["target"]
    ds = IRSTDDataset(cfg, "test", 64)
    assert [Path(p).stem for p in ds.paths] == ["f0", "f2", "f4"]
    # classes 0, 2, 1 of the original all read as 0, boxes unchanged
    np.testing.assert_allclose(np.concatenate(ds.labels), [[0, 0.1, 0.5, 0.1, 0.2], [0, 0.3, 0.5, 0.1, 0.2],
                                                           [0, 0.5, 0.5, 0.1, 0.2]], atol=1e-6)
    assert (out / "frames.csv").read_text() == (tmp_path / "three" / "frames.csv").read_text()
    with pytest.raises(UserError, match="view: already exists"):
        script.one_class_view(str(data), "test", 1, out)


def test_a_target_free_frame_stays_target_free(script, tmp_path):
    data = _three_class_set(tmp_path / "three")
    script.one_class_view(str(data), "test", 1, tmp_path / "all")
    ds = IRSTDDataset(open_dataset(tmp_path / "all" / "data.yaml"), "test", 64)
    assert [len(lab) for lab in ds.labels] == [1, 1, 1, 0, 1]


def test_a_crop_sets_records_come_along_and_a_stride_over_them_is_refused(script, tmp_path):
    data = _three_class_set(tmp_path / "three")
    (tmp_path / "three" / "crops.json").write_text('{"items": []}')
    with pytest.raises(UserError, match="crops.json: a crop set's records list every crop; use --every 1"):
        script.one_class_view(str(data), "test", 2, tmp_path / "strided")
    script.one_class_view(str(data), "test", 1, tmp_path / "all")
    assert (tmp_path / "all" / "crops.json").read_text() == '{"items": []}'


def test_a_failed_view_leaves_nothing_and_bad_input_is_one_line(script, tmp_path, capsys):
    data = _three_class_set(tmp_path / "three")
    (tmp_path / "three" / "labels" / "f4.txt").write_text("0 0.5 0.5 0.1\n")  # found after f0..f3 were written
    assert script.main(["--data", str(data), "--out", str(tmp_path / "view")]) == 2
    assert capsys.readouterr().err.strip().endswith("f4.txt:1: expected 5 values 'class cx cy w h', got 4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["three"]  # no view, no half-built folder beside it
