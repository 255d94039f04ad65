"""A dataset by name or YAML, ready to read: every reader of a dataset (training, validation, the experiment
runner, statistics, benchmarks) opens it here, so a generated set is built in one place and a missing folder
gives one error."""

from __future__ import annotations

from pathlib import Path

from ..cfg.data import DataConfig, load_data_config
from ..cfg.mix import DataMix, load_training_data, parts_of
from .demo import generate_demo


def open_dataset(data: str | Path | DataConfig) -> DataConfig:
    """The dataset ``data`` names (a shipped name, a YAML path, or a loaded config), ready to read."""
    return ensure_dataset(data if isinstance(data, DataConfig) else load_data_config(data))


def ensure_dataset(cfg: DataConfig) -> DataConfig:
    """Make ``cfg``'s dataset folder ready to read: build a generated set (``generate: demo``) when it is missing,
    and fail with what to do when the folder is absent (for a config with a ``download:`` section: run
    ``fscfnet prepare --download NAME``; nothing is downloaded unasked). Every reader of a dataset calls this once
    (rank 0 first under DDP); loading the config alone never writes anything."""
    if cfg.generate == "demo" and not cfg.root.is_dir():
        print(f"generating the synthetic demo dataset in {cfg.root} (seed 0) ...")
        generate_demo(cfg.root, seed=0)
    cfg.require_root()
    return cfg


def open_training_data(data: str | list) -> DataConfig | DataMix:
    """What training's ``--data`` names (one dataset, several, or a mix YAML), every dataset in it ready to read."""
    cfg = load_training_data(data)
    for part in parts_of(cfg):
        ensure_dataset(part.data)
    return cfg
