"""fscfnet track / detect --track / FSCFNet.track on a synthetic video, an image-sequence folder and a loopback HTTP
stream that drops: MOTChallenge rows of the confirmed tracks, one JSON line per ended track, the annotated video,
and a clean end with complete files after the stream's reconnections fail."""

from __future__ import annotations

import http.server
import json
import threading

import cv2
import numpy as np
import pytest

import detect
from fscfnet.commands import track as track_cmd
from fscfnet.data.sources import is_live, live_name, prefetch

H, W, N = 96, 128, 24


def _frame(k: int) -> np.ndarray:
    """A 5 x 5 target at (20 + 3k, 40) on a dark frame, 1-based pixel coordinates (21 + 3k, 41)."""
    img = np.full((H, W, 3), 20, np.uint8)
    img[40:45, 20 + 3 * k:25 + 3 * k] = 255
    return img


@pytest.fixture(scope="module")
def weights(make_checkpoint, tmp_path_factory, make_demo):
    return make_checkpoint(tmp_path_factory.mktemp("w") / "m.pt", data=make_demo(4, 4), imgsz=96, bias=0.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (W, H))
    (folder / "frames").mkdir()
    for k in range(N):
        writer.write(_frame(k))
        cv2.imwrite(str(folder / "frames" / f"{k:04d}.png"), _frame(k))
    writer.release()
    return folder


def _mot(path):
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    assert rows.shape[1] == 10 and (rows[:, 7:] == -1).all()
    return rows


def test_track_a_video_and_an_image_sequence(weights, clip, tmp_path, capsys):
    assert track_cmd.main(["--weights", str(weights), "--source", str(clip / "clip.avi"), str(clip / "frames"),
                           "--conf", "0.3", "--conf-low", "0.05", "--project", str(tmp_path), "--name", "t"]) == 0
    out = tmp_path / "t"
    video, frames = _mot(out / "mot" / "clip.txt"), _mot(out / "mot" / "frames.txt")
    assert len(video) and len(frames)
    assert set(video[:, 0]) <= set(range(1, N + 1)) and np.all(np.diff(video[:, 0]) >= 0)  # 1-based, in order
    tracks = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    assert {t["sequence"] for t in tracks} == {"clip", "frames"}
    for t in tracks:  # each ended track: its rows in the MOT file of its sequence
        rows = video if t["sequence"] == "clip" else frames
        mine = rows[rows[:, 1] == t["id"]]
        assert len(mine) == sum(p[0] >= t["confirmed_frame"] for p in t["path"])  # a row per hit once confirmed
        hits = np.array([p for p in t["path"] if p[0] >= t["confirmed_frame"]])  # frame, cx, cy, w, h, score, cls
        left, top = hits[:, 1] - hits[:, 3] / 2 + 1, hits[:, 2] - hits[:, 4] / 2 + 1  # 1-based, as MOTChallenge
        assert np.allclose(mine[:, 2:6], np.column_stack([left, top, hits[:, 3], hits[:, 4]]), atol=0.01)
        assert np.allclose(mine[:, 6], hits[:, 5], atol=1e-4) and np.array_equal(mine[:, 0], hits[:, 0])
        assert mine[:, 0].min() == t["confirmed_frame"] and mine[:, 0].max() == t["last_frame"]
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    n, w = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    cap.release()
    assert n == N and w == W + H // 3  # every frame, with the strip of insets
    assert "frames/s end to end" in capsys.readouterr().out


def test_a_planted_detector_gives_one_track_on_the_targets_pixels_in_mot_coordinates(clip, tmp_path, monkeypatch):
    """With a stand-in detector that boxes exactly the bright pixels, the MOT file must hold one track whose rows,
    from its confirmation on, are the drawn target: frame k + 1, left 21 + 3k, top 41, 5 x 5 (1-based)."""
    from ..engine.test_inference import _pytorch_model

    monkeypatch.setattr(track_cmd, "load_inference_model", lambda *a, **k: _pytorch_model())
    assert track_cmd.main(["--weights", "planted", "--source", str(clip / "frames"), "--nosave",
                           "--project", str(tmp_path), "--name", "p"]) == 0
    rows = _mot(tmp_path / "p" / "mot" / "frames.txt")
    assert len(set(rows[:, 1])) == 1 and len(rows) >= N - 5, rows  # one track, confirmed within 5 frames
    frame = rows[:, 0]
    assert np.array_equal(frame, np.arange(frame[0], N + 1))  # every frame from its confirmation to the end
    # centres (left + w / 2) on the target's to half a pixel; sizes within a pixel (upscaling 128 x 96 to 320
    # softens the target's edges, so fewer pixels pass the stand-in's brightness cut)
    left, top, w, h = rows[:, 2:6].T
    np.testing.assert_allclose(np.column_stack([left + w / 2, top + h / 2]),
                               np.column_stack([21 + 3 * (frame - 1) + 2.5, np.full_like(frame, 41 + 2.5)]), atol=0.5)
    np.testing.assert_allclose(np.column_stack([w, h]), 5, atol=1.0)


def test_detect_track_and_the_api_write_the_same_tracks(weights, clip, tmp_path):
    from fscfnet import FSCFNet

    assert detect.main(["--weights", str(weights), "--source", str(clip / "clip.avi"), "--track", "--nosave",
                        "--project", str(tmp_path), "--name", "d"]) == 0
    api = FSCFNet(str(weights)).track(clip / "clip.avi", project=tmp_path, name="a", save_video=False)
    txt = (api / "mot" / "clip.txt").read_text()
    assert txt.strip() and (tmp_path / "d" / "mot" / "clip.txt").read_text() == txt
    assert not (tmp_path / "d" / "clip.mp4").exists()


def test_bad_tracker_options_are_one_line_errors(weights, clip, tmp_path, capsys):
    for extra, words in ((["--confirm", "6", "5"], "confirm_hits"), (["--conf-low", "0.5"], "low <= high"),
                         (["--conf-low", "1.5"], "--conf-low 1.5 must lie in [0, 1)")):
        assert track_cmd.main(["--weights", str(weights), "--source", str(clip / "clip.avi"), "--project",
                               str(tmp_path), *extra]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (extra, err)


class _DroppingStream(http.server.BaseHTTPRequestHandler):
    """Serves the clip's bytes, but only the first ``cut`` of them on the first request, then closes; later
    requests (the reconnections) are refused with 503."""

    data, cut, served = b"", 0, []

    def do_GET(self):  # noqa: N802 (the handler's name)
        type(self).served.append(self.path)
        if len(type(self).served) > 1:
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/x-msvideo")
        self.end_headers()
        self.wfile.write(self.data[:self.cut])

    def log_message(self, *args):
        pass


def test_a_loopback_http_stream_that_drops_ends_cleanly_with_complete_files(weights, clip, tmp_path, capsys):
    data = (clip / "clip.avi").read_bytes()
    _DroppingStream.data, _DroppingStream.cut, _DroppingStream.served = data, int(len(data) * 0.6), []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DroppingStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/live.avi"
    try:
        assert is_live(url) and live_name(url) == f"127_0_0_1_{server.server_port}_live_avi"
        assert track_cmd.main(["--weights", str(weights), "--source", url, "--reconnects", "2", "--conf-low", "0.05",
                               "--project", str(tmp_path), "--name", "s"]) == 0
    finally:
        server.shutdown()
    assert len(_DroppingStream.served) == 3  # the stream, then two reconnection attempts
    err = capsys.readouterr().err
    assert "reconnecting (1 of 2)" in err and "2 reconnection(s) failed" in err
    out = tmp_path / "s"
    name = live_name(url)
    rows = _mot(out / "mot" / f"{name}.txt")
    read = int(err.split("reconnection(s) failed, ")[1].split(" frame")[0])
    assert 0 < read < N and rows[:, 0].max() <= read  # part of the clip, every row of a frame that was read
    tracks = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    assert tracks and all(t["last_frame"] <= read for t in tracks)
    cap = cv2.VideoCapture(str(out / f"{name}.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == read  # the video file is finished, not cut off
    cap.release()


def test_prefetch_hands_over_items_in_order_and_raises_the_readers_error():
    assert list(prefetch(iter(range(100)), 4)) == list(range(100))

    def broken():
        yield 1
        raise OSError("disk gone")

    it = prefetch(broken(), 2)
    assert next(it) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(it)
