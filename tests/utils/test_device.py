"""Devices: --device spellings, one device per training process, the API's device, ONNX Runtime's CUDA device."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import torch

import fscfnet.api
from fscfnet import FSCFNet
from fscfnet.cfg import MODELS_DIR
from fscfnet.engine.backends import META_KEY, load_inference_model
from fscfnet.errors import UserError
from fscfnet.utils.device import parse_devices, select_device, training_device


def _gpus(monkeypatch, n: int) -> None:
    """Pretend ``n`` CUDA devices are visible (no GPU is touched: only the counts are read)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


def cuda(*ids: int) -> list[torch.device]:
    return [torch.device(f"cuda:{i}") for i in ids]


def test_cuda_spellings_parse_with_gpus_and_give_one_line_error_without(monkeypatch):
    _gpus(monkeypatch, 2)
    assert parse_devices("cuda") == cuda(0)
    assert parse_devices(" CUDA ") == cuda(0)
    assert parse_devices("cuda:1") == cuda(1)
    assert parse_devices("cuda:0,1") == cuda(0, 1)
    assert parse_devices("cuda:0,cuda:1") == cuda(0, 1)
    assert parse_devices("0,1") == cuda(0, 1)
    assert parse_devices("auto") == cuda(0)
    assert select_device("cuda") == torch.device("cuda:0")
    with pytest.raises(UserError, match=r"CUDA device 2 is not available \(2 visible\)"):
        parse_devices("cuda:2")
    with pytest.raises(UserError, match="distinct"):
        parse_devices("0,0")
    with pytest.raises(UserError, match="use auto, cpu, cuda"):
        parse_devices("gpu")
    _gpus(monkeypatch, 0)
    for spec in ("cuda", "cuda:0", "0"):
        with pytest.raises(UserError) as e:
            parse_devices(spec)
        msg = str(e.value)
        assert "\n" not in msg and "CUDA device 0 is not available (0 visible); use --device cpu or auto" in msg
    assert parse_devices("auto") == [torch.device("cpu")]


def test_training_device_one_process_per_gpu(monkeypatch):
    _gpus(monkeypatch, 4)
    with pytest.raises(UserError) as e:
        training_device("0,1", world=1, local_rank=0)
    assert str(e.value) == ("--device 0,1 names 2 GPUs but this is one process: launch DDP with torchrun "
                            "--nproc_per_node 2 train.py ... (or pick one GPU: --device 0)")
    assert training_device("cuda:2", 1, 0) == torch.device("cuda:2")
    assert training_device("cpu", 1, 0) == torch.device("cpu")
    assert [training_device("0,1", 2, r) for r in (0, 1)] == cuda(0, 1)
    assert [training_device("cuda:2,3", 2, r) for r in (0, 1)] == cuda(2, 3)  # rank i -> i-th GPU named
    assert [training_device("auto", 3, r) for r in (0, 1, 2)] == cuda(0, 1, 2)
    assert [training_device("cuda", 2, r) for r in (0, 1)] == cuda(0, 1)
    assert training_device("cpu", 2, 1) == torch.device("cpu")
    with pytest.raises(UserError, match="--nproc_per_node 2"):
        training_device("0,1", 3, 2)
    with pytest.raises(UserError, match="process 4 of 5 has no GPU of its own"):
        training_device("auto", 5, 4)
    _gpus(monkeypatch, 0)
    assert [training_device("auto", 2, r) for r in (0, 1)] == [torch.device("cpu")] * 2  # gloo on CPUs
    with pytest.raises(UserError, match="not available"):
        training_device("cuda", 2, 0)


class _FakeTrainer:
    """Stands in for :class:`Trainer`: records the config and trains nothing."""

    configs: list = []

    def __init__(self, cfg):
        self.configs.append(cfg)
        self.wdir = Path("/nonexistent/weights")

    def train(self) -> dict:
        return {"ap50": 0.5}


def test_api_train_uses_the_constructor_device_unless_given_its_own(monkeypatch):
    monkeypatch.setattr(fscfnet.api, "Trainer", _FakeTrainer)
    _FakeTrainer.configs.clear()
    model = FSCFNet(MODELS_DIR / "yolov10n.yaml", device="cpu", nc=1)
    assert model.train(data="demo", epochs=1) == {"ap50": 0.5}
    model.train(data="demo", epochs=1, device="auto")
    assert [c.device for c in _FakeTrainer.configs] == ["cpu", "auto"]
    assert model.device_spec == "cpu" and model.device == torch.device("cpu")
    _gpus(monkeypatch, 2)
    FSCFNet(MODELS_DIR / "yolov10n.yaml", device="0,1", nc=1).train(data="demo")
    assert _FakeTrainer.configs[-1].device == "0,1"  # the spec itself, not just the first device


def _fake_onnxruntime(session_providers: list[str]) -> tuple[ModuleType, list]:
    """An ``onnxruntime`` stand-in offering CUDA; its sessions record the providers asked for and report
    ``session_providers`` as the ones they got."""
    asked: list = []
    ort = ModuleType("onnxruntime")
    ort.get_available_providers = lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    meta = json.dumps({"names": ["target"], "ch": 3, "stride": 32, "imgsz": 64})

    class InferenceSession:
        def __init__(self, path: str, providers: list):
            asked.append(providers)

        def get_providers(self) -> list[str]:
            return list(session_providers)

        def get_modelmeta(self):
            return SimpleNamespace(custom_metadata_map={META_KEY: meta})

        def get_inputs(self):
            return [SimpleNamespace(name="images")]

    ort.InferenceSession = InferenceSession
    return ort, asked


@pytest.mark.parametrize("got, device", [(["CPUExecutionProvider"], "cpu"),
                                         (["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda:1")])
def test_onnx_runtime_gets_the_cuda_index_and_reports_where_it_runs(tmp_path, monkeypatch, got, device):
    ort, asked = _fake_onnxruntime(got)
    monkeypatch.setitem(sys.modules, "onnxruntime", ort)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x07\x12\x00")  # starts like an ONNX protobuf; the fake session never reads it
    model = load_inference_model(path, torch.device("cuda:1"))
    assert model.format == "onnx" and model.device == torch.device(device)
    assert asked == [[("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]]
