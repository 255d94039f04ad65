"""Export and deployment: ONNX Runtime and TorchScript agree with PyTorch; val.py takes exports; the benchmark."""

from __future__ import annotations

import json
import sys
from types import ModuleType, SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

import detect
import val
from fscfnet import FSCFNet
from fscfnet.bench import main as bench_main
from fscfnet.cfg import MODELS_DIR
from fscfnet.engine.backends import load_inference_model
from fscfnet.export import export
from fscfnet.export import main as export_main

pytest.importorskip("onnxruntime", reason="onnxruntime (requirements-dev.txt) runs the exported graphs")


def _match(ref, other, conf: float, margin: float = 1e-4, max_det: int = 300) -> int:
    """Every detection of ``ref`` clearly above ``conf`` has a twin among all of ``other``'s (same class, score
    within 1e-3, every box side within 1 px), and vice versa; returns the number of ``ref``'s matched. A detection
    within ``margin`` of the cut may fall on either side of it in the other runtime, so it need not be matched
    but may serve as a twin. When all ``max_det`` slots are taken, only scores clearly above the last one count
    (which near-equal scores make the cut is arbitrary)."""
    def clear(r) -> np.ndarray:
        floor = max(conf, r.scores.min()) if len(r.scores) == max_det else conf
        return r.scores >= floor + margin

    for a, b in ((ref, other), (other, ref)):
        keep = clear(a)
        for box, score, cls in zip(a.boxes[keep], a.scores[keep], a.classes[keep]):
            err = np.abs(b.boxes - box).max(1) + 1e3 * np.abs(b.scores - score) + 1e3 * (b.classes != cls)
            assert len(err) and err.min() <= 1.0, (a.path, box, score, b.boxes, b.scores)
    return int(clear(ref).sum())


def test_onnx_runtime_matches_pytorch_on_nuaa_sirst(make_checkpoint, shared_dataset, tmp_path):
    root = shared_dataset("NUAA-SIRST")
    stems = (root / "img_idx" / "test_NUAA-SIRST.txt").read_text().split()[:24]
    images = [str(root / "images" / f"{s}.png") for s in stems]
    weights = make_checkpoint(tmp_path / "fscfnet.pt", cfg="fscfnet", imgsz=256, weight_scale=0.1)
    onnx = export(weights, "onnx")
    torch_results = FSCFNet(weights, device="cpu").predict(images, conf=0.25, batch=4)
    onnx_results = FSCFNet(onnx, device="cpu").predict(images, conf=0.25, batch=4)
    # this random-weight model saturates (scores of exactly 1.0, ties) on bright frames: compare the others
    pairs = [(a, b) for a, b in zip(torch_results, onnx_results) if (a.scores > 0.99).sum() == 0]
    matched = sum(_match(a, b, 0.25) for a, b in pairs)
    assert len(pairs) >= 8 and matched >= 20, (len(pairs), matched)  # not vacuous


@pytest.fixture(scope="module")
def demo(make_demo, tmp_path_factory):
    return make_demo(4, 8)


@pytest.fixture(scope="module")
def exported(make_checkpoint, tmp_path_factory, demo):
    weights = make_checkpoint(tmp_path_factory.mktemp("w") / "m.pt", data=demo, imgsz=96)
    return {"pt": weights, "onnx": export(weights, "onnx"), "torchscript": export(weights, "torchscript"),
            "dynamic": export(weights, "onnx", dynamic=True, output=weights.with_name("dyn.onnx"))}


def _val_metrics(tmp_path, weights, name, *extra) -> dict:
    """val.py's metrics.json, plus every prediction it wrote (>= 0.001) as Result-like objects under key "_pred"."""
    assert val.main(["--weights", str(weights), "--project", str(tmp_path), "--name", name, "--workers", "0",
                     "--device", "cpu", "--save-json", *extra]) == 0
    metrics = json.loads((tmp_path / name / "metrics.json").read_text())
    metrics.pop("ms_per_image")
    by_image: dict = {}
    for p in json.loads((tmp_path / name / "predictions.json").read_text()):
        x, y, w, h = p["bbox"]
        by_image.setdefault(p["image_id"], []).append([x, y, x + w, y + h, p["score"], p["category_id"]])
    metrics["_pred"] = {k: SimpleNamespace(path=k, boxes=np.array(v)[:, :4], scores=np.array(v)[:, 4],
                                           classes=np.array(v)[:, 5]) for k, v in sorted(by_image.items())}
    return metrics


def _same_predictions(a: dict, b: dict) -> int:
    """Every prediction val.py wrote, paired between two runs (see _match); the number paired."""
    assert a["_pred"].keys() == b["_pred"].keys()
    return sum(_match(a["_pred"][k], b["_pred"][k], 0.001) for k in a["_pred"])


# A random-weight model's AP on the demo is 0 under every runtime, so the metrics agree trivially: what is compared
# is every prediction val.py scores (the metrics are a function of them), plus what val.py counted. The max-F1
# operating point (P, R, Fa) sits among near-equal scores, where 1e-6 differences between runtimes move it.
ROBUST = ("ap50", "ap50_95", "images", "targets")


def test_val_takes_onnx_and_torchscript_exports(exported, tmp_path, capsys):
    ref = _val_metrics(tmp_path, exported["pt"], "pt")
    assert ref["targets"] > 0
    n_pred = sum(len(r.scores) for r in ref["_pred"].values())
    for kind in ("onnx", "torchscript", "dynamic"):
        got = _val_metrics(tmp_path, exported[kind], kind)
        # nearly all are clear of the cut and the slot floor, and each of those has its twin
        assert got.keys() == ref.keys() and _same_predictions(got, ref) >= 0.9 * n_pred, (kind, n_pred)
        for k in ROBUST:
            assert got[k] == pytest.approx(ref[k], abs=2e-3), (kind, k)
    # a static ONNX graph takes only its size; the dynamic one takes others and still agrees with PyTorch
    assert val.main(["--weights", str(exported["onnx"]), "--imgsz", "128", "--device", "cpu"]) == 2
    assert ("exported for 96x96 input only, so letterbox 128 cannot run; use --imgsz 96 or --slice 96, or export "
            "again with --dynamic") in capsys.readouterr().err
    ref128 = _val_metrics(tmp_path, exported["pt"], "pt128", "--imgsz", "128")
    dyn128 = _val_metrics(tmp_path, exported["dynamic"], "dyn128", "--imgsz", "128")
    assert [dyn128[k] for k in ROBUST] == pytest.approx([ref128[k] for k in ROBUST], abs=2e-3)
    assert _same_predictions(dyn128, ref128) >= 0.9 * sum(len(r.scores) for r in ref128["_pred"].values())


def test_exported_batch_is_dynamic_and_boxes_agree(exported, demo):
    images = sorted(str(p) for p in (demo.parent / "demo" / "images").glob("*.png"))[:6]
    ref = FSCFNet(exported["pt"], device="cpu").predict(images, conf=0.25, batch=3)
    for kind in ("onnx", "torchscript"):
        got = FSCFNet(exported[kind], device="cpu").predict(images, conf=0.25, batch=3)
        assert sum(_match(a, b, 0.25) for a, b in zip(ref, got)) > 0


def test_export_errors(exported, tmp_path, capsys, monkeypatch):
    assert export_main(["--weights", str(exported["pt"]), "--format", "tflite"]) == 2
    assert "--format 'tflite': choose one of onnx, torchscript" in capsys.readouterr().err
    assert export_main(["--weights", str(exported["onnx"])]) == 2
    assert "is already a onnx export; export from the .pt checkpoint" in capsys.readouterr().err
    assert export_main(["--weights", str(exported["pt"]), "--imgsz", "100"]) == 2
    assert "multiple of the model stride 32" in capsys.readouterr().err
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    assert export_main(["--weights", str(exported["pt"]), "--output", str(tmp_path / "x.onnx")]) == 2
    assert "pip install onnx onnxscript" in capsys.readouterr().err and not (tmp_path / "x.onnx").exists()


def test_bench_reports_every_backend_of_every_model_under_one_protocol(tmp_path, capsys, monkeypatch):
    import fscfnet.utils.timing as timing

    calls = []
    real = timing.time_forward
    monkeypatch.setattr(timing, "time_forward", lambda fn, x, iters, warmup: calls.append((iters, warmup)) or
                        real(fn, x, iters, warmup))
    out = tmp_path / "b.json"
    assert bench_main(["--model", "yolov10n", str(MODELS_DIR / "fscfnet.yaml"), "--imgsz", "64",
                       "--iters", "3", "--warmup", "1", "--rounds", "2", "--device", "cpu", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["protocol"] == {"iters": 3, "warmup": 1, "rounds": 2} and r["layout"] == "channels-last"
    assert r["provenance"]["torch"] == torch.__version__
    y = r["models"]["yolov10n"]
    assert y["params"] == 2_707_414 and y["params_fused"] == 2_265_347 and y["gflops_fused"] < y["gflops"]
    for m in ("yolov10n", "fscfnet"):
        assert set(r["models"][m]["backends"]) == {"pytorch", "pytorch-fused", "onnxruntime"}
        for s in r["models"][m]["backends"].values():
            assert s["samples"] == 6 and 0 < s["min_ms"] <= s["median_ms"]
            assert s["images_per_s"] == pytest.approx(1e3 / s["median_ms"])
    assert calls == [(3, 1)] * 12  # 2 models x 3 backends x 2 rounds, each warmed up and timed alike
    assert "onnxruntime" in capsys.readouterr().out


def test_val_and_detect_report_cpu_when_onnx_runtime_has_no_cuda(exported, demo, tmp_path, capsys, monkeypatch):
    """--device 0 on a (simulated) GPU machine whose ONNX Runtime runs on the CPU only: the model really ran on
    the CPU, and val.py and detect.py say so."""
    import onnxruntime as real

    asked: list = []

    class Session(real.InferenceSession):  # CUDA offered, but every session falls back to the CPU
        def __init__(self, path, providers):
            asked.append(providers)
            super().__init__(path, providers=["CPUExecutionProvider"])

    fake = ModuleType("onnxruntime")
    fake.InferenceSession = Session
    fake.get_available_providers = lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setitem(sys.modules, "onnxruntime", fake)
    from fscfnet.commands import detect as detect_command
    from fscfnet.commands import val as val_command

    for cli in (val_command, detect_command):  # as if --device parsed on a GPU machine; torch itself sees no CUDA
        monkeypatch.setattr(cli, "select_device", lambda spec: torch.device("cuda:0"))
    capsys.readouterr()
    assert val.main(["--weights", str(exported["onnx"]), "--device", "0", "--workers", "0",
                     "--project", str(tmp_path), "--name", "v"]) == 0
    assert "postprocess, letterbox 96 on cpu (onnx)" in capsys.readouterr().out
    image = sorted((demo.parent / "demo" / "images").glob("*.png"))[0]
    assert detect.main(["--weights", str(exported["onnx"]), "--device", "cuda", "--source", str(image),
                        "--project", str(tmp_path), "--name", "d"]) == 0
    assert "postprocess, letterbox 96 on cpu (onnx)" in capsys.readouterr().out
    assert asked == [[("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]] * 2


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_scale_and_input_normalisation_survive_save_load_and_export(make_checkpoint, tmp_path, fmt):
    """What a model was trained with (native-scale crops, a 14-bit sensor's range) travels with its checkpoint
    and its exports, so val.py and detect.py read frames and choose their mode as training did."""
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    weights = make_checkpoint(tmp_path / "m.pt", imgsz=96)
    ckpt = torch.load(weights, weights_only=True)
    ckpt["train_args"].update(scale="native", input_norm="range 0 16383")
    torch.save(ckpt, weights)
    for path in (weights, export(weights, fmt, dynamic=fmt == "onnx")):
        model = load_inference_model(path)
        assert (model.scale, str(model.norm)) == ("native", "range 0 16383"), path
        assert model.default_mode().kind == "native" and model.default_mode().imgsz == 96
    default = load_inference_model(make_checkpoint(tmp_path / "plain.pt", imgsz=96))
    assert (default.scale, str(default.norm), default.default_mode().describe()) == ("resize", "8bit", "letterbox 96")


def test_several_classes_export_and_detect_with_their_names(make_checkpoint, tmp_path):
    """A four-class model: the ONNX export predicts the same boxes and classes as the checkpoint, carries the class
    names, and detect --save-txt names the class indices (classes.txt) and labels each drawn box with its class."""
    pytest.importorskip("onnxruntime")
    from fscfnet.utils.plots import box_label, draw_boxes

    names = ("AIRPLANE", "BIRD", "DRONE", "HELICOPTER")
    weights = make_checkpoint(tmp_path / "m.pt", imgsz=96, bias=0.0, names=names)
    onnx = export(weights, "onnx", dynamic=True)
    img = np.full((96, 128), 40, np.uint8)
    img[30:35, 60:65] = 250
    cv2.imwrite(str(tmp_path / "frame.png"), img)
    labels = {}
    for path in (weights, onnx):
        assert load_inference_model(path).names == list(names), path
        assert detect.main(["--weights", str(path), "--source", str(tmp_path / "frame.png"), "--save-txt",
                            "--conf", "0.3", "--project", str(tmp_path), "--name", path.suffix[1:]]) == 0
        out = tmp_path / path.suffix[1:]
        assert (out / "classes.txt").read_text() == "AIRPLANE\nBIRD\nDRONE\nHELICOPTER\n"
        labels[path.suffix] = np.loadtxt(out / "labels" / "frame.txt", ndmin=2)
    pt, ox = labels[".pt"], labels[".onnx"]
    assert len(pt) > 0 and pt.shape == ox.shape and set(pt[:, 0]) <= {0, 1, 2, 3}
    assert np.array_equal(pt[:, 0], ox[:, 0]) and np.allclose(pt[:, 1:], ox[:, 1:], atol=1e-3)
    assert box_label(3, 0.5, names) == "HELICOPTER 0.50" and box_label(0, 0.5, ("target",)) == "0.50"
    box = np.array([[60.0, 30.0, 65.0, 35.0]])
    rgb = np.zeros((96, 128, 3), np.uint8)
    one, named = draw_boxes(rgb, box, np.array([3]), np.array([0.5])), draw_boxes(
        rgb, box, np.array([3]), np.array([0.5]), names=names)
    assert (named != one).any()  # the class name is written beside the score
