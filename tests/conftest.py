"""Shared test helpers: project paths and the model configs under test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL_CFGS = sorted((ROOT / "cfg" / "models").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)
