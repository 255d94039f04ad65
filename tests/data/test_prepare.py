"""prepare: real datasets against an independent connected-components reference; VOC/COCO round trips; layouts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fscfnet.data.labels import read_index, read_yolo_labels
from fscfnet.data.prepare import find_source, prepare
from fscfnet.data.prepare import main as prepare_main
from fscfnet.errors import DatasetError, UserError


def _reference_boxes(mask_path, image_shape) -> list[tuple[float, ...]]:
    """Normalised (cx, cy, w, h) of scipy's 8-connected components of mask > 127, scaled to the image if the
    mask was drawn at another resolution of the same frame."""
    ndimage = pytest.importorskip("scipy.ndimage")
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    lab, _ = ndimage.label(mask > 127, structure=np.ones((3, 3)))
    sy, sx = image_shape[0] / mask.shape[0], image_shape[1] / mask.shape[1]
    out = []
    for ys, xs in ndimage.find_objects(lab):
        x, y, w, h = xs.start * sx, ys.start * sy, (xs.stop - xs.start) * sx, (ys.stop - ys.start) * sy
        out.append(((x + w / 2) / image_shape[1], (y + h / 2) / image_shape[0], w / image_shape[1], h / image_shape[0]))
    return sorted(out)


@pytest.mark.parametrize("name,count,split_sizes", [("NUAA-SIRST", 427, (213, 214)), ("NUDT-SIRST", 1327, (663, 664))])
def test_prepare_real_dataset_matches_independent_components(shared_dataset, tmp_path, name, count, split_sizes):
    src = shared_dataset(name)
    dst = tmp_path / name
    summary = prepare(src, dst)
    assert summary["images"] == count and summary["layout"] == "BasicIRSTD"
    images = sorted((dst / "images").iterdir())
    assert len(images) == count and len(list((dst / "labels").glob("*.txt"))) == count
    for split, n in zip(("train", "test"), split_sizes):
        out = dst / "img_idx" / f"{split}_{name}.txt"
        assert out.read_bytes() == (src / "img_idx" / f"{split}_{name}.txt").read_bytes()
        assert len(read_index(out)) == n
    targets = 0
    for img_path in images:
        shape = cv2.imread(str(img_path), cv2.IMREAD_UNCHANGED).shape[:2]
        got = sorted(tuple(row[1:]) for row in read_yolo_labels(dst / "labels" / f"{img_path.stem}.txt", 1))
        ref = _reference_boxes(src / "masks" / img_path.name, shape)
        assert len(got) == len(ref), img_path.name
        assert np.allclose(got, ref, atol=2e-6), img_path.name
        targets += len(got)
    assert targets == summary["targets"]
    assert all((src / "images" / p.name).read_bytes() == p.read_bytes() for p in images[:20])


def _blank(path, w=40, h=30):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((h, w), np.uint8))


def _splits(src, train, test, folder="img_idx", names=("train_X.txt", "test_X.txt")):
    (src / folder).mkdir(parents=True, exist_ok=True)
    (src / folder / names[0]).write_text("\n".join(train) + "\n")
    (src / folder / names[1]).write_text("\n".join(test) + "\n")


def test_voc_round_trip(tmp_path):
    src = tmp_path / "voc"
    boxes = {"a": [("target", 3, 4, 5, 6)], "b": [("target", 1, 1, 40, 30), ("plane", 10, 12, 10, 12)], "c": []}
    for stem, objs in boxes.items():
        _blank(src / "JPEGImages" / f"{stem}.png")
        xml = "".join(f"<object><name>{n}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
                      f"<ymax>{y2}</ymax></bndbox></object>" for n, x1, y1, x2, y2 in objs)
        (src / "Annotations").mkdir(parents=True, exist_ok=True)
        (src / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><size><width>40</width><height>30</height></size>{xml}</annotation>")
    _splits(src, ["a", "b"], ["c"], "ImageSets/Main", ("train.txt", "test.txt"))
    s = prepare(src, tmp_path / "out", fmt="voc")
    assert s["names"] == ["plane", "target"] and s["targets"] == 3 and s["empty_images"] == 1
    # 1-based inclusive VOC corners: xmin=3..xmax=5 covers pixel columns 2..4 -> x 2, w 3; ymin=4..6 -> y 3, h 3
    assert np.allclose(read_yolo_labels(tmp_path / "out" / "labels" / "a.txt", 2),
                       [[1, 3.5 / 40, 4.5 / 30, 3 / 40, 3 / 30]], atol=1e-6)
    got_b = sorted(read_yolo_labels(tmp_path / "out" / "labels" / "b.txt", 2).tolist())
    assert np.allclose(got_b, sorted([[1, 0.5, 0.5, 1.0, 1.0], [0, 9.5 / 40, 11.5 / 30, 1 / 40, 1 / 30]]), atol=1e-6)
    assert read_index(tmp_path / "out" / "img_idx" / "test_out.txt") == ["c"]


def test_coco_round_trip(tmp_path):
    src = tmp_path / "coco"
    for stem in ("p", "q", "r"):
        _blank(src / "images" / f"{stem}.png", 50, 20)
    expected = {"p": [(0, [2.0, 3.0, 4.0, 5.0])], "q": [(0, [0.0, 0.0, 50.0, 20.0]), (1, [10.5, 2.5, 3.0, 2.0])]}
    cats = [{"id": 7, "name": "target"}, {"id": 9, "name": "bird"}]
    for split, stems in (("train", ["p", "q"]), ("test", ["r"])):
        images = [{"id": i, "file_name": f"{s}.png", "width": 50, "height": 20} for i, s in enumerate(stems)]
        anns = [{"id": 100 * i + k, "image_id": i, "category_id": cats[c]["id"], "bbox": b}
                for i, s in enumerate(stems) for k, (c, b) in enumerate(expected.get(s, []))]
        (src / "annotations").mkdir(exist_ok=True)
        (src / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"images": images, "annotations": anns, "categories": cats}))
    s = prepare(src, tmp_path / "out", fmt="coco")
    assert s["splits"] == {"train": 2, "test": 1} and s["names"] == ["target", "bird"]
    for stem, anns in expected.items():
        got = read_yolo_labels(tmp_path / "out" / "labels" / f"{stem}.txt", 2)
        back = [(int(c), [(cx - w / 2) * 50, (cy - h / 2) * 20, w * 50, h * 20]) for c, cx, cy, w, h in got]
        assert [c for c, _ in back] == [c for c, _ in anns]
        assert np.allclose([b for _, b in back], [b for _, b in anns], atol=1e-4)
    assert read_yolo_labels(tmp_path / "out" / "labels" / "r.txt", 2).shape == (0, 5)


def _mask_source(src, stems, img_dir="images", mask_dir="masks", mask_suffix=""):
    for i, stem in enumerate(stems):
        _blank(src / img_dir / f"{stem}.png")
        mask = np.zeros((30, 40), np.uint8)
        mask[5:7, 10 + i:12 + i] = 255  # a 2x2 target
        mask[20, 30] = 200  # a 1-px target above the >127 threshold
        mask[25, 2] = 100  # grey below the threshold: not a target
        (src / mask_dir).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / mask_dir / f"{stem}{mask_suffix}.png"), mask)


def test_irstd1k_and_dnanet_layouts(tmp_path):
    src = tmp_path / "IRSTD-1k"
    _mask_source(src, ["XDU0", "XDU1"], "IRSTD1k_Img", "IRSTD1k_Label")
    (src / "trainval.txt").write_text("XDU0\r\n")
    (src / "test.txt").write_text("XDU1\r\n")
    s = prepare(src, tmp_path / "IRSTD-1K")
    assert s["layout"] == "IRSTD-1K" and s["targets"] == 4
    assert (tmp_path / "IRSTD-1K" / "img_idx" / "train_IRSTD-1K.txt").read_bytes() == b"XDU0\r\n"
    assert np.allclose(read_yolo_labels(tmp_path / "IRSTD-1K" / "labels" / "XDU0.txt", 1),
                       [[0, 11 / 40, 6 / 30, 2 / 40, 2 / 30], [0, 30.5 / 40, 20.5 / 30, 1 / 40, 1 / 30]], atol=1e-6)
    dn = tmp_path / "dnanet"
    _mask_source(dn, ["000001", "000002"], mask_suffix="_pixels0")  # SIRST-style mask names
    _splits(dn, ["000001"], ["000002"], "50_50", ("train.txt", "test.txt"))
    assert prepare(dn, tmp_path / "dn")["layout"] == "DNANet"


def test_unpaired_files_are_listed_and_refused(repo, tmp_path):
    src = tmp_path / "bad"
    _mask_source(src, ["a", "b", "c"])
    (src / "masks" / "b.png").unlink()
    _blank(src / "masks" / "z.png")
    _splits(src, ["a"], ["c"])
    with pytest.raises(DatasetError, match=r"1 images without masks: b; 1 masks without images: z"):
        prepare(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    proc = subprocess.run([sys.executable, "-m", "fscfnet.data.prepare", str(src), "--dst", str(tmp_path / "o")],
                          cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "refusing to convert" in proc.stderr


def test_destination_rules(tmp_path):
    src = tmp_path / "src"
    _mask_source(src, ["a", "b"])
    _splits(src, ["a"], ["b"])
    prepare(src, tmp_path / "out")
    with pytest.raises(UserError, match="already exists"):
        prepare(src, tmp_path / "out")
    prepare(src, tmp_path / "out", overwrite=True)
    with pytest.raises(UserError, match="outside the source"):
        prepare(src, src / "inside")
    (src / "img_idx" / "test_X.txt").write_text("b\nnope\n")
    with pytest.raises(DatasetError, match="1 listed images have no image file: nope"):
        prepare(src, tmp_path / "out2")


# IRSTD-1K images chosen for what they exercise: colour PNGs (XDU1000, XDU992, XDU999), masks whose grey-only
# specks the > 127 rule drops (XDU0, XDU325 with two targets, XDU337), other grey masks, and the first few of
# each split file.
IRSTD1K_SLICE = ["XDU1000", "XDU992", "XDU999", "XDU0", "XDU325", "XDU337", "XDU105", "XDU109", "XDU11",
                 "XDU514", "XDU646", "XDU904", "XDU189", "XDU935", "XDU672"]


def _slice_lines(path, stems):
    """The lines of an index file that name ``stems``, byte for byte (line ends kept)."""
    return b"".join(line for line in path.read_bytes().splitlines(keepends=True) if line.strip().decode() in stems)


def test_prepare_irstd1k_upstream_slice_matches_independent_components(shared_dataset, tmp_path):
    src = shared_dataset("IRSTD-1K", marker="IRSTD1k_Img")
    # the full source: BasicIRSTD's img_idx/ (CRLF train file) wins over IRSTD-1K's own trainval.txt/test.txt
    full = find_source(src, "masks")
    assert full.layout == "IRSTD-1K" and {k: len(v) for k, v in full.splits.items()} == {"train": 800, "test": 201}
    assert full.split_files["train"].name == "train_IRSTD-1K.txt" and not full.warnings
    assert b"\r\n" in full.split_files["train"].read_bytes() and not any("\r" in s for s in full.splits["train"])

    part = tmp_path / "IRSTD-1k"
    for sub in ("IRSTD1k_Img", "IRSTD1k_Label", "img_idx"):
        (part / sub).mkdir(parents=True)
    for stem in IRSTD1K_SLICE:
        for sub in ("IRSTD1k_Img", "IRSTD1k_Label"):
            shutil.copy(src / sub / f"{stem}.png", part / sub)
    for name in ("img_idx/train_IRSTD-1K.txt", "img_idx/test_IRSTD-1K.txt", "trainval.txt", "test.txt"):
        (part / name).write_bytes(_slice_lines(src / name, set(IRSTD1K_SLICE)))
    s = prepare(part, tmp_path / "IRSTD-1K")
    dst = tmp_path / "IRSTD-1K"

    assert s["layout"] == "IRSTD-1K" and s["images"] == len(IRSTD1K_SLICE) and s["warnings"] == []
    assert s["split_files"] == {"train": "img_idx/train_IRSTD-1K.txt", "test": "img_idx/test_IRSTD-1K.txt"}
    assert s["splits"] == {"train": 11, "test": 4}  # XDU999, XDU189, XDU935, XDU672 are test images
    assert s["images_by_channels"] == {"1": 12, "3": 3}
    assert s["grey_masks"] >= 6 and s["faint_components_dropped"] == 3
    out = dst / "img_idx" / "train_IRSTD-1K.txt"
    assert out.read_bytes() == (part / "img_idx" / "train_IRSTD-1K.txt").read_bytes() and b"\r\n" in out.read_bytes()
    targets = 0
    for stem in IRSTD1K_SLICE:
        shape = cv2.imread(str(dst / "images" / f"{stem}.png"), cv2.IMREAD_UNCHANGED).shape[:2]
        got = sorted(tuple(row[1:]) for row in read_yolo_labels(dst / "labels" / f"{stem}.txt", 1))
        ref = _reference_boxes(src / "IRSTD1k_Label" / f"{stem}.png", shape)
        assert len(got) == len(ref) and np.allclose(got, ref, atol=2e-6), stem
        targets += len(got)
    assert targets == s["targets"] and s["empty_images"] == 0
    assert sum(s["split_targets"].values()) == targets


def test_differing_split_files_warn_and_basicirstd_wins(tmp_path):
    src = tmp_path / "IRSTD-1k"
    _mask_source(src, ["a", "b", "c"], "IRSTD1k_Img", "IRSTD1k_Label")
    _splits(src, ["a", "b"], ["c"], names=("train_IRSTD-1K.txt", "test_IRSTD-1K.txt"))
    (src / "trainval.txt").write_text("a\r\n")
    (src / "test.txt").write_text("b\r\nc\r\n")
    s = prepare(src, tmp_path / "out")
    assert s["splits"] == {"train": 2, "test": 1} and s["split_files"]["train"] == "img_idx/train_IRSTD-1K.txt"
    assert len(s["warnings"]) == 1 and "trainval.txt + test.txt (IRSTD-1K) split the images otherwise (1 / 2)" in \
        s["warnings"][0] and "using img_idx/train_IRSTD-1K.txt + img_idx/test_IRSTD-1K.txt (BasicIRSTD, 2 / 1)" in \
        s["warnings"][0]
    (src / "trainval.txt").write_text("b\r\na\r\n")  # the same split in another order and line ends: no warning
    (src / "test.txt").write_text("c\n")
    assert prepare(src, tmp_path / "out2")["warnings"] == []


def test_stats_out_writes_the_printed_statistics_and_the_command(tmp_path, capsys):
    src = tmp_path / "src"
    _mask_source(src, ["a", "b", "c"])
    (src / "masks" / "c.png").write_bytes(cv2.imencode(".png", np.zeros((30, 40), np.uint8))[1].tobytes())
    _splits(src, ["a", "b"], ["c"])
    stats = tmp_path / "results" / "stats.json"
    argv = [str(src), "--dst", str(tmp_path / "X"), "--stats-out", str(stats)]
    assert prepare_main(argv) == 0
    printed = capsys.readouterr().out
    d = json.loads(stats.read_text())
    assert d["command"] == "python -m fscfnet.data.prepare " + " ".join(argv)
    # by hand: a and b hold a 2x2 target and a 1-px one each (the grey 100 px is below the threshold); c is empty
    assert (d["images"], d["splits"], d["targets"], d["split_targets"], d["empty_images"]) == (
        3, {"train": 2, "test": 1}, 4, {"train": 4, "test": 0}, 1)
    assert d["width_px_p5_p50_p95"] == pytest.approx([1.0, 1.5, 2.0]) and d["grey_masks"] == 2
    assert d["faint_components_dropped"] == 2 and d["dst"] == str(tmp_path / "X")
    assert "images 3 (train 2, test 1), targets 4 (train 4, test 0), empty images 1" in printed
    assert "p5 / p50 / p95: 1.0 / 1.5 / 2.0" in printed
    assert prepare_main([str(src), "--dst", str(tmp_path / "Y"), "--stats-out", str(tmp_path)]) == 2
    assert "--stats-out" in capsys.readouterr().err and not (tmp_path / "Y").exists()
