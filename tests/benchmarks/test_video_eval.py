"""benchmarks/video_eval.py: its per-class, field and per-group numbers are val's own on the same model and split
(val run here in-process with the same options), and its tables hold a row per class and per distance bin and
a confusion matrix per bin; its target-free-crop numbers are val's on the crop set."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np

import val


def _two_class_video_set(root):
    """Eight 64 x 80 frames of two sequences (a drone far away, a bird close by), frames.csv with their class
    and distance bin; returns the dataset YAML."""
    for sub in ("images", "labels", "img_idx"):
        (root / sub).mkdir(parents=True)
    stems, rows = [], []
    for k in range(8):
        seq, cls, dist = ("d1", 0, "DISTANT") if k < 4 else ("b1", 1, "CLOSE")
        stem = f"{seq}_{k:06d}"
        img = np.full((64, 80), 30, np.uint8)
        img[20:26, 10 + 7 * k:16 + 7 * k] = 240
        cv2.imwrite(str(root / "images" / f"{stem}.png"), img)
        (root / "labels" / f"{stem}.txt").write_text(f"{cls} {(13 + 7 * k) / 80:.6f} {23 / 64:.6f} 0.075 0.09375\n")
        stems.append(stem)
        rows.append(f"{stem},{seq},{k + 1},test,{['DRONE', 'BIRD'][cls]},{dist}\n")
    (root / "img_idx" / "test.txt").write_text("\n".join(stems) + "\n")
    (root / "frames.csv").write_text("image,sequence,frame,split,class,distance_bin\n" + "".join(rows))
    data = root.parent / "video.yaml"
    data.write_text(f"path: {root}\ntrain: img_idx/test.txt\ntest: img_idx/test.txt\nnames: [DRONE, BIRD]\n")
    return data


def _background_set(root):
    """Six target-free 48 x 48 crops of textured sky with the video set's classes; returns the YAML."""
    for sub in ("images", "img_idx"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    stems = [f"bg{k}" for k in range(6)]
    for stem in stems:
        cv2.imwrite(str(root / "images" / f"{stem}.png"), rng.integers(0, 255, (48, 48), dtype=np.uint8))
    (root / "img_idx" / "test.txt").write_text("\n".join(stems) + "\n")
    data = root.parent / "bg.yaml"
    data.write_text(f"path: {root}\ntrain: img_idx/test.txt\ntest: img_idx/test.txt\nnames: [DRONE, BIRD]\n")
    return data


def test_video_eval_reports_val_numbers_per_class_and_distance(make_checkpoint, repo, tmp_path):
    data = _two_class_video_set(tmp_path / "video")
    background = _background_set(tmp_path / "bg")
    weights = make_checkpoint(tmp_path / "w.pt", data=data, imgsz=64, bias=0.0, names=("DRONE", "BIRD"))
    out = tmp_path / "video_eval.json"
    env = {**os.environ, "PYTHONPATH": str(repo)}  # the package from this checkout, installed or not (CI)
    p = subprocess.run([sys.executable, str(repo / "benchmarks" / "video_eval.py"), "--data", str(data),
                        "--models", f"m={weights}", "--background", str(background), "--out", str(out)],
                       capture_output=True, text=True, cwd=repo,
                       env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(out.read_text())["results"]["m"]
    assert val.main(["--weights", str(weights), "--data", str(data), "--workers", "0", "--project", str(tmp_path),
                     "--name", "v", "--fa-per-image", "0.1", "0.01", "--by", "class", "distance_bin"]) == 0
    m = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert (r["ap50"], r["ap50_95"]) == (m["ap50"], m["ap50_95"])
    assert [(c["name"], c["ap50"]) for c in r["per_class"]] == [(c["name"], c["ap50"]) for c in m["per_class"]]
    field = m["class_agnostic"]
    assert field["at_conf"]["false_alarms_per_image"] > 0  # the untrained model fires: not a comparison of zeros
    for key, point in zip(("0.25", "FA<=0.1", "FA<=0.01"), (field["at_conf"], *field["at_fa_budgets"])):
        got = r["field"][key]
        assert (got["conf"], got["pd"], got["false_alarms_per_frame"]) == (
            point["conf"], point["pd"], point["false_alarms_per_image"]), key
    assert r["by"] == m["by"] and r["confusion_matrix"] == m["confusion_matrix"]
    assert [g["distance_bin"] for g in r["by"]["distance_bin"]] == ["CLOSE", "DISTANT"]
    table = p.stdout
    for row in ("| DRONE | 4 |", "| BIRD | 4 |", "| distance_bin CLOSE | 4 |", "| class DRONE | 4 |", "| all | 8 |"):
        assert row in table, row
    assert r["ms_per_frame"] > 0
    for g in r["by"]["distance_bin"]:
        assert f"confusion at conf 0.25, distance_bin {g['distance_bin']}" in table
    # the target-free crops: val's false alarms there, and Pd on the frames at the budget's confidence
    bg = r["background"]
    assert val.main(["--weights", str(weights), "--data", str(background), "--workers", "0", "--project",
                     str(tmp_path), "--name", "on_bg", "--conf", "0.25"]) == 0
    on_bg = json.loads((tmp_path / "on_bg" / "metrics.json").read_text())
    assert bg["images"] == 6 and bg["fa_per_image"]["0.25"] == on_bg["at_conf"]["false_alarms_per_image"] > 0
    point = bg["at_budgets"][0]
    assert point["budget"] == 0.1 and (not point["met"] or point["background_fa_per_image"] <= 0.1)
    assert val.main(["--weights", str(weights), "--data", str(data), "--workers", "0", "--project", str(tmp_path),
                     "--name", "at", "--conf", str(point["conf"])]) == 0
    at = json.loads((tmp_path / "at" / "metrics.json").read_text())["class_agnostic"]["at_conf"]
    assert point["pd"] == at["pd"]
