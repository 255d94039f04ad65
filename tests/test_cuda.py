"""The GPU path (skipped without CUDA; ``python -m pytest -q -m cuda`` on a GPU machine, as benchmarks/gpu_check.sh
does): AMP training on fscfnet.yaml, a GPU-written checkpoint on the CPU, val/detect on CUDA for a checkpoint and
its ONNX and TorchScript exports (against the CPU's answers)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import detect
import train
import val
from fscfnet import FSCFNet
from fscfnet.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.cuda



@pytest.fixture(scope="module")
def demo(make_demo, tmp_path_factory):
    return make_demo(16, 8)


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_amp_training_on_cuda_and_the_checkpoint_loads_on_a_cpu_only_machine(demo, tmp_path, amp):
    args = ["--data", str(demo), "--model", "fscfnet", "--imgsz", "128", "--batch", "8", "--epochs", "2", "--workers", "2",
            "--device", "cuda", "--amp", amp, "--project", str(tmp_path), "--name", amp]
    assert train.main(args) == 0
    last = tmp_path / amp / "weights" / "last.pt"
    # a plain load with no CUDA mapping: every tensor must already be CPU data
    ckpt = torch.load(last, map_location=None, weights_only=True)
    tensors = [t for t in _walk(ckpt) if isinstance(t, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert bool(ckpt["scaler"]) == (amp == "fp16")
    # resume it on the CPU (GPU -> CPU): one more epoch
    ckpt["train_args"]["epochs"], ckpt["finished"] = 3, False
    torch.save(ckpt, last)
    assert train.main(["--resume", str(last), "--device", "cpu", "--workers", "0"]) == 0
    assert load_checkpoint(last)["epoch"] == 2


def _walk(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _walk(v)
    else:
        yield obj


def test_cpu_run_resumes_on_cuda(demo, tmp_path):
    args = ["--data", str(demo), "--model", "fscfnet", "--imgsz", "64", "--batch", "8", "--epochs", "1", "--workers", "0",
            "--device", "cpu", "--project", str(tmp_path), "--name", "c"]
    assert train.main(args) == 0
    last = tmp_path / "c" / "weights" / "last.pt"
    ckpt = load_checkpoint(last)
    ckpt["train_args"]["epochs"], ckpt["finished"] = 2, False
    torch.save(ckpt, last)
    assert train.main(["--resume", str(last), "--device", "cuda"]) == 0  # fp16 scaler on, stored scaler {}


CONF, CLEAR = 0.25, 0.02  # detections compared at --conf 0.25; those within CLEAR of it may fall on either side
BOX_TOL_PX, SCORE_TOL = 1.0, 0.01  # per box side (original pixels) and per score


@pytest.fixture
def full_float32(monkeypatch):
    """No TF32 on the GPU for the duration of a test. cuDNN's default TF32 convolutions round inputs and weights
    to 10 mantissa bits; emulated on the CPU, that moves this random-weight model's boxes by up to 23 px (median
    0.14 px) and scores by up to 0.16, while rounding to 2^-18 (float32 algorithm differences, and more) moves
    them by < 0.2 px and < 1e-3: with TF32 off, one tolerance separates rounding from a wrong result."""
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if ort is not None:
        session = ort.InferenceSession

        def no_tf32_session(path, sess_options=None, providers=None, **kwargs):  # ONNX Runtime's CUDA EP
            providers = [(p[0], {**p[1], "use_tf32": "0"}) if isinstance(p, tuple) and p[0] == "CUDAExecutionProvider"
                         else p for p in providers or []]
            return session(path, sess_options, providers=providers, **kwargs)

        monkeypatch.setattr(ort, "InferenceSession", no_tf32_session)
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _assert_same_detections(ref: list, got: list, what: str) -> int:
    """Per image, every detection of ``ref`` scoring >= CONF + CLEAR has one in ``got`` with the same class, every
    box side within BOX_TOL_PX and the score within SCORE_TOL, and vice versa; returns how many were matched."""
    assert [r.path for r in got] == [r.path for r in ref], what
    matched = 0
    for a, b in zip(ref, got, strict=True):
        assert tuple(a.orig_shape) == tuple(b.orig_shape), (what, a.path)
        for x, y in ((a, b), (b, a)):
            for box, score, cls in zip(x.boxes, x.scores, x.classes, strict=True):
                if score < CONF + CLEAR:
                    continue
                near = (np.abs(np.asarray(y.boxes) - box).max(1) <= BOX_TOL_PX) if len(y.boxes) else np.zeros(0, bool)
                near &= (np.abs(np.asarray(y.scores) - score) <= SCORE_TOL) & (np.asarray(y.classes) == cls)
                assert near.any(), (what, x.path, box.tolist(), float(score), np.asarray(y.boxes).tolist(),
                                    np.asarray(y.scores).tolist())
                matched += 1
    return matched


def _labels_as_results(folder, images: list, shape: tuple[int, int]) -> list:
    """detect.py's ``--save-txt --save-conf`` label files read back as Result-like objects in original pixels."""
    h, w = shape
    out = []
    for p in images:
        rows = np.loadtxt(folder / f"{p.stem}.txt", ndmin=2).reshape(-1, 6)
        cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
        out.append(SimpleNamespace(path=str(p), orig_shape=shape, classes=rows[:, 0].astype(int), scores=rows[:, 5],
                                   boxes=np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)))
    return out


@pytest.mark.parametrize("fmt", ["pt", "onnx", "torchscript"])
def test_val_and_detect_on_cuda_agree_with_cpu(make_checkpoint, demo, tmp_path, fmt, full_float32):
    # a model that detects something: ~90 detections >= 0.25 on the 24 demo frames (random weights, calibrated BN)
    weights = make_checkpoint(tmp_path / "w.pt", cfg="fscfnet", data=demo, imgsz=96)
    if fmt != "pt":
        from fscfnet.export import export

        if fmt == "onnx":
            pytest.importorskip("onnxruntime")
        weights = export(weights, fmt)
    images = sorted((demo.parent / "demo" / "images").glob("*.png"))
    assert len(images) == 24
    # the detections themselves: CUDA's against the CPU's, image by image
    results = {device: FSCFNet(weights, device=device).predict([str(p) for p in images], conf=CONF, batch=4)
               for device in ("cpu", "cuda")}
    matched = _assert_same_detections(results["cpu"], results["cuda"], f"{fmt} predict")
    assert matched >= 100, matched  # both directions together: not vacuous
    metrics = {}
    for device in ("cpu", "cuda"):
        assert val.main(["--weights", str(weights), "--device", device, "--workers", "0", "--project", str(tmp_path),
                         "--name", f"{fmt}_{device}"]) == 0
        metrics[device] = json.loads((tmp_path / f"{fmt}_{device}" / "metrics.json").read_text())
    assert metrics["cpu"]["targets"] == metrics["cuda"]["targets"] > 0
    for k in ("ap50", "ap50_95", "precision", "recall"):
        a, b = metrics["cpu"][k], metrics["cuda"][k]
        assert (a is None and b is None) or abs(a - b) < 0.02, (k, a, b)
    # detect.py on CUDA: its label files hold the CPU's detections
    assert detect.main(["--weights", str(weights), "--source", str(images[0].parent), "--device", "cuda",
                        "--project", str(tmp_path), "--name", f"det_{fmt}", "--conf", str(CONF), "--save-txt",
                        "--save-conf"]) == 0
    assert len(list((tmp_path / f"det_{fmt}").glob("*.png"))) == len(images)
    labels = _labels_as_results(tmp_path / f"det_{fmt}" / "labels", images, tuple(results["cpu"][0].orig_shape))
    assert _assert_same_detections(results["cpu"], labels, f"{fmt} detect.py") >= 100


def test_the_loss_and_its_backward_make_no_host_synchronisation():
    """On CUDA the assigner and the box terms compute densely: no nonzero, no .item(), no blocking copy between
    the model's outputs and the gradients (torch's sync debug mode raises on any)."""
    from fscfnet import build_model
    from fscfnet.data.dataset import pad_targets
    from fscfnet.detection.loss import V10DetectionLoss

    torch.manual_seed(0)
    model = build_model("fscfnet", nc=1).cuda()
    out = model(torch.rand(4, 3, 128, 128, device="cuda"))
    per_image = [torch.tensor([[0, 0.3, 0.4, 0.03, 0.04], [0, 0.7, 0.2, 0.2, 0.1]]), torch.zeros(0, 5), torch.zeros(0, 5),
                 torch.tensor([[0, 0.5, 0.5, 0.02, 0.02]])]
    targets = pad_targets(per_image, 128, 128)  # on the CPU, as the loader gives them
    loss_fn = V10DetectionLoss(model)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss, parts = loss_fn(out, targets)
        loss.backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(parts).all() and (parts > 0).all()
