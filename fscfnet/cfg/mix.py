"""Several datasets trained as one: ``--data A B C``, or a dataset YAML whose ``datasets:`` lists them::

    names: [target]                # the mix's classes (default: the first dataset's)
    datasets:
      - NUAA-SIRST                 # a shipped name or a YAML path ...
      - data: IRSTD-1K             # ... or a mapping
        share: 0.5                 # of each epoch's images; datasets without a share split the rest by size
        classes: {target: target}  # this dataset's class -> the mix's (needed when the class lists differ)

Each epoch holds as many images as the datasets' own epochs together; by default each dataset contributes its
own epoch (shares in proportion to size). Validation scores each dataset's test split on its own, and the mean
of the datasets' metrics is what ``best.pt`` is chosen on (:class:`fscfnet.engine.trainer.Trainer`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .data import DataConfig, load_data_config, read_data_yaml
from .schema import did_you_mean

PART_KEYS = ("data", "share", "classes")


@dataclass(frozen=True)
class MixPart:
    """One dataset of a mix: its config, its share of each epoch (None: by size) and its class map (this
    dataset's class k is the mix's class ``classes[k]``)."""

    data: DataConfig
    share: float | None
    classes: tuple[int, ...]


@dataclass(frozen=True)
class DataMix:
    """Datasets trained as one; ``names``/``nc``/``name``/``source`` read like a :class:`DataConfig`'s."""

    parts: tuple[MixPart, ...]
    names: list
    source: str = ""  # the mix YAML, or "" for datasets listed on the command line

    @property
    def nc(self) -> int:
        return len(self.names)

    @property
    def name(self) -> str:
        return Path(self.source).stem if self.source else "+".join(p.data.name for p in self.parts)

    @property
    def part_names(self) -> list[str]:
        return [p.data.name for p in self.parts]

    @property
    def epochs(self) -> int | None:
        """The datasets' suggested epochs when they agree, else None (the trainer's default)."""
        values = {p.data.epochs for p in self.parts}
        return values.pop() if len(values) == 1 else None

    @property
    def imgsz(self) -> int | None:
        values = {p.data.imgsz for p in self.parts}
        return values.pop() if len(values) == 1 else None


def parts_of(data: DataConfig | DataMix) -> tuple[MixPart, ...]:
    """A mix's datasets, or a single dataset as the one part of itself."""
    return data.parts if isinstance(data, DataMix) else (MixPart(data, None, tuple(range(data.nc))),)


def class_map(part: DataConfig, names: list, mapping: dict | None, where: str) -> tuple[int, ...]:
    """``part``'s class indices in the mix's ``names``: by ``mapping`` (its class name -> the mix's) when given,
    else the class lists must be equal."""
    if mapping is None:
        if list(part.names) != list(names):
            raise UserError(f"{where}: {part.ref} has classes {list(part.names)} but the mix has {list(names)}; map "
                            f"them with a dataset YAML whose datasets: entry gives classes: {{its class: mix class}}")
        return tuple(range(len(names)))
    unknown = [k for k in mapping if k not in part.names]
    if unknown:
        raise UserError(f"{where}: classes: {unknown[0]!r} is not a class of {part.ref} ({', '.join(part.names)})")
    out = []
    for name in part.names:
        if name not in mapping:
            raise UserError(f"{where}: classes: {part.ref}'s class {name!r} is not mapped; map every class")
        if mapping[name] not in names:
            raise UserError(f"{where}: classes: {mapping[name]!r} is not one of the mix's names ({', '.join(names)})"
                            f"{did_you_mean(str(mapping[name]), names)}")
        out.append(names.index(mapping[name]))
    return tuple(out)


def _part(entry: object, where: str) -> tuple[DataConfig, float | None, dict | None]:
    if isinstance(entry, str):
        entry = {"data": entry}
    if not isinstance(entry, dict) or "data" not in entry:
        raise UserError(f"{where}: each entry is a dataset name, a YAML path, or a mapping with 'data:'")
    unknown = [k for k in entry if k not in PART_KEYS]
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], PART_KEYS)} "
                        f"(keys: {', '.join(PART_KEYS)})")
    share, mapping = entry.get("share"), entry.get("classes")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1):
        raise UserError(f"{where}: share must be a fraction in (0, 1], got {share!r}")
    if mapping is not None and not isinstance(mapping, dict):
        raise UserError(f"{where}: classes must map this dataset's class names to the mix's, got {mapping!r}")
    return load_data_config(str(entry["data"])), share, mapping


def build_mix(entries: list, names: list | None, source: str) -> DataMix:
    """A mix of ``entries`` (names, paths or ``{data, share, classes}`` mappings), classes checked and mapped."""
    where = source or "--data"
    if len(entries) < 2:
        raise UserError(f"{where}: a mix needs at least two datasets, got {len(entries)}")
    loaded = [_part(e, f"{where}: datasets[{i}]") for i, e in enumerate(entries)]
    seen = [d.name for d, _, _ in loaded]
    twice = next((n for i, n in enumerate(seen) if n in seen[:i]), None)
    if twice is not None:
        raise UserError(f"{where}: {twice} is listed twice (datasets are told apart by their folder name); give it "
                        f"a larger share instead")
    if names is None:  # the first dataset's classes, which every unmapped dataset must share
        first = loaded[0][0]
        for d, _, m in loaded[1:]:
            if m is None and list(d.names) != list(first.names):
                raise UserError(f"{where}: {first.ref} has classes {list(first.names)} but {d.ref} has "
                                f"{list(d.names)}; train them together through a dataset YAML that maps the classes "
                                f"(datasets: entries with classes: {{its class: mix class}})")
    names = list(names) if names is not None else list(loaded[0][0].names)
    if not names or not all(isinstance(n, str) for n in names):
        raise UserError(f"{where}: 'names' must be a non-empty list of class names")
    shares = [s for _, s, _ in loaded if s is not None]
    every = len(shares) == len(loaded)
    if sum(shares) > 1 + 1e-6 or (every and not math.isclose(sum(shares), 1, abs_tol=1e-6)):
        raise UserError(f"{where}: the shares add up to {sum(shares):g}; they are fractions of each epoch "
                        f"(at most 1 together, exactly 1 when every dataset has one)")
    if not every and sum(shares) > 1 - 1e-6:
        idle = next(d.ref for d, s, _ in loaded if s is None)
        raise UserError(f"{where}: the shares add up to 1, which leaves nothing of each epoch to {idle}; give it a "
                        f"share or lower the others")
    parts = tuple(MixPart(d, s, class_map(d, names, m, f"{where}: datasets[{i}]"))
                  for i, (d, s, m) in enumerate(loaded))
    return DataMix(parts, names, source)


def load_training_data(data: str | list) -> DataConfig | DataMix:
    """What ``--data`` names for training: one dataset (a name or YAML), several (a list: trained as one, their
    class lists equal), or a mix YAML (``datasets:``)."""
    items = [data] if isinstance(data, str) else list(data)
    if not items:
        raise UserError("--data: no dataset given")
    if len(items) > 1:
        return build_mix(items, None, "")
    path, raw = read_data_yaml(items[0])
    if "datasets" not in raw:
        return load_data_config(items[0])
    unknown = [k for k in raw if k not in ("datasets", "names", "source")]
    if unknown:
        raise UserError(f"{path}: unknown key {unknown[0]!r} in a mix (keys: datasets, names)")
    if not isinstance(raw["datasets"], list):
        raise UserError(f"{path}: datasets must be a list of dataset names, paths or mappings")
    return build_mix(raw["datasets"], raw.get("names"), str(path))
