"""DetectionModel: a layer graph built from a YAML config, ending in a detection head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .blocks import Fusable


@dataclass(frozen=True)
class LayerSpec:
    """One built layer: absolute input indices (-1 = image), repeats after depth scaling, constructor args."""

    index: int
    sources: tuple[int, ...]
    single_input: bool  # 'from' was an int: the layer takes a tensor, not a list
    repeats: int
    module: str
    args: tuple[Any, ...]
    out_channels: int


class DetectionModel(nn.Module):
    """``(B, ch, H, W)`` -> head output (see :class:`fscfnet.nn.head.V10Detect`); H, W multiples of the max stride.

    ``yaml`` holds the config as plain data (the checkpoint stores it), ``specs`` the resolved layer table.
    """

    def __init__(self, layers: list[nn.Module], specs: list[LayerSpec], yaml_cfg: dict):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.specs = specs
        self.yaml = yaml_cfg
        self.nc = int(yaml_cfg["nc"])
        self.ch = int(yaml_cfg["ch"])
        # outputs that a later layer reads other than as "the previous layer"
        self._keep = {a for s in specs for a in s.sources if a >= 0 and a != s.index - 1}

    @property
    def head(self) -> nn.Module:
        return self.layers[-1]

    @property
    def stride(self) -> torch.Tensor:
        return self.head.stride

    def head_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Run every layer but the head; return the head's input feature maps."""
        kept: dict[int, torch.Tensor] = {}
        for layer, spec in zip(self.layers[:-1], self.specs[:-1]):
            x = layer(self._gather(x, spec, kept))
            if spec.index in self._keep:
                kept[spec.index] = x
        spec = self.specs[-1]
        return [x if a == spec.index - 1 else kept[a] for a in spec.sources]

    @staticmethod
    def _gather(prev: torch.Tensor, spec: LayerSpec, kept: dict[int, torch.Tensor]) -> Any:
        inputs = [prev if a == spec.index - 1 else kept[a] for a in spec.sources]
        return inputs[0] if spec.single_input else inputs

    def forward(self, x: torch.Tensor) -> Any:
        return self.head(self.head_inputs(x))

    def fuse(self) -> "DetectionModel":
        """Fold BatchNorm into convs, merge re-parameterisable branches, drop the one-to-many head. In place."""
        for m in list(self.modules()):
            if m is not self and isinstance(m, Fusable):
                m.fuse()
        return self.eval()
