"""Dataset configs: ``--data NAME`` (cfg/datasets/NAME.yaml) or ``--data path.yaml``. Loading a config reads
and checks it, nothing more: a generated dataset (``generate: demo``) is built by
:func:`fscfnet.data.ensure_dataset`, which every reader of the data calls; a dataset with a ``download:`` section
is fetched only on request (``fscfnet prepare --download NAME``, :mod:`fscfnet.data.prepare.download`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import DatasetError, UserError
from .paths import DATASET_CONFIGS_DIR, dataset_names, datasets_root
from .schema import did_you_mean, from_dict

SPLITS = ("train", "test")
GENERATORS = ("demo",)  # datasets built on first use by fscfnet.data.ensure_dataset
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DownloadConfig:
    """Where a dataset's upstream archive comes from and how to check it (the ``download:`` section); used by
    :func:`fscfnet.data.prepare.download.download_dataset`."""

    urls: list  # archives (zip or tar.*), tried in order
    sha256: str | None = None  # checksum of the archive, where one is published
    images: int | None = None  # structure check after unpacking: image files in images/ (or IRSTD1k_Img/) ...
    masks: int | None = None  # ... and masks in masks/ (or IRSTD1k_Label/)
    folder: str | None = None  # name (glob) of the dataset folder, when an archive holds several datasets
    files: dict = field(default_factory=dict)  # {path in the dataset folder: URL}: files the archive lacks
    format: str = "masks"  # annotation format, as prepare --format
    manual: list = field(default_factory=list)  # pages to fetch it from by hand (named when a download fails)


def _download_config(raw: object, where: str) -> DownloadConfig:
    """The ``download:`` section, typed; refused (one line naming ``where``) when unknown keys, no http(s) URL, a
    malformed checksum or nothing to verify the archive with make it unusable."""
    d = from_dict(DownloadConfig, raw, where)
    urls = list(d.urls) + list(d.files.values())
    if not d.urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
        raise UserError(f"{where}: 'urls' (and the values of 'files') must be http:// or https:// URLs")
    if not all(isinstance(k, str) and not Path(k).is_absolute() and ".." not in Path(k).parts for k in d.files):
        raise UserError(f"{where}: the keys of 'files' must be relative paths inside the dataset folder")
    if d.sha256 is not None and not SHA256_HEX.fullmatch(d.sha256):
        raise UserError(f"{where}: sha256 must be 64 lowercase hex digits, got {d.sha256!r}")
    if d.sha256 is None and d.images is None:
        raise UserError(f"{where}: give 'sha256' or the expected 'images' count, so the download can be verified")
    if any(n is not None and n <= 0 for n in (d.images, d.masks)):
        raise UserError(f"{where}: 'images' and 'masks' must be positive counts")
    return d


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
    download: DownloadConfig | None = None  # upstream archive: fscfnet prepare --download NAME fetches it
    background: list | None = None  # folders (under the root) of target-free frames that join the training split
    #   as background; None: the root's background/ when there is one (a folder listed here must exist)
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

    @property
    def ref(self) -> str:
        """How the command line names this dataset: the shipped name, else the YAML path."""
        src = Path(self.source)
        return src.stem if self.source and src.parent == DATASET_CONFIGS_DIR else (self.source or self.path)

    def require_root(self) -> None:
        """Raise :class:`DatasetError` (what to do included) when the dataset folder is missing: download it
        (when the config says where from; never done unasked), or prepare it from a copy."""
        if self.root.is_dir():
            return
        where = f"{self.source or self.path}: dataset folder {self.root} does not exist"
        if self.download is not None:
            raise DatasetError(f"{where}; download and prepare it with: fscfnet prepare --download {self.ref} "
                               f"(or from a copy you have: fscfnet prepare SRC --dst {self.root})")
        raise DatasetError(f"{where}; prepare it with python -m fscfnet.data.prepare SRC --dst {self.root}")

    def index_file(self, split: str) -> Path:
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}{did_you_mean(split, SPLITS)} (splits: {', '.join(SPLITS)})")
        return self.root / getattr(self, split)


def data_yaml_text(root: Path, train: str, test: str, names: list[str], comment: str) -> str:
    """The text of a dataset YAML that tools write (``prepare``, crop sets, views): ``comment`` first, then the
    dataset folder, the two split index files (relative to it) and the class names."""
    body = yaml.safe_dump({"path": str(root), "train": train, "test": test, "names": [str(n) for n in names]},
                          sort_keys=False, default_flow_style=None, width=10**6)  # names on one line
    return "".join(f"# {line}\n" for line in comment.splitlines()) + body


def read_data_yaml(data: str | Path) -> tuple[Path, dict]:
    """The YAML file ``data`` names (a built-in name or a path) and its mapping, ``source`` added."""
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
    if not isinstance(raw, (dict, type(None))):
        raise UserError(f"{path}: expected a mapping of keys to values, got {type(raw).__name__}")
    return path, {**(raw or {}), "source": str(path)}


def load_data_config(data: str | Path, require_root: bool = True) -> DataConfig:
    """Resolve ``data`` (a built-in name or a YAML path) to a config. A dataset folder that is missing is an
    error (unless ``require_root`` is false: ``prepare --download`` is about to make it), except for a generated
    dataset (built by :func:`fscfnet.data.ensure_dataset`). A YAML listing several datasets (a training mix,
    :mod:`fscfnet.cfg.mix`) is refused here: only training reads those."""
    path, raw = read_data_yaml(data)
    if "datasets" in raw:
        raise UserError(f"{path}: lists several datasets (a training mix), which only training reads; pass one of "
                        f"its datasets here")
    if raw.get("download") is not None:
        raw["download"] = _download_config(raw["download"], f"{path}: download")
    cfg = from_dict(DataConfig, raw, str(path))
    if not cfg.names or not all(isinstance(n, str) for n in cfg.names):
        raise UserError(f"{path}: 'names' must be a non-empty list of class names")
    if cfg.generate is not None and cfg.generate not in GENERATORS:
        raise UserError(f"{path}: generate: {cfg.generate!r} is not a known generator (only {', '.join(GENERATORS)})")
    if cfg.generate is None and require_root:
        cfg.require_root()
    return cfg
