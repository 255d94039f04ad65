"""Frames of any size through every inference mode: a hand-placed target in a large synthetic frame is found at its
pixel position natively and sliced, with PyTorch and an ONNX export with free height and width; val.py scores
mixed frame sizes in each mode with boxes inside each frame; detect.py's crops lie where their boxes are."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import detect
import val
from fscfnet.data.views import InferenceMode
from fscfnet.engine.backends import META_KEY, InferenceModel, load_inference_model
from fscfnet.engine.inference import Inferencer
from fscfnet.engine.predictor import Predictor
from fscfnet.utils.timing import StageTimer

TARGET = (700, 411)  # x, y of a bright 5x5 target's top-left corner in a 1024 x 1024 frame


class BrightestPixel(nn.Module):
    """A stand-in detector with a known answer, so the geometry is what is tested: per input, one box around the
    pixels brighter than 0.9 (as a detector outlines what it sees: a target cut by the input's edge gives the part
    inside), scored by the brightest value, then three empty rows: ``(B, 3, H, W)`` -> ``(B, 4, 6)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x.mean(1)  # (B, H, W)
        score = g.flatten(1).amax(1)
        bright = g > 0.9
        cols, rows = bright.any(1).int(), bright.any(2).int()  # (B, W), (B, H)
        x1, y1 = cols.argmax(1), rows.argmax(1)
        x2, y2 = cols.shape[1] - cols.flip(1).argmax(1), rows.shape[1] - rows.flip(1).argmax(1)
        box = torch.stack([x1.float(), y1.float(), x2.float(), y2.float(), score, torch.zeros_like(score)], 1)
        return torch.cat([box[:, None], torch.zeros(x.shape[0], 3, 6)], 1)


def _frame(h: int = 1024, w: int = 1024, at: tuple[int, int] = TARGET) -> np.ndarray:
    frame = np.full((h, w, 3), 20, np.uint8)  # dark sky, darker than the grey padding
    frame[at[1]:at[1] + 5, at[0]:at[0] + 5] = 255
    return frame


def _pytorch_model() -> InferenceModel:
    net = BrightestPixel().eval()
    return InferenceModel(lambda x: net(x).float(), ["target"], 3, 32, 320, torch.device("cpu"), "pytorch",
                          "brightest.pt")


def _onnx_model(tmp_path) -> InferenceModel:
    pytest.importorskip("onnxruntime")
    from fscfnet.export import write_onnx

    path = tmp_path / "brightest.onnx"
    meta = {"names": ["target"], "ch": 3, "stride": 32, "imgsz": 320, "dynamic": True, "scale": "resize"}
    write_onnx(BrightestPixel().eval(), torch.rand(1, 3, 320, 320), path, meta, dynamic=True, stride=32)
    model = load_inference_model(path)
    assert model.format == "onnx" and not model.fixed_imgsz and META_KEY
    return model


@pytest.mark.parametrize("backend", ["pytorch", "onnx"])
@pytest.mark.parametrize("mode", [InferenceMode("native"), InferenceMode("slice", tile=320),
                                  InferenceMode("slice", tile=256, overlap=0.25, full_frame=True),
                                  InferenceMode("native", max_size=512)])
def test_a_target_in_a_large_frame_is_found_at_its_pixels(backend, mode, tmp_path):
    model = _pytorch_model() if backend == "pytorch" else _onnx_model(tmp_path)
    (det,) = Inferencer(model, mode, conf=0.9, batch=4)([_frame()], StageTimer())
    assert len(det) == 1, (mode.describe(), det)  # the tiles that miss it score <= 114/255 and are dropped
    x1, y1, x2, y2, score, _ = det[0]
    assert score == pytest.approx(1.0) and (x1, y1, x2, y2) == (TARGET[0], TARGET[1], TARGET[0] + 5, TARGET[1] + 5)


def test_letterboxing_a_large_frame_moves_and_shrinks_the_target():
    """The same frame letterboxed to 320: the 5-px target becomes 1.6 px, and the box comes back off by pixels."""
    (det,) = Inferencer(_pytorch_model(), InferenceMode("letterbox", imgsz=320), 0.5, 1)([_frame()], StageTimer())
    exact = np.array([TARGET[0], TARGET[1], TARGET[0] + 5, TARGET[1] + 5])
    # off, but by no more than about one input pixel mapped back (1024 / 320 = 3.2 px per side)
    assert len(det) == 1 and 0.5 <= np.abs(det[0, :4] - exact).max() <= 3.2 + 1e-3, det


def test_a_target_on_a_tile_seam_is_one_box_at_its_pixels():
    """Tiles of 320 over 1024 px start at 0, 235, 469, 704: a target at x 316..321 is cut by the first tile's
    edge (its box clipped at 320) and seen whole by the second; merged, one box: the target."""
    frame = _frame(at=(316, 100))
    (det,) = Inferencer(_pytorch_model(), InferenceMode("slice", tile=320, overlap=0.2), 0.9, 8)([frame], StageTimer())
    assert len(det) == 1 and tuple(det[0, :4]) == (316, 100, 321, 105)
    # a wide frame (height and width differ): the tile at x 469 ends at 789, inside the width, beyond the height
    frame = _frame(400, 1024, at=(786, 100))
    (det,) = Inferencer(_pytorch_model(), InferenceMode("slice", tile=320, overlap=0.2), 0.9, 8)([frame], StageTimer())
    assert len(det) == 1 and tuple(det[0, :4]) == (786, 100, 791, 105)


@pytest.mark.parametrize("backend", ["pytorch", "onnx"])
@pytest.mark.parametrize("overlap", [0.0, 0.2])
def test_a_target_on_touching_or_overlapping_tiles_and_on_their_corner_is_one_box(backend, overlap, tmp_path):
    """600-px frames in 300-px tiles: with overlap 0 neighbours only touch, and a target on the seam (or on the
    corner of four tiles) comes out of two (four) tiles as pieces sharing an edge; with the default overlap one
    tile sees it whole. One box at the target's pixels either way, from PyTorch and from ONNX."""
    model = _pytorch_model() if backend == "pytorch" else _onnx_model(tmp_path)
    mode = InferenceMode("slice", tile=300, overlap=overlap)
    on_seam, on_corner = _frame(300, 600, at=(297, 100)), _frame(600, 600, at=(297, 297))
    for frame, at in ((on_seam, (297, 100)), (on_corner, (297, 297))):
        (det,) = Inferencer(model, mode, conf=0.9, batch=4)([frame], StageTimer())
        assert det[:, :4].tolist() == [[at[0], at[1], at[0] + 5, at[1] + 5]], (overlap, det)


class PlantedLowBox(BrightestPixel):
    """BrightestPixel plus, in every input, a loose 0.002-scored box from the input's left edge (x 0..74,
    y 60..150): the kind of low-scored box a detector leaves beside a target."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        out[:, 1] = torch.tensor([0.0, 60, 74, 150, 0.002, 0])
        return out


def test_val_at_any_confidence_scores_exactly_the_boxes_detect_returns_there(tmp_path):
    """A 576 x 320 frame in 320-px tiles (at x 0 and 256): the target at 300..308 is seen whole by both, and the
    second tile's low box starts on its seam. Validation merges every box down to 0.001; detection at conf C: the
    boxes validation holds at or above C are exactly detection's, for every C, and the target keeps its own box
    (the low box once grew it to 256..330 at 0.001 but not at 0.25)."""
    from fscfnet.cfg.data import load_data_config
    from fscfnet.data.dataset import IRSTDDataset
    from fscfnet.engine.validator import validate

    net = PlantedLowBox().eval()
    model = InferenceModel(lambda x: net(x).float(), ["target"], 3, 32, 320, torch.device("cpu"), "pytorch", "p.pt")
    frame = _frame(320, 576, at=(300, 100))
    frame[100:108, 300:308] = 255  # an 8 x 8 target
    root = tmp_path / "d"
    for sub in ("images", "labels", "img_idx"):
        (root / sub).mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "f.png"), frame)
    (root / "labels" / "f.txt").write_text(f"0 {304 / 576:.6f} {104 / 320:.6f} {8 / 576:.6f} {8 / 320:.6f}\n")
    (root / "img_idx" / "test.txt").write_text("f\n")
    (tmp_path / "d.yaml").write_text(f"path: {root}\ntrain: img_idx/test.txt\ntest: img_idx/test.txt\n")
    mode = InferenceMode("slice", tile=320, overlap=0.2)
    v = validate(model, IRSTDDataset(load_data_config(tmp_path / "d.yaml"), "test", 320), workers=0, mode=mode)
    (scored,) = v.predictions
    assert [300, 100, 308, 108] in scored[:, :4].tolist()
    for conf in (0.001, 0.0015, 0.002, 0.01, 0.25, 0.99):
        (r,) = Predictor(model, mode, conf=conf)(str(root / "images" / "f.png"))
        kept = scored[scored[:, 4] >= conf]
        np.testing.assert_array_equal(np.column_stack([r.boxes, r.scores]), kept[:, :5], err_msg=f"conf {conf}")


def test_predictor_batches_mixed_frame_sizes_and_returns_original_pixels():
    frames = [_frame(), _frame(300, 500, at=(10, 250)), _frame(1000, 333, at=(300, 900))]
    results = list(Predictor(_pytorch_model(), InferenceMode("native"), conf=0.9, batch=2)(
        [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]))
    assert [r.orig_shape for r in results] == [(1024, 1024), (300, 500), (1000, 333)]
    for r, at in zip(results, (TARGET, (10, 250), (300, 900)), strict=True):
        assert len(r) == 1 and tuple(r.boxes[0]) == (at[0], at[1], at[0] + 5, at[1] + 5)


@pytest.fixture(scope="module")
def mixed_split(tmp_path_factory):
    """A split of frames of mixed sizes up to 1024 x 1024 (demo frames placed on larger dark canvases)."""
    from fscfnet.data.demo import generate_demo

    root = tmp_path_factory.mktemp("mixed")
    generate_demo(root / "demo", seed=0, n_train=4, n_test=4)
    sizes = [(144, 192), (512, 300), (1024, 1024), (700, 960)]
    (root / "d" / "images").mkdir(parents=True)
    (root / "d" / "labels").mkdir()
    (root / "d" / "img_idx").mkdir()
    stems = (root / "demo" / "img_idx" / "test_demo.txt").read_text().split()
    for stem, (h, w) in zip(stems, sizes, strict=True):
        img = cv2.imread(str(root / "demo" / "images" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        canvas = np.full((h, w), 20, np.uint8)
        canvas[:img.shape[0], :img.shape[1]] = img[:h, :w]
        cv2.imwrite(str(root / "d" / "images" / f"{stem}.png"), canvas)
        rows = []
        for line in (root / "demo" / "labels" / f"{stem}.txt").read_text().splitlines():
            c, cx, cy, bw, bh = map(float, line.split())
            rows.append(f"{int(c)} {cx * 192 / w:.6f} {cy * 144 / h:.6f} {bw * 192 / w:.6f} {bh * 144 / h:.6f}")
        (root / "d" / "labels" / f"{stem}.txt").write_text("\n".join(rows) + "\n")
    (root / "d" / "img_idx" / "train_d.txt").write_text("\n".join(stems) + "\n")
    (root / "d" / "img_idx" / "test_d.txt").write_text("\n".join(stems) + "\n")
    (root / "d.yaml").write_text(f"path: {root / 'd'}\ntrain: img_idx/train_d.txt\ntest: img_idx/test_d.txt\n"
                                 f"names: [target]\n")
    return root / "d.yaml", dict(zip(stems, sizes))


@pytest.mark.parametrize("flags,mode", [(["--imgsz", "native"], "native"), (["--slice", "320"], "slice"),
                                        (["--slice", "320", "--full-frame"], "slice"), ([], "letterbox")])
def test_val_scores_mixed_frame_sizes_in_each_mode_with_boxes_inside_each_frame(make_checkpoint, mixed_split,
                                                                                tmp_path, flags, mode):
    data, sizes = mixed_split
    weights = make_checkpoint(tmp_path / "w.pt", data=data, imgsz=96)
    assert val.main(["--weights", str(weights), "--workers", "0", "--save-json", "--batch", "4", "--project",
                     str(tmp_path), "--name", "v", *flags]) == 0
    metrics = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert metrics["mode"]["mode"] == mode and metrics["images"] == 4 and metrics["targets"] > 0
    preds = json.loads((tmp_path / "v" / "predictions.json").read_text())
    assert len(preds) > 0 and {p["image_id"] for p in preds} <= set(sizes)
    for p in preds:
        x, y, w, h = p["bbox"]
        H, W = sizes[p["image_id"]]
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6, p


def test_detect_save_crop_writes_one_crop_per_box_at_its_place(make_checkpoint, mixed_split, tmp_path):
    data, sizes = mixed_split
    weights = make_checkpoint(tmp_path / "w.pt", data=data, imgsz=96)
    image = sorted((data.parent / "d" / "images").glob("*.png"))[2]  # the 1024 x 1024 frame
    assert detect.main(["--weights", str(weights), "--source", str(image), "--slice", "320", "--conf", "0.01",
                        "--save-crop", "--save-txt", "--project", str(tmp_path), "--name", "d"]) == 0
    rows = (tmp_path / "d" / "labels" / f"{image.stem}.txt").read_text().split("\n")
    boxes = [list(map(float, r.split()[1:])) for r in rows if r.strip()]
    crops = sorted((tmp_path / "d" / "crops").glob(f"{image.stem}_*.png"), key=lambda p: int(p.stem.split("_")[-3]))
    assert len(boxes) > 0 and len(crops) == len(boxes)
    frame = cv2.imread(str(image))
    for (cx, cy, w, h), crop_path in zip(boxes, crops, strict=True):
        x1, y1 = (int(v[1:]) for v in crop_path.stem.split("_")[-2:])
        crop = cv2.imread(str(crop_path))
        # at its box: the crop starts at the corner's whole pixel; the label's 6 decimals are 0.001 px at 1024
        assert abs(x1 - (cx - w / 2) * 1024) <= 1.01 and abs(y1 - (cy - h / 2) * 1024) <= 1.01
        assert np.array_equal(crop, frame[y1:y1 + crop.shape[0], x1:x1 + crop.shape[1]])  # the frame's pixels
        # as large as the box, rounded outward to whole pixels (one more for the label's rounding)
        size = np.array(crop.shape[1::-1]) - np.array([w, h]) * 1024
        assert ((0 <= size + 0.01) & (size <= 2.01)).all(), (crop.shape, w * 1024, h * 1024)
    annotated = cv2.imread(str(tmp_path / "d" / image.name))
    assert annotated.shape[0] == 1024 and annotated.shape[1] > 1024  # the zoomed insets beside the frame


def test_an_onnx_model_on_the_gpu_gets_its_batches_in_host_memory():
    """ONNX Runtime reads numpy arrays whatever provider runs the graph: the batch is prepared on the CPU, not
    sent to the GPU to come straight back (on a machine without CUDA, sending it there would raise)."""
    seen: list[torch.device] = []

    def run(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.device)
        return torch.zeros(x.shape[0], 1, 6)

    model = InferenceModel(run, ["target"], 3, 32, 64, torch.device("cuda"), "onnx", "m.onnx")
    Inferencer(model, InferenceMode("letterbox", imgsz=64), 0.25, 2)([np.zeros((64, 64, 3), np.uint8)] * 3, StageTimer())
    assert seen == [torch.device("cpu")] * 2
