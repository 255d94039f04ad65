"""val --track on a video dataset prepared here: the tracking entry of metrics.json, its raw-detection numbers
equal to validation's own operating point, and a one-line error for a dataset without ground-truth track IDs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import val
from fscfnet.data.prepare import main as prepare_main

pytest.importorskip("trackeval", reason="pip install --no-deps -r requirements-nodeps.txt")
H, W, N = 96, 128, 20


def _frame(k: int) -> np.ndarray:
    img = np.full((H, W), 25, np.uint8)
    img[40:45, 10 + 4 * k:15 + 4 * k] = 250
    return img


@pytest.fixture(scope="module")
def video_data(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for name in ("train1", "test1", "test2"):
        (src / "videos" / name).mkdir(parents=True)
        for k in range(1, N + 1):
            cv2.imwrite(str(src / "videos" / name / f"{k:04d}.png"), _frame(k))
    (src / "gt").mkdir()
    for name in ("train1", "test1", "test2"):
        (src / "gt" / f"{name}.txt").write_text("".join(f"{k},1,{11 + 4 * k},41,5,5,1,1,1\n" for k in range(1, N + 1)))
    (src / "train.txt").write_text("train1\n")
    (src / "test.txt").write_text("test1\ntest2\n")
    dst = tmp_path_factory.mktemp("data") / "vid"
    assert prepare_main([str(src), "--dst", str(dst), "--names", "target"]) == 0
    return dst


def test_val_track_reports_tracking_metrics(video_data, make_checkpoint, tmp_path, capsys):
    data = video_data / "data.yaml"
    weights = make_checkpoint(tmp_path / "w.pt", data=data, imgsz=96, bias=0.0)
    assert val.main(["--weights", str(weights), "--workers", "0", "--project", str(tmp_path), "--name", "v",
                     "--track", "--confirm", "2", "3", "--conf-low", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "tracking (2 sequences, 40 frames" in out and "delay to a confirmed track" in out
    m = json.loads((tmp_path / "v" / "metrics.json").read_text())
    t = m["tracking"]
    assert t["tracker"]["confirm_hits"] == 2 and t["tracker"]["high"] == 0.25 and t["sequences"] == 2
    for kind in ("iou", "centre"):
        assert {"HOTA", "MOTA", "IDF1", "IDSW"} <= set(t[kind])
        assert t[kind]["CLR_TP"] + t[kind]["CLR_FN"] == 40 and t["frames"] == 40  # every target of every frame
    raw = t["raw_at_high"]  # the same detections, the same rule: validation's own point at --conf
    assert m["at_conf"]["false_alarms"] > 0  # the untrained model fires: the comparison is not of zeros
    assert (raw["pd"], raw["false_alarms"], raw["false_alarms_per_frame"]) == (
        m["at_conf"]["pd"], m["at_conf"]["false_alarms"], m["at_conf"]["false_alarms_per_image"])
    assert t["delay_frames"]["targets"] == 2  # one target per test sequence
    assert t["tracks"]["false_alarms_per_frame"] <= t["raw_at_low"]["false_alarms_per_frame"]


def test_val_track_without_ground_truth_ids_is_a_one_line_error(video_data, make_checkpoint, tmp_path, capsys):
    import shutil

    copy = tmp_path / "vid"
    shutil.copytree(video_data, copy)
    shutil.rmtree(copy / "gt")
    data = copy / "data.yaml"
    data.write_text(data.read_text().replace(str(video_data), str(copy)))
    weights = make_checkpoint(tmp_path / "w.pt", data=data, imgsz=96, bias=0.0)
    assert val.main(["--weights", str(weights), "--workers", "0", "--project", str(tmp_path), "--track"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "gt/test1.txt not found" in err[-1] and "prepare" in err[-1]
    assert err[-1].startswith("error: val --track:") and sum(line.startswith("error:") for line in err) == 1


def test_perfect_detections_give_the_tracking_numbers_worked_out_by_hand(video_data):
    """The ground truth itself as the detections, confirmation after 2 of 3 frames: each of the two 20-frame test
    sequences loses only its first frame (the track is reported from the second), so MOTA = 1 - 2/40, no ID switch,
    IDF1 = 2*38 / (2*38 + 2) and a delay of one frame for both targets; the raw detections find everything."""
    from pathlib import Path

    from fscfnet.cfg.data import load_data_config
    from fscfnet.data.dataset import IRSTDDataset, original_targets
    from fscfnet.track import TrackerConfig
    from fscfnet.track.evaluate import track_validation

    cfg = load_data_config(str(video_data / "data.yaml"))
    ds = IRSTDDataset(cfg, "test", 96, log=lambda s: None)
    targets = original_targets(ds)
    perfect = [np.column_stack([t[:, 1:5], np.ones(len(t)), t[:, 0]]) for t in targets]
    r = track_validation(perfect, targets, [tuple(s) for s in ds.shapes], [Path(p).stem for p in ds.paths],
                         cfg.root, TrackerConfig(confirm_hits=2, confirm_window=3))
    for kind in ("iou", "centre"):
        assert r[kind]["MOTA"] == pytest.approx(1 - 2 / 40) and r[kind]["IDSW"] == 0
        assert r[kind]["IDF1"] == pytest.approx(76 / 78)
    assert r["raw_at_high"]["pd"] == 1.0 and r["raw_at_high"]["false_alarms"] == 0
    assert r["tracks"]["pd"] == pytest.approx(38 / 40) and r["tracks"]["false_alarms"] == 0
    assert r["delay_frames"] == {"targets": 2, "confirmed": 2, "median": 1.0, "p90": 1.0}
