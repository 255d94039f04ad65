"""YAML model config -> :class:`DetectionModel`.

Config keys: ``nc``; ``scales`` (name -> [depth, width, max_channels]) with ``scale`` choosing one (optional when
there is only one); ``backbone`` and ``head``: rows ``[from, repeats, module, args]``; optional ``ch``.
``from`` is an int or a list of ints, negative values counting back from the row (-1 = previous layer, or the
image for the first row). In args, ``nc`` is replaced by the class count and ``None`` by null.
Every error names the config and the row.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from ..cfg import resolve_model
from ..cfg.schema import did_you_mean
from ..errors import UserError
from . import aca, blocks, fsconv, head, mrcb  # noqa: F401  (registers the blocks)
from .blocks import make_divisible
from .model import DetectionModel, LayerSpec
from .registry import get_block, head_channels

CONFIG_KEYS = ("nc", "scales", "scale", "ch", "backbone", "head")
STRIDE_PROBE = 256  # input size used once to measure the head's strides


class ModelConfigError(UserError, ValueError):
    """A model config that cannot be built; the message names the file and row."""


@dataclass(frozen=True)
class Scaling:
    depth: float = 1.0
    width: float = 1.0
    max_channels: int = 1024

    def repeats(self, n: int) -> int:
        return max(round(n * self.depth), 1) if n > 1 else n

    def channels(self, c: int) -> int:
        return make_divisible(min(c, self.max_channels) * self.width, 8)


def load_config(cfg: str | Path | dict) -> tuple[dict, str]:
    """The config as a plain dict and a name for messages (the file path, or ``<dict>``)."""
    if isinstance(cfg, dict):
        return dict(cfg), "<dict>"
    try:
        path = resolve_model(cfg)  # a YAML path, or a shipped config by name: fscfnet, yolov10n, ...
    except UserError as e:
        raise ModelConfigError(str(e)) from None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ModelConfigError(f"{path}: not valid YAML: {e}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ModelConfigError(f"{path}: expected a mapping with 'backbone' and 'head'")
    return data, str(path)


def _scaling(cfg: dict, name: str, scale: str | None) -> Scaling:
    scales = cfg.get("scales")
    if not scales:
        return Scaling()
    key = scale or cfg.get("scale")
    if key is None:
        if len(scales) != 1:
            raise ModelConfigError(f"{name}: several scales {sorted(scales)}; choose one with 'scale: NAME'")
        key = next(iter(scales))
    if key not in scales:
        raise ModelConfigError(f"{name}: unknown scale {key!r}{did_you_mean(str(key), scales)}")
    values = scales[key]
    if not (isinstance(values, (list, tuple)) and len(values) == 3):
        raise ModelConfigError(f"{name}: scale {key!r} must be [depth, width, max_channels], got {values!r}")
    return Scaling(float(values[0]), float(values[1]), int(values[2]))


def _resolve_arg(a: Any, nc: int) -> Any:
    if a == "nc":
        return nc
    if a == "None":
        return None
    return a


def build_model(cfg: str | Path | dict, nc: int | None = None, ch: int | None = None,
                scale: str | None = None) -> DetectionModel:
    """Build a model from a YAML path or dict; ``nc``/``ch``/``scale`` override the config's values."""
    cfg, name = load_config(cfg)
    for key in cfg:
        if key not in CONFIG_KEYS:
            raise ModelConfigError(f"{name}: unknown key {key!r}{did_you_mean(str(key), CONFIG_KEYS)}")
    nc = int(nc if nc is not None else cfg.get("nc", 80))
    ch = int(ch if ch is not None else cfg.get("ch", 3))
    if nc < 1 or ch < 1:
        raise ModelConfigError(f"{name}: nc and ch must be positive, got nc={nc} ch={ch}")
    scaling = _scaling(cfg, name, scale)
    rows = [("backbone", i, r) for i, r in enumerate(cfg.get("backbone") or [])]
    rows += [("head", i, r) for i, r in enumerate(cfg.get("head") or [])]
    if not rows:
        raise ModelConfigError(f"{name}: no layers; 'backbone' and 'head' list rows [from, repeats, module, args]")

    layers: list[nn.Module] = []
    specs: list[LayerSpec] = []
    channels: list[int] = []  # output channels per layer
    for index, (section, row_no, row) in enumerate(rows):
        where = f"{name}: {section} row {row_no} (layer {index}) {row!r}"
        try:
            spec, layer, c_out = _build_layer(index, row, channels, ch, nc, scaling)
        except (ValueError, TypeError, KeyError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            raise ModelConfigError(f"{where}: {msg}") from None
        is_head = get_block(spec.module).channels is head_channels
        if is_head != (index == len(rows) - 1):
            raise ModelConfigError(f"{where}: the detection head must be the last layer, and only it")
        layers.append(layer)
        specs.append(spec)
        channels.append(c_out)

    yaml_cfg = {**cfg, "nc": nc, "ch": ch}
    model = DetectionModel(layers, specs, yaml_cfg)
    _init_strides(model, ch)
    return model


def _build_layer(index: int, row: Any, channels: list[int], ch: int, nc: int, scaling: Scaling
                 ) -> tuple[LayerSpec, nn.Module, int]:
    if not (isinstance(row, (list, tuple)) and len(row) == 4):
        raise ValueError("a row is [from, repeats, module, args]")
    src, repeats, module, args = row
    if not isinstance(module, str):
        raise ValueError(f"module must be a name, got {module!r}")
    entry = get_block(module)
    if not (isinstance(repeats, int) and repeats >= 1):
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(args, list):
        raise ValueError(f"args must be a list, got {args!r}")
    sources = [src] if isinstance(src, int) else src
    if not (isinstance(sources, list) and sources and all(isinstance(j, int) for j in sources)):
        raise ValueError(f"'from' must be an int or a list of ints, got {src!r}")
    absolute = []
    for j in sources:
        a = index + j if j < 0 else j
        if not (a < index and (a >= 0 or (a == -1 and index == 0))):
            raise ValueError(f"'from' index {j} does not name an earlier layer (layers 0..{index - 1} exist)")
        absolute.append(a)
    c_in = [ch if a == -1 else channels[a] for a in absolute]
    ctor_args, c_out = entry.channels(c_in, [_resolve_arg(a, nc) for a in args], scaling.channels)
    n = scaling.repeats(repeats)
    if entry.repeats_inside:
        ctor_args.insert(2, n)
    try:
        inspect.signature(entry.factory).bind(*ctor_args)
    except TypeError as e:
        raise TypeError(f"{module} does not take args {ctor_args}: {e}") from None
    if entry.repeats_inside or n == 1:
        layer = entry.factory(*ctor_args)
    else:
        layer = nn.Sequential(*(entry.factory(*ctor_args) for _ in range(n)))
    spec = LayerSpec(index, tuple(absolute), isinstance(src, int), n, module, tuple(ctor_args), c_out)
    return spec, layer, c_out


@torch.no_grad()
def _init_strides(model: DetectionModel, ch: int) -> None:
    """Measure each head level's stride with one small eval-mode forward, then set the head's bias priors."""
    was_training = model.training
    model.eval()
    feats = model.head_inputs(torch.zeros(1, ch, STRIDE_PROBE, STRIDE_PROBE))
    model.head.stride.copy_(torch.tensor([STRIDE_PROBE / f.shape[-2] for f in feats]))
    model.head.init_bias()
    model.train(was_training)
    if not all(math.log2(s).is_integer() for s in model.head.stride.tolist()):
        raise ModelConfigError(f"head strides {model.head.stride.tolist()} are not powers of two")
