"""val.py, python -m fscfnet.metrics, and checkpoints: determinism, reproduction, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
import yaml

import val
from fscfnet import build_model
from fscfnet.cfg import MODELS_DIR
from fscfnet.engine.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from fscfnet.metrics import DEFINITIONS, PDFA_THRESHOLDS
from fscfnet.metrics.__main__ import main as metrics_main


@pytest.fixture(scope="module")
def demo_yaml(make_demo, tmp_path_factory):
    return make_demo(4, 6)


@pytest.fixture(scope="module")
def checkpoint(make_checkpoint, tmp_path_factory, demo_yaml):
    return make_checkpoint(tmp_path_factory.mktemp("w") / "model.pt", data=demo_yaml)


def _val(tmp_path, weights, *extra):
    return val.main(["--weights", str(weights), "--project", str(tmp_path), "--name", "v", "--workers", "0",
                     "--save-json", "--device", "cpu", *extra])


def test_checkpoint_is_plain_data_and_round_trips(checkpoint, tmp_path):
    raw = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert {"format", "version", "model_yaml", "names", "state_dict", "train_args", "epoch", "best_fitness",
            "metrics"} <= set(raw)
    assert raw["epoch"] == 3 and raw["names"] == ["target"] and isinstance(raw["model_yaml"], dict)
    # round trip against the model that was saved (not one rebuilt from the file): every tensor of the original,
    # randomised (BatchNorm statistics included) so a default-initialised or lossy load cannot match it
    cfg = MODELS_DIR / "fscfnet.yaml"
    original = build_model(cfg, nc=2)
    with torch.no_grad():
        for t in original.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if t.dim() == 1 else torch.randn_like(t) * t.std().clamp(min=0.05))
    original.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = original(x)
    path = save_checkpoint(tmp_path / "rt.pt", original, ["a", "b"], epoch=7)
    loaded = model_from_checkpoint(load_checkpoint(path)).eval()
    assert yaml.safe_load(cfg.read_text())["backbone"] == loaded.yaml["backbone"] and loaded.head.nc == 2
    sd, ref_sd = loaded.state_dict(), original.state_dict()
    assert list(sd) == list(ref_sd)
    for k in ref_sd:
        assert sd[k].dtype == ref_sd[k].dtype and torch.equal(sd[k], ref_sd[k]), k
    with torch.no_grad():
        got = loaded(x)
    assert (expected[..., 4] > 0.01).sum() > 10  # real detections to compare
    assert torch.equal(got, expected)


def test_val_is_deterministic_and_metrics_cli_reproduces_it(tmp_path, checkpoint, demo_yaml, capsys):
    assert _val(tmp_path, checkpoint) == 0
    assert _val(tmp_path, checkpoint) == 0
    out = capsys.readouterr().out
    assert "AP50:95" in out and "P, R, F1, Pd, Fa at the F1-maximising confidence" in out
    first, second = json.loads((tmp_path / "v" / "metrics.json").read_text()), json.loads(
        (tmp_path / "v2" / "metrics.json").read_text())
    keys = {"precision", "recall", "f1", "ap50", "ap50_95", "pd", "fa", "pd_c", "fa_c", "conf_threshold", "images",
            "targets", "ms_per_image", "mode", "input_norm", "at_conf", "per_class", "confusion_matrix"}
    assert set(first) == keys and first["at_conf"]["conf"] == 0.25  # the default --conf
    (row,) = first["per_class"]  # one class: its row is the whole split's
    assert row["name"] == "target" and all(row[k] == first[k] for k in ("ap50", "ap50_95", "precision", "recall"))
    assert first["mode"]["mode"] == "letterbox" and first["mode"]["imgsz"] == 96  # the training size's letterbox
    first.pop("ms_per_image"), second.pop("ms_per_image")
    assert first == second and first["targets"] > 0 and first["fa"] > 0
    preds = (tmp_path / "v" / "predictions.json").read_text()
    assert preds == (tmp_path / "v2" / "predictions.json").read_text() and len(json.loads(preds)) > 0
    assert min(p["score"] for p in json.loads(preds)) >= 0.001
    for name in ("PR_curve.png", "F1_curve.png", "PdFa_curve.png", "PdFa_curve.json"):
        assert (tmp_path / "v" / name).is_file(), name
    # --conf moves only the extra operating point: AP and the F1-maximising point use every detection >= 0.001
    assert _val(tmp_path, checkpoint, "--conf", "0.5") == 0
    third = json.loads((tmp_path / "v3" / "metrics.json").read_text())
    third.pop("ms_per_image")
    assert third.pop("confusion_matrix") != first["confusion_matrix"]  # counted at --conf: fewer false alarms
    assert third.pop("at_conf")["conf"] == 0.5
    assert {k: v for k, v in first.items() if k not in ("at_conf", "confusion_matrix")} == third
    assert metrics_main(["--data", str(demo_yaml), "--pred", str(tmp_path / "v" / "predictions.json"),
                         "--out", str(tmp_path / "m.json")]) == 0
    again = json.loads((tmp_path / "m.json").read_text())
    assert {"command", "commit", "torch"} <= set(again.pop("provenance"))  # the file says how it was made
    assert again.pop("ms_per_image") is None and again == {k: v for k, v in first.items()
                                                            if k not in ("mode", "input_norm")}


def test_metrics_cli_scores_exact_boxes_perfectly(tmp_path, demo_yaml):
    root = demo_yaml.parent / "demo"
    preds = []
    for stem in (root / "img_idx" / "test_demo.txt").read_text().split():
        for _, cx, cy, w, h in np.loadtxt(root / "labels" / f"{stem}.txt", ndmin=2):
            preds.append({"image_id": stem, "category_id": 0, "bbox": [(cx - w / 2) * 192, (cy - h / 2) * 144,
                                                                        w * 192, h * 144], "score": 0.9})
    (tmp_path / "p.json").write_text(json.dumps(preds))
    assert metrics_main(["--data", str(demo_yaml), "--pred", str(tmp_path / "p.json"), "--out", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["ap50"] == pytest.approx(1.0) and m["ap50_95"] == pytest.approx(1.0)
    assert (m["precision"], m["recall"], m["pd"], m["pd_c"], m["fa"], m["fa_c"]) == (1.0, 1.0, 1.0, 1.0, 0.0, 0.0)


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON"),
    ('{"a": 1}', "expected a JSON list"),
    ('[{"image_id": "demo_0004", "bbox": [1, 2, 3, 4], "score": 0.5}]', "entry 0: needs keys"),
    ('[{"image_id": "demo_0004", "category_id": 0, "bbox": [1, 2, 3], "score": 0.5}]', "'bbox' must be 4 numbers"),
    ('[{"image_id": "nope", "category_id": 0, "bbox": [1, 2, 3, 4], "score": 0.5}]', "image_id 'nope' is not an image"),
    ('[{"image_id": "demo_0004", "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]', "'category_id' must be a class"),
    ('[{"image_id": "demo_0004", "category_id": 0, "bbox": [1, 2, 3, 4], "score": "hi"}]', "'score' must be a number"),
])
def test_malformed_predictions_json(tmp_path, demo_yaml, capsys, content, message):
    (tmp_path / "p.json").write_text(content)
    assert metrics_main(["--data", str(demo_yaml), "--pred", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_val_bad_inputs(tmp_path, checkpoint, demo_yaml, capsys):
    assert _val(tmp_path, tmp_path / "missing.pt") == 2
    assert "missing.pt: weights file not found" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert _val(tmp_path, tmp_path / "junk.pt") == 2
    assert "junk.pt: neither an FSCFNet checkpoint nor an ONNX or TorchScript export" in capsys.readouterr().err
    with zipfile.ZipFile(tmp_path / "zip.pt", "w") as z:  # a zip archive, but no torch.save output
        z.writestr("x/readme.txt", "hello")
    assert _val(tmp_path, tmp_path / "zip.pt") == 2
    assert "zip.pt: not a readable FSCFNet checkpoint" in capsys.readouterr().err
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07 truncated protobuf")
    assert _val(tmp_path, tmp_path / "bad.onnx") == 2
    assert "bad.onnx: ONNX Runtime cannot load it" in capsys.readouterr().err
    two = tmp_path / "two.pt"
    save_checkpoint(two, build_model(MODELS_DIR / "yolov10n.yaml", nc=2), ["a", "b"],
                    train_args={"data": str(demo_yaml)})
    assert _val(tmp_path, two) == 2
    assert "the model predicts 2 classes but" in capsys.readouterr().err
    assert _val(tmp_path, checkpoint, "--split", "val") == 2
    assert "unknown split 'val'" in capsys.readouterr().err
    empty = demo_yaml.parent / "empty.yaml"
    (demo_yaml.parent / "demo" / "img_idx" / "empty.txt").write_text("\n")
    empty.write_text(f"path: {demo_yaml.parent / 'demo'}\ntrain: img_idx/empty.txt\ntest: img_idx/empty.txt\n")
    assert _val(tmp_path, checkpoint, "--data", str(empty)) == 2
    assert "the index file lists no images" in capsys.readouterr().err
    assert _val(tmp_path, checkpoint, "--imgsz", "100") == 2
    assert "must be a positive multiple of the model stride 32" in capsys.readouterr().err
    assert _val(tmp_path, checkpoint, "--conf", "1.5") == 2
    assert "--conf 1.5 must lie in [0, 1)" in capsys.readouterr().err


def test_val_cli_exit_code_and_single_line_error(repo, tmp_path):
    proc = subprocess.run([sys.executable, "val.py", "--weights", str(tmp_path / "nope.pt")], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "weights file not found" in proc.stderr


def _background_split(demo_yaml, root):
    """The demo's six test frames as a split without targets (empty label files)."""
    demo, bg = demo_yaml.parent / "demo", root / "bg"
    stems = (demo / "img_idx" / "test_demo.txt").read_text().split()
    for sub in ("images", "labels", "img_idx"):
        (bg / sub).mkdir(parents=True)
    for stem in stems:
        shutil.copy(demo / "images" / f"{stem}.png", bg / "images")
        (bg / "labels" / f"{stem}.txt").write_text("")
    (bg / "img_idx" / "test_bg.txt").write_text("\n".join(stems) + "\n")
    cfg = root / "bg.yaml"
    cfg.write_text(f"path: {bg}\ntrain: img_idx/test_bg.txt\ntest: img_idx/test_bg.txt\nnames: [target]\n")
    return cfg, stems


def test_background_only_split_reports_false_alarms_at_conf(make_checkpoint, tmp_path, demo_yaml, capsys):
    """Frames without targets: Pd is undefined, so what matters is how many false alarms survive --conf."""
    cfg, stems = _background_split(demo_yaml, tmp_path)
    weights = make_checkpoint(tmp_path / "m.pt", data=cfg, bias=-2.0)  # scores on both sides of 0.25
    capsys.readouterr()
    assert _val(tmp_path, weights, "--conf", "0.25") == 0
    out = capsys.readouterr().out.splitlines()

    # hand recount from predictions.json: six 192 x 144 frames
    preds = json.loads((tmp_path / "v" / "predictions.json").read_text())
    pixels = len(stems) * 192 * 144
    above = [p for p in preds if p["score"] >= 0.25]
    assert 0 < len(above) < len(preds)
    m = json.loads((tmp_path / "v" / "metrics.json").read_text())
    a = m["at_conf"]
    assert (m["targets"], m["images"], a["conf"], a["detections"], a["false_alarms"]) == (0, 6, 0.25, len(above), len(above))
    assert a["false_alarms_per_image"] == pytest.approx(len(above) / 6)
    assert a["false_alarms_per_mpix"] == pytest.approx(len(above) / (pixels / 1e6))
    assert a["fa"] == pytest.approx(sum(p["bbox"][2] * p["bbox"][3] for p in above) / pixels)
    assert (a["precision"], a["recall"], a["pd"], a["pd_c"], a["f1"]) == (0.0, None, None, None, None)
    assert m["fa"] == pytest.approx(sum(p["bbox"][2] * p["bbox"][3] for p in preds) / pixels)  # unchanged meaning

    # the printed table: a row at --conf with false alarms per image and per megapixel, then the definitions
    i = next(k for k, line in enumerate(out) if line.startswith("at conf"))
    assert out[i].split()[-3:] == [f"{len(above) / 6:.3f}", f"{len(above) / (pixels / 1e6):.3f}", "0.250"]
    assert out[i + 1] == DEFINITIONS and out[i - 1].lstrip().startswith("max F1")

    # PdFa_curve.json: false alarms at every threshold recounted from predictions.json
    curve = json.loads((tmp_path / "v" / "PdFa_curve.json").read_text())
    assert (tmp_path / "v" / "PdFa_curve.png").stat().st_size > 0
    assert curve["thresholds"] == PDFA_THRESHOLDS.tolist() and curve["targets"] == 0
    assert curve["megapixels"] == pytest.approx(pixels / 1e6) and all(v is None for v in curve["pd"])
    assert len(curve["false_alarms"]) == len(curve["false_alarms_per_image"]) == len(curve["fa"]) == \
        len(curve["thresholds"])
    for t, n, per_img, fa in zip(curve["thresholds"], curve["false_alarms"], curve["false_alarms_per_image"],
                                 curve["fa"], strict=True):
        kept = [p for p in preds if p["score"] >= t]
        assert n == len(kept) and per_img == pytest.approx(len(kept) / 6), t
        assert fa == pytest.approx(sum(p["bbox"][2] * p["bbox"][3] for p in kept) / pixels), t
    assert json.loads(json.dumps(curve)) == curve


@pytest.mark.parametrize("budget", [0.5, 2.0, 0.0])
def test_fa_budget_gives_the_lowest_threshold_whose_measured_rate_is_within_it(make_checkpoint, tmp_path,
                                                                                demo_yaml, budget):
    """--fa-per-image B on the background split: every detection is a false alarm, so the threshold must keep at
    most 6 B of them (six frames): recounted from predictions.json, the rate at that threshold is <= B, and one
    step lower (the next detection's score) it would exceed B. The same for --fa-per-mpix."""
    cfg, stems = _background_split(demo_yaml, tmp_path)
    weights = make_checkpoint(tmp_path / "m.pt", data=cfg, bias=-2.0)
    pixels = len(stems) * 192 * 144
    per_mpix = budget * 40  # about the same number of false alarms per megapixel (0.166 Mpix)
    assert _val(tmp_path, weights, "--fa-per-image", str(budget), "--fa-per-mpix", str(per_mpix)) == 0
    preds = sorted(json.loads((tmp_path / "v" / "predictions.json").read_text()), key=lambda p: -p["score"])
    points = json.loads((tmp_path / "v" / "metrics.json").read_text())["at_fa_budgets"]
    assert [(p["budget"], p["per"]) for p in points] == [(budget, "image"), (per_mpix, "mpix")]
    for p, scale in zip(points, (len(stems), pixels / 1e6), strict=True):
        kept = [d for d in preds if d["score"] >= p["conf"]]
        assert p["false_alarms"] == len(kept) and len(kept) / scale <= p["budget"] + 1e-12
        looser = [d for d in preds if d["score"] >= max(d2["score"] for d2 in preds if d2["score"] < p["conf"])] \
            if any(d["score"] < p["conf"] for d in preds) else None
        assert looser is None or len(looser) / scale > p["budget"]  # the lowest threshold within the budget
    assert (tmp_path / "v" / "PdFa_curve.png").stat().st_size > 0
    # another detector's predictions get the same budgets from python -m fscfnet.metrics
    assert metrics_main(["--data", str(cfg), "--pred", str(tmp_path / "v" / "predictions.json"), "--out",
                         str(tmp_path / "m.json"), "--fa-per-image", str(budget), "--fa-per-mpix", str(per_mpix)]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["at_fa_budgets"] == points
    assert metrics_main(["--data", str(cfg), "--pred", str(tmp_path / "v" / "predictions.json"),
                         "--fa-per-image", "-1"]) != 0


def test_val_on_several_classes_reports_each_class_any_class_the_confusion_and_a_breakdown(make_checkpoint, tmp_path,
                                                                                        capsys):
    """A two-class dataset with frames.csv: metrics.json holds a row per class with its name, the class-agnostic
    metrics, the confusion matrix (background row and column; its counts add up to the split's targets and
    detections) and a row per sequence; a one-class dataset holds none of the class-level extras."""
    import cv2

    root = tmp_path / "two"
    for sub in ("images", "labels", "img_idx"):
        (root / sub).mkdir(parents=True)
    stems = [f"s{k // 3}_{k}" for k in range(6)]
    for k, stem in enumerate(stems):
        img = np.full((64, 80), 30, np.uint8)
        img[20:26, 10 + 8 * k:16 + 8 * k] = 240
        cv2.imwrite(str(root / "images" / f"{stem}.png"), img)
        (root / "labels" / f"{stem}.txt").write_text(f"{k % 2} {(13 + 8 * k) / 80:.6f} {23 / 64:.6f} 0.075 0.09375\n")
    (root / "img_idx" / "test.txt").write_text("\n".join(stems) + "\n")
    (root / "frames.csv").write_text("image,sequence\n" + "".join(f"{s},{s.split('_')[0]}\n" for s in stems))
    data = tmp_path / "two.yaml"
    data.write_text(f"path: {root}\ntrain: img_idx/test.txt\ntest: img_idx/test.txt\nnames: [drone, bird]\n")
    weights = make_checkpoint(tmp_path / "w.pt", data=data, imgsz=64, bias=0.0, names=("drone", "bird"))
    assert val.main(["--weights", str(weights), "--workers", "0", "--project", str(tmp_path), "--name", "v",
                     "--by", "sequence", "--conf", "0.01", "--fa-per-image", "5", "--save-json"]) == 0
    out = capsys.readouterr().out
    assert "per class" in out and "any class" in out and "by sequence" in out
    m = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert [(r["name"], r["targets"]) for r in m["per_class"]] == [("drone", 3), ("bird", 3)]
    assert m["class_agnostic"]["targets"] == 6 and "per_class" in m["class_agnostic"]
    counts = np.array(m["confusion_matrix"]["counts"])
    assert counts.shape == (3, 3) and m["confusion_matrix"]["names"] == ["drone", "bird", "background"]
    assert counts[:, :2].sum() == 6 and counts[:2].sum() == m["at_conf"]["detections"]
    assert [r["sequence"] for r in m["by"]["sequence"]] == ["s0", "s1"]
    assert [r["images"] for r in m["by"]["sequence"]] == [3, 3]
    assert (tmp_path / "v" / "confusion_matrix.png").is_file()
    # the same scoring from the predictions file: every class-level result again
    assert metrics_main(["--data", str(data), "--pred", str(tmp_path / "v" / "predictions.json"), "--by", "sequence",
                         "--conf", "0.01", "--fa-per-image", "5", "--out", str(tmp_path / "m.json")]) == 0
    again = json.loads((tmp_path / "m.json").read_text())
    assert {"command", "commit", "torch"} <= set(again.pop("provenance"))  # the file says how it was made
    assert again.pop("ms_per_image") is None
    assert again == {k: v for k, v in m.items() if k not in ("mode", "input_norm", "ms_per_image")}
