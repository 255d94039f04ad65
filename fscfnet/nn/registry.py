"""Block registry: YAML module names -> constructors, each with its own channel rule.

A block registers itself with :func:`register`, stating

* ``channels``: a rule that turns the input channels and the YAML args into the constructor's positional
  args and the block's output channel count (see the ``*_channels`` rules below), and
* ``repeats_inside``: whether the YAML ``repeats`` is passed to the block (C2f-like blocks chain their own
  bottlenecks) instead of stacking copies of it.

The graph builder therefore has no per-class branches and never looks names up in ``globals()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from torch import nn

from ..cfg.schema import did_you_mean

Scale = Callable[[int], int]
"""Maps a YAML width (e.g. 256) to real channels (e.g. 64 at width 0.25)."""

ChannelRule = Callable[[Sequence[int], Sequence[Any], Scale], "tuple[list[Any], int]"]
"""(input channels, YAML args, width scale) -> (constructor args, output channels)."""


def _single(c_in: Sequence[int]) -> int:
    if len(c_in) != 1:
        raise ValueError(f"takes one input but 'from' names {len(c_in)}")
    return c_in[0]


def scaled_out_channels(c_in: Sequence[int], args: Sequence[Any], scale: Scale) -> tuple[list[Any], int]:
    """Conv-like: ``args[0]`` is the YAML output width; the constructor gets ``(c1, c2, *args[1:])``."""
    if not args or not isinstance(args[0], int):
        raise ValueError("first arg must be the output channel count (an integer)")
    c1, c2 = _single(c_in), scale(args[0])
    return [c1, c2, *args[1:]], c2


def same_channels(c_in: Sequence[int], args: Sequence[Any], scale: Scale) -> tuple[list[Any], int]:
    """Shape-only layers (upsampling, pooling): channels pass through; args go to the constructor as-is."""
    return list(args), _single(c_in)


def summed_channels(c_in: Sequence[int], args: Sequence[Any], scale: Scale) -> tuple[list[Any], int]:
    """Channel concatenation: output channels are the sum of the inputs'."""
    return list(args), sum(c_in)


def head_channels(c_in: Sequence[int], args: Sequence[Any], scale: Scale) -> tuple[list[Any], int]:
    """Detection heads: the list of input channels is appended to the args; the output is not a feature map."""
    return [*args, list(c_in)], 0


@dataclass(frozen=True)
class BlockEntry:
    name: str
    factory: Callable[..., nn.Module]
    channels: ChannelRule
    repeats_inside: bool


_REGISTRY: dict[str, BlockEntry] = {}


def register(
    name: str | None = None, *, channels: ChannelRule = scaled_out_channels, repeats_inside: bool = False
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator adding a block under ``name`` (default: the class name). Duplicate names raise."""

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        key = name or cls.__name__
        if key in _REGISTRY:
            raise ValueError(f"block name {key!r} is already registered to {_REGISTRY[key].factory!r}")
        _REGISTRY[key] = BlockEntry(key, cls, channels, repeats_inside)
        return cls

    return wrap


def get_block(name: str) -> BlockEntry:
    """The entry for ``name``; an unknown name raises ``KeyError`` with close matches suggested."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown module {name!r}{did_you_mean(name, _REGISTRY)}") from None


def registered_names() -> list[str]:
    return sorted(_REGISTRY)


# torch layers usable from YAML as ``nn.Name``; all keep the channel count.
for _cls in (nn.Upsample, nn.Identity, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout):
    register(f"nn.{_cls.__name__}", channels=same_channels)(_cls)
