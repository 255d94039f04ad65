"""The GPU path (skipped without CUDA; ``python -m pytest -q -m cuda`` on a GPU machine, as benchmarks/gpu_check.sh
does): AMP training on fscfnet.yaml, a GPU-written checkpoint on the CPU, val/detect on CUDA for a checkpoint and
its ONNX and TorchScript exports (against the CPU's answers)."""

from __future__ import annotations

import json

import pytest
import torch

import detect
import train
import val
from conftest import ROOT, tiny_demo_yaml, untrained_checkpoint
from fscfnet.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.cuda

FSCFNET = str(ROOT / "cfg" / "models" / "fscfnet.yaml")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return tiny_demo_yaml(tmp_path_factory.mktemp("data"), n_train=16, n_test=8)


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_amp_training_on_cuda_and_the_checkpoint_loads_on_a_cpu_only_machine(demo, tmp_path, amp):
    args = ["--data", str(demo), "--model", FSCFNET, "--imgsz", "128", "--batch", "8", "--epochs", "2", "--workers", "2",
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
    args = ["--data", str(demo), "--model", FSCFNET, "--imgsz", "64", "--batch", "8", "--epochs", "1", "--workers", "0",
            "--device", "cpu", "--project", str(tmp_path), "--name", "c"]
    assert train.main(args) == 0
    last = tmp_path / "c" / "weights" / "last.pt"
    ckpt = load_checkpoint(last)
    ckpt["train_args"]["epochs"], ckpt["finished"] = 2, False
    torch.save(ckpt, last)
    assert train.main(["--resume", str(last), "--device", "cuda"]) == 0  # fp16 scaler on, stored scaler {}


@pytest.mark.parametrize("fmt", ["pt", "onnx", "torchscript"])
def test_val_and_detect_on_cuda_agree_with_cpu(demo, tmp_path, fmt):
    weights = untrained_checkpoint(tmp_path / "w.pt", cfg="fscfnet", data=demo, imgsz=96, weight_scale=0.1)
    if fmt != "pt":
        from fscfnet.export import export

        if fmt == "onnx":
            pytest.importorskip("onnxruntime")
        weights = export(weights, fmt)
    metrics = {}
    for device in ("cpu", "cuda"):
        assert val.main(["--weights", str(weights), "--device", device, "--workers", "0", "--project", str(tmp_path),
                         "--name", f"{fmt}_{device}"]) == 0
        metrics[device] = json.loads((tmp_path / f"{fmt}_{device}" / "metrics.json").read_text())
    for k in ("ap50", "ap50_95", "precision", "recall"):
        a, b = metrics["cpu"][k], metrics["cuda"][k]
        assert (a is None and b is None) or abs(a - b) < 0.02, (k, a, b)
    images = demo.parent / "demo" / "images"
    assert detect.main(["--weights", str(weights), "--source", str(images), "--device", "cuda", "--project",
                        str(tmp_path), "--name", f"det_{fmt}"]) == 0
    assert len(list((tmp_path / f"det_{fmt}").glob("*.png"))) == len(list(images.glob("*.png"))) == 24


def test_the_loss_and_its_backward_make_no_host_synchronisation():
    """On CUDA the assigner and the box terms compute densely: no nonzero, no .item(), no blocking copy between
    the model's outputs and the gradients (torch's sync debug mode raises on any)."""
    from fscfnet import build_model
    from fscfnet.detection.loss import V10DetectionLoss

    torch.manual_seed(0)
    model = build_model(FSCFNET, nc=1).cuda()
    out = model(torch.rand(4, 3, 128, 128, device="cuda"))
    targets = torch.tensor([[0, 0, 0.3, 0.4, 0.03, 0.04], [0, 0, 0.7, 0.2, 0.2, 0.1], [3, 0, 0.5, 0.5, 0.02, 0.02]])
    loss_fn = V10DetectionLoss(model)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss, parts = loss_fn(out, targets, (128, 128))
        loss.backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(parts).all() and (parts > 0).all()
