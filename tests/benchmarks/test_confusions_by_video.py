"""benchmarks/confusions_by_video.py: per-video confusions of a hand-made per-sequence metrics file."""

from __future__ import annotations

import json

import pytest

SCRIPT = "confusions_by_video"

NAMES = ["PLANE", "BIRD", "DRONE", "background"]


def _matrix(**cells):  # "p_t" -> count: rows predicted, columns true, background last
    m = [[0] * 4 for _ in range(4)]
    for key, n in cells.items():
        p, t = (int(i) for i in key[1:].split("_"))
        m[p][t] = n
    return m


def test_pairs_counted_per_video_with_their_bin_most_frames_first(script, tmp_path, capsys):
    metrics = {"confusion_matrix": {"names": NAMES},
               "by": {"sequence": [
                   # video a (a plane): 5 frames called bird, 2 called drone, 3 found as itself
                   {"sequence": "a", "confusion": _matrix(c1_0=5, c2_0=2, c0_0=3, c3_0=1)},
                   # video b (a bird): 1 frame called plane; 4 found, 2 false alarms on background
                   {"sequence": "b", "confusion": _matrix(c0_1=1, c1_1=4, c1_3=2)},
                   # video c (a plane): 4 frames called bird
                   {"sequence": "c", "confusion": _matrix(c1_0=4)},
               ]}}
    src, frames, out = tmp_path / "m.json", tmp_path / "data" / "frames.csv", tmp_path / "out.json"
    frames.parent.mkdir()
    src.write_text(json.dumps(metrics))
    frames.write_text("image,sequence,distance_bin\na_1,a,FAR\na_2,a,FAR\nb_1,b,NEAR\nc_1,c,MID\n")
    assert script.main(["--metrics", f"m={src}", "--dataset", str(frames.parent), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]["m"]
    assert [(r["true"], r["predicted"], r["frames"]) for r in rows] == [
        ("PLANE", "BIRD", 9), ("PLANE", "DRONE", 2), ("BIRD", "PLANE", 1)]
    assert rows[0]["videos"] == [{"sequence": "a", "frames": 5, "distance_bin": "FAR"},
                                 {"sequence": "c", "frames": 4, "distance_bin": "MID"}]
    assert "PLANE as BIRD: 9 frames in 2 videos (a 5, c 4)" in capsys.readouterr().out


def test_a_file_without_sequence_rows_is_refused_by_name(script, tmp_path):
    src = tmp_path / "plain.json"
    src.write_text(json.dumps({"confusion_matrix": {"names": NAMES}, "by": {}}))
    with pytest.raises(SystemExit, match="plain.json: no per-sequence rows"):
        script.main(["--metrics", f"m={src}", "--out", str(tmp_path / "o.json")])
