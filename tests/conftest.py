"""Shared test helpers: project paths and the model configs under test."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL_CFGS = sorted((ROOT / "cfg" / "models").glob("*.yaml"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` run only where a CUDA GPU is visible (``python -m pytest -m cuda`` on a GPU machine)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none visible); run python -m pytest -m cuda on a GPU machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)

SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


def shared_dataset(name: str, marker: str = "images") -> Path:
    """Path of a real dataset beside the checkout; skips the test (with the reason) when it is absent.
    ``marker``: the folder whose presence shows it is there (IRSTD-1K's upstream layout has ``IRSTD1k_Img``)."""
    path = SHARED_DATASETS / name
    if not (path / marker).is_dir():
        pytest.skip(f"real dataset {name} not found at {path} (no {marker}/; only present beside the developers' "
                    f"checkout)")
    return path


def tiny_demo_yaml(folder: Path, n_train: int, n_test: int) -> Path:
    """A small synthetic demo dataset in ``folder`` and a dataset YAML pointing at it."""
    from fscfnet.data.demo import generate_demo

    root = folder / "demo"
    generate_demo(root, seed=0, n_train=n_train, n_test=n_test)
    cfg = folder / "demo.yaml"
    cfg.write_text(f"path: {root}\ntrain: img_idx/train_demo.txt\ntest: img_idx/test_demo.txt\nnames: [target]\n")
    return cfg


def reference(module: str):
    """An independent reference library (pycocotools, pytorch_wavelets, scipy), imported where a test needs it:
    requirements-dev.txt installs them all (CI runs every such test); on a machine without one (the GPU image)
    the test that needs it skips and the rest of its module still collects and runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytorch_wavelets imports the deprecated pkg_resources
        return pytest.importorskip(module, reason=f"reference library {module} not installed "
                                                  f"(pip install -r requirements-dev.txt)")


def wait_for(cond: Callable[[], bool], timeout: float = 300.0, poll: float = 0.05) -> bool:
    """Poll ``cond`` until it holds (True) or ``timeout`` seconds pass (False)."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(poll)
    return False


def untrained_checkpoint(path: Path, cfg: str = "yolov10n", data: str | Path = "demo", imgsz: int = 96,
                         bias: float = -4.0, weight_scale: float = 1.0) -> Path:
    """A checkpoint of a freshly built model whose detections have distinct, ranked scores: BatchNorm statistics
    calibrated on random images (with the initial ones, activations vanish and every score ties), then the
    one-to-one class outputs set to ``weight_scale`` x their weights and ``bias``."""
    from fscfnet import build_model
    from fscfnet.engine.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model(ROOT / "cfg" / "models" / f"{cfg}.yaml", nc=1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a plain average over the calibration batches
    with torch.no_grad():
        for _ in range(2):
            model.train()(torch.rand(4, 3, 128, 128))
        for branch in model.head.one2one.cls:
            branch[-1].weight.mul_(weight_scale)
            branch[-1].bias.fill_(bias)
    return save_checkpoint(path, model.eval(), ["target"], train_args={"data": str(data), "imgsz": imgsz}, epoch=3,
                           metrics={"ap50": 0.1})
