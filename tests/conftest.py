"""Shared fixtures: the repository root, demo datasets and untrained checkpoints built once per session, real
datasets beside the checkout (skipped when absent), and polling. Tests mirror the package (tests/engine/ tests
fscfnet/engine/, ...). The repository root is put on ``sys.path`` so the scripts ``train.py``, ``val.py`` and
``detect.py`` import as modules."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


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


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (where train.py, benchmarks/ and pyproject.toml are)."""
    return ROOT


@pytest.fixture(scope="session")
def make_demo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, int], Path]:
    """``make_demo(n_train, n_test)``: a dataset YAML over a small synthetic demo set, built once per size."""
    from fscfnet.data.demo import generate_demo

    made: dict[tuple[int, int], Path] = {}

    def make(n_train: int, n_test: int) -> Path:
        if (n_train, n_test) not in made:
            folder = tmp_path_factory.mktemp(f"demo{n_train}_{n_test}")
            generate_demo(folder / "demo", seed=0, n_train=n_train, n_test=n_test)
            cfg = folder / "demo.yaml"
            cfg.write_text(f"path: {folder / 'demo'}\ntrain: img_idx/train_demo.txt\ntest: img_idx/test_demo.txt\n"
                           f"names: [target]\n")
            made[n_train, n_test] = cfg
        return made[n_train, n_test]

    return make


@pytest.fixture(scope="module")
def tiny(make_demo: Callable[[int, int], Path]) -> Path:
    """16 training images (two batches of 8) and 8 test images."""
    return make_demo(16, 8)


@pytest.fixture(scope="module")
def one_batch(make_demo: Callable[[int, int], Path]) -> Path:
    """8 training images (one batch of 8: one iteration per epoch) and 4 test images."""
    return make_demo(8, 4)


def untrained_checkpoint(path: Path, cfg: str = "yolov10n", data: str | Path = "demo", imgsz: int = 96,
                         bias: float = -4.0, weight_scale: float = 1.0, names: tuple[str, ...] = ("target",)) -> Path:
    """A checkpoint of a freshly built model whose detections have distinct, ranked scores: BatchNorm statistics
    calibrated on random images (with the initial ones, activations vanish and every score ties), then the
    one-to-one class outputs set to ``weight_scale`` x their weights and ``bias``."""
    from fscfnet import build_model
    from fscfnet.engine.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model(cfg, nc=len(names))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a plain average over the calibration batches
    with torch.no_grad():
        for _ in range(2):
            model.train()(torch.rand(4, 3, 128, 128))
        for branch in model.head.one2one.cls:
            branch[-1].weight.mul_(weight_scale)
            branch[-1].bias.fill_(bias)
    return save_checkpoint(path, model.eval(), list(names), train_args={"data": str(data), "imgsz": imgsz}, epoch=3,
                           metrics={"ap50": 0.1})


@pytest.fixture(scope="session")
def make_checkpoint() -> Callable[..., Path]:
    """``make_checkpoint(path, cfg="yolov10n", data="demo", imgsz=96, bias=-4.0, weight_scale=1.0)``: see
    :func:`untrained_checkpoint`."""
    return untrained_checkpoint


@pytest.fixture(scope="session")
def shared_dataset() -> Callable[..., Path]:
    """``shared_dataset(name, marker="images")``: a real dataset beside the checkout; skips the test (with the
    reason) when it is absent (``marker``: the folder that shows it is there)."""
    def find(name: str, marker: str = "images") -> Path:
        path = SHARED_DATASETS / name
        if not (path / marker).is_dir():
            pytest.skip(f"real dataset {name} not found at {path} (no {marker}/; only present beside the "
                        f"developers' checkout)")
        return path

    return find


@pytest.fixture(scope="session")
def wait_for() -> Callable[..., bool]:
    """``wait_for(cond, timeout=300, poll=0.05)``: poll ``cond`` until it holds (True) or the time is up."""
    def wait(cond: Callable[[], bool], timeout: float = 300.0, poll: float = 0.05) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return True
            time.sleep(poll)
        return False

    return wait
