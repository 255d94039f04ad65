"""Video datasets (fscfnet.data.prepare.video): a tiny synthetic video and an image-sequence folder, made here, with
MOTChallenge ground truth become a frame dataset whose frames and boxes are those of the gt files (1-based frame
numbers and pixel coordinates), training frames at a stride, no test frame in training, frames.csv tying each frame
to its sequence; bad rows are refused with the file and line named; the MOT17 layout is read too."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from fscfnet.cfg.data import DataConfig
from fscfnet.data.dataset import IRSTDDataset
from fscfnet.data.labels import read_index, read_yolo_labels
from fscfnet.data.prepare import main as prepare_main
from fscfnet.data.prepare.video import prepare_video
from fscfnet.errors import DatasetError
from fscfnet.track.evaluate import read_mot_gt

H, W, N = 48, 64, 12


def _target_at(k: int) -> tuple[int, int, int, int]:
    """The 1-based bb_left, bb_top, width, height of the target in frame k (1-based): 4 x 3 px moving right."""
    return 5 + 3 * k, 10 + k, 4, 3


def _frame(k: int) -> np.ndarray:
    img = np.full((H, W), 30 + k, np.uint8)
    left, top, w, h = _target_at(k)
    img[top - 1:top - 1 + h, left - 1:left - 1 + w] = 250  # 1-based pixel coordinates
    return img


def _gt_rows(frames: range, cls: int = 1) -> str:
    return "".join(f"{k},1,{_target_at(k)[0]},{_target_at(k)[1]},{_target_at(k)[2]},{_target_at(k)[3]},1,{cls},1\n"
                   for k in frames)


@pytest.fixture
def source(tmp_path):
    """``cam`` (a video, training), ``seq`` (an image-sequence folder of PNGs, test): 12 frames each, the target
    labelled in frames 1-10 only (11 and 12 are empty sky)."""
    src = tmp_path / "src"
    (src / "videos" / "seq").mkdir(parents=True)
    (src / "gt").mkdir()
    writer = cv2.VideoWriter(str(src / "videos" / "cam.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (W, H))
    for k in range(1, N + 1):
        writer.write(cv2.cvtColor(_frame(k), cv2.COLOR_GRAY2BGR))
        cv2.imwrite(str(src / "videos" / "seq" / f"{k:04d}.png"), _frame(k))
    writer.release()
    (src / "gt" / "cam.txt").write_text(_gt_rows(range(1, 11), cls=2))
    (src / "gt" / "seq.txt").write_text(_gt_rows(range(1, 11), cls=1))
    (src / "train.txt").write_text("cam\n")
    (src / "test.txt").write_text("seq\n")
    (src / "videos.csv").write_text("video,class,distance_bin\ncam,DRONE,FAR\nseq,BIRD,CLOSE\n")
    return src


def _boxes(dst, stem):
    """The label file's boxes in pixels: class, x1, y1, x2, y2."""
    lab = read_yolo_labels(dst / "labels" / f"{stem}.txt", 2)
    cx, cy, w, h = lab[:, 1] * W, lab[:, 2] * H, lab[:, 3] * W, lab[:, 4] * H
    return np.column_stack([lab[:, 0], cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def test_a_video_and_an_image_sequence_become_frames_with_their_gt_boxes(source, tmp_path):
    dst = tmp_path / "V"
    assert prepare_main([str(source), "--dst", str(dst), "--every", "3", "--names", "BIRD", "DRONE"]) == 0
    train, test = read_index(dst / "img_idx" / "train_V.txt"), read_index(dst / "img_idx" / "test_V.txt")
    assert train == [f"cam_{k:06d}" for k in (1, 4, 7, 10)]  # every 3rd frame of the training video
    assert test == [f"seq_{k:06d}" for k in range(1, N + 1)]  # every frame of the test sequence
    assert not {s.rsplit("_", 1)[0] for s in train} & {s.rsplit("_", 1)[0] for s in test}  # no test frame in training
    for stem in train + test:
        k = int(stem.rsplit("_", 1)[1])
        boxes = _boxes(dst, stem)
        if k > 10:
            assert len(boxes) == 0  # no gt row: an empty frame
            continue
        left, top, w, h = _target_at(k)
        cls = 1 if stem.startswith("cam") else 0  # gt class 2 is the second name
        np.testing.assert_allclose(boxes, [[cls, left - 1, top - 1, left - 1 + w, top - 1 + h]], atol=1e-3)
    # extraction is lossless: the image sequence byte for byte, the video's frames exactly as OpenCV decodes them
    assert (dst / "images" / "seq_000005.png").read_bytes() == (source / "videos" / "seq" / "0005.png").read_bytes()
    cap = cv2.VideoCapture(str(source / "videos" / "cam.avi"))
    decoded = [cap.read()[1] for _ in range(N)]
    for k in (1, 4, 7, 10):
        saved = cv2.imread(str(dst / "images" / f"cam_{k:06d}.png"), cv2.IMREAD_UNCHANGED)
        d = decoded[k - 1]  # one channel when the decoder gave three equal ones (grey video), else all three
        assert np.array_equal(saved, d[..., 0] if (d == d[..., :1]).all() else d)
    with open(dst / "frames.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == train + test
    assert rows[1] == {"image": "cam_000004", "sequence": "cam", "frame": "4", "split": "train", "class": "DRONE",
                       "distance_bin": "FAR"}
    cfg = DataConfig(path=str(dst), train="img_idx/train_V.txt", test="img_idx/test_V.txt", names=["BIRD", "DRONE"])
    ds = IRSTDDataset(cfg, "test", 64, log=lambda s: None)
    assert len(ds) == N and sum(len(lab) for lab in ds.labels) == 10
    assert "names: [BIRD, DRONE]" in (dst / "data.yaml").read_text()
    # gt/: the checked ground truth again, with its track IDs, for tracking metrics (every frame, 1-based)
    gt = read_mot_gt(dst / "gt" / "seq.txt")
    assert sorted(gt) == list(range(1, 11))
    for k, (ids, boxes) in gt.items():
        left, top, w, h = _target_at(k)
        assert ids.tolist() == [1] and np.allclose(boxes, [[left - 1, top - 1, left - 1 + w, top - 1 + h]])
    assert (dst / "gt" / "cam.txt").read_text().splitlines()[0] == "1,1,8,11,4,3,1,2,1"  # class 2: DRONE


@pytest.mark.parametrize("row,why", [
    ("13,1,10,10,4,3,1,1,1", "frame 13 is outside the sequence's frames 1..12"),
    ("0,1,10,10,4,3,1,1,1", "frame 0 is outside"),
    ("3,1,10,10,0,3,1,1,1", "box width and height must be positive, got 0 x 3"),
    ("3,1,10,10,4,-2,1,1,1", "box width and height must be positive"),
    ("3,1,10,10,4,3,1,3,1", "class 3 is unknown (classes are 1..2)"),
    ("3,1,90,10,4,3,1,1,1", "lies outside the 64x48 frame"),
    ("3,1,ten,10,4,3,1,1,1", "values must be numbers")])
def test_a_bad_ground_truth_row_is_refused_with_its_file_and_line(source, tmp_path, row, why):
    gt = source / "gt" / "seq.txt"
    gt.write_text(_gt_rows(range(1, 3)) + row + "\n")
    with pytest.raises(DatasetError, match=rf"{gt}:3: .*{why.replace('(', '[(]').replace(')', '[)]')}"):
        prepare_video(source, tmp_path / "V", names=["BIRD", "DRONE"], log=lambda s: None)
    assert not (tmp_path / "V").exists()
    summary = prepare_video(source, tmp_path / "V", names=["BIRD", "DRONE"], skip_bad_rows=True, log=lambda s: None)
    assert summary["skipped_rows"] == 1 and summary["targets"] == 10 + 2


def test_a_sequence_in_both_splits_or_an_unknown_one_is_refused(source, tmp_path):
    (source / "test.txt").write_text("seq\ncam\n")
    with pytest.raises(DatasetError, match="sequence 'cam' is also in the train list"):
        prepare_video(source, tmp_path / "V", log=lambda s: None)
    (source / "test.txt").write_text("sky\n")
    with pytest.raises(DatasetError, match="lists sequence 'sky', which has no frames or no ground truth"):
        prepare_video(source, tmp_path / "V", log=lambda s: None)


def test_attribute_columns_may_be_named_anything_but_frames_csvs_own(source, tmp_path):
    (source / "videos.csv").write_text("video,targets,wh\ncam,3,a\nseq,1,b\n")  # names the prepare uses inside
    assert prepare_main([str(source), "--dst", str(tmp_path / "ok")]) == 0
    with open(tmp_path / "ok" / "frames.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert (row["targets"], row["wh"]) == ("3", "a")
    (source / "videos.csv").write_text("video,frame\ncam,3\nseq,1\n")
    with pytest.raises(DatasetError, match="videos.csv: column 'frame' is one frames.csv writes itself"):
        prepare_video(source, tmp_path / "bad")


def test_the_mot17_layout_splits_by_folder_and_ignores_rows_marked_zero(tmp_path):
    src = tmp_path / "MOT"
    for split, name in (("train", "MOT-02"), ("test", "MOT-09")):
        seq = src / split / name
        (seq / "img1").mkdir(parents=True)
        (seq / "gt").mkdir()
        (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength=4\n")
        for k in range(1, 5):
            cv2.imwrite(str(seq / "img1" / f"{k:06d}.jpg"), _frame(k))
        (seq / "gt" / "gt.txt").write_text(_gt_rows(range(1, 5)) + "2,7,1,1,5,5,0,1,1\n")  # conf 0: ignored
    summary = prepare_video(src, tmp_path / "M", every=2, log=lambda s: None)
    assert summary["sequences"] == {"train": 1, "test": 1} and summary["ignored_rows"] == 2
    assert read_index(tmp_path / "M" / "img_idx" / "train_M.txt") == ["MOT-02_000001", "MOT-02_000003"]
    assert len(read_index(tmp_path / "M" / "img_idx" / "test_M.txt")) == 4
    assert (tmp_path / "M" / "images" / "MOT-02_000003.jpg").is_file()
    np.testing.assert_allclose(_boxes(tmp_path / "M", "MOT-09_000002")[:, 1:], [[10, 11, 14, 14]], atol=1e-3)


def test_video_options_on_a_frame_dataset_are_a_one_line_error(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert prepare_main([str(tmp_path), "--dst", str(tmp_path / "out"), "--every", "5"]) == 2
    assert "--every, --names and --skip-bad-rows are for video datasets" in capsys.readouterr().err


def test_class_names_come_from_the_class_column_of_videos_csv_when_it_names_each_id(source, tmp_path):
    """cam holds gt class 2 and is labelled DRONE, seq class 1 and BIRD: names [BIRD, DRONE] without --names."""
    assert prepare_main([str(source), "--dst", str(tmp_path / "A"), "--every", "3"]) == 0
    assert "names: [BIRD, DRONE]" in (tmp_path / "A" / "data.yaml").read_text()
    (source / "videos.csv").write_text("video,class,distance_bin\ncam,DRONE,FAR\nseq,DRONE,CLOSE\n")  # 2 ids, 1 name
    assert prepare_main([str(source), "--dst", str(tmp_path / "B"), "--every", "3"]) == 0
    assert "names: [class1, class2]" in (tmp_path / "B" / "data.yaml").read_text()
    assert prepare_main([str(source), "--dst", str(tmp_path / "C"), "--every", "3", "--names", "x", "y"]) == 0
    assert "names: [x, y]" in (tmp_path / "C" / "data.yaml").read_text()  # given names win
