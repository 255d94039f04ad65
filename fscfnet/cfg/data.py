"""Dataset configs: ``--data NAME`` (cfg/datasets/NAME.yaml) or ``--data path.yaml``. Loading a config reads
and checks it, nothing more: a generated dataset (``generate: demo``) is built by
:func:`fscfnet.data.ensure_dataset`, which every reader of the data calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import DatasetError, UserError
from .paths import DATASET_CONFIGS_DIR, dataset_names, datasets_root
from .schema import did_you_mean, from_dict

SPLITS = ("train", "test")
GENERATORS = ("demo",)  # datasets built on first use by fscfnet.data.ensure_dataset


@dataclass(frozen=True)
class DataConfig:
    """A dataset: root folder, one index file per split (paths relative to the root), class names."""

    path: str
    train: str
    test: str
    names: list = field(default_factory=lambda: ["target"])
    generate: str | None = None  # "demo": build the synthetic set when the root is missing
    imgsz: int | None = None  # training size this dataset suggests (train.py uses it when --imgsz is not given)
    epochs: int | None = None  # likewise for --epochs
    source: str = ""  # the YAML this came from (set by load_data_config)

    @property
    def root(self) -> Path:
        p = Path(self.path).expanduser()
        return p if p.is_absolute() else datasets_root() / p

    @property
    def nc(self) -> int:
        return len(self.names)

    @property
    def name(self) -> str:
        return Path(self.path).name

    def require_root(self) -> None:
        """Raise :class:`DatasetError` (what to do included) when the dataset folder is missing."""
        if not self.root.is_dir():
            raise DatasetError(f"{self.source or self.path}: dataset folder {self.root} does not exist; prepare it "
                               f"with python -m fscfnet.data.prepare SRC --dst {self.root}")

    def index_file(self, split: str) -> Path:
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}{did_you_mean(split, SPLITS)} (splits: {', '.join(SPLITS)})")
        return self.root / getattr(self, split)


def load_data_config(data: str | Path) -> DataConfig:
    """Resolve ``data`` (a built-in name or a YAML path) to a config. A dataset folder that is missing is an
    error, except for a generated dataset (built by :func:`fscfnet.data.ensure_dataset`)."""
    path = Path(data)
    if path.suffix not in (".yaml", ".yml"):
        if str(data) not in dataset_names():
            raise UserError(f"unknown dataset {str(data)!r}{did_you_mean(str(data), dataset_names())} "
                            f"(built-in: {', '.join(dataset_names())}; or pass a dataset YAML path)")
        path = DATASET_CONFIGS_DIR / f"{data}.yaml"
    if not path.is_file():
        raise UserError(f"{path}: dataset config not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    cfg = from_dict(DataConfig, {**(raw or {}), "source": str(path)}, str(path))
    if not cfg.names or not all(isinstance(n, str) for n in cfg.names):
        raise UserError(f"{path}: 'names' must be a non-empty list of class names")
    if cfg.generate is not None and cfg.generate not in GENERATORS:
        raise UserError(f"{path}: generate: {cfg.generate!r} is not a known generator (only {', '.join(GENERATORS)})")
    if cfg.generate is None:
        cfg.require_root()
    return cfg
