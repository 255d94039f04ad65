"""The configs that ship with the package (``models/*.yaml``, ``datasets/*.yaml``), resolved by name, and the
datasets root: ``$FSCFNET_DATASETS``, else ``./datasets`` under the current directory."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

CFG_DIR = Path(__file__).resolve().parent
MODELS_DIR = CFG_DIR / "models"
DATASET_CONFIGS_DIR = CFG_DIR / "datasets"
DATASETS_ENV = "FSCFNET_DATASETS"


def model_names() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))


def dataset_names() -> list[str]:
    return sorted(p.stem for p in DATASET_CONFIGS_DIR.glob("*.yaml"))


def is_name(value: str | Path) -> bool:
    """A bare name (``fscfnet``), as opposed to a path (``my/model.yaml``)."""
    text = str(value)
    return "/" not in text and "\\" not in text and Path(text).suffix not in (".yaml", ".yml", ".pt")


def resolve_model(model: str | Path) -> Path:
    """A model config: an existing file as it is, else a shipped config by name (``fscfnet`` ->
    ``fscfnet/cfg/models/fscfnet.yaml``)."""
    path = Path(model)
    if path.is_file():
        return path
    if is_name(model) and (MODELS_DIR / f"{model}.yaml").is_file():
        return MODELS_DIR / f"{model}.yaml"
    raise UserError(f"{model}: model config not found (pass a YAML path or a shipped name: {', '.join(model_names())})")


def datasets_root() -> Path:
    """Where dataset folders live: ``$FSCFNET_DATASETS``, else ``datasets/`` in the current directory."""
    return Path(os.environ.get(DATASETS_ENV) or "datasets").expanduser().resolve()
