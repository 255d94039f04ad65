"""MRCB: C2f with a multi-receptive-field RFBlock branch (docs/design.md §3)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import C2f, Conv
from .registry import register


@register()
class RFBlock(nn.Module):
    """Receptive-field block ``(B, c1, H, W) -> (B, c2, H, W)`` with dilations 1, 3 and 5, inter = c1 // 8.

    Branches: (1x1 -> 3x3 -> 3x3 d1), (1x1 -> 3x3 -> 3x3 d3), (1x1 -> 3x3 to 1.5*inter -> 3x3 -> 3x3 d5); each
    conv has BatchNorm, ReLU except on the first 1x1 and the dilated conv. Concat (6*inter) -> 1x1 (no ReLU);
    output = ReLU(scale * that + 1x1 projection of the input).
    """

    def __init__(self, c1: int, c2: int, scale: float = 0.1, reduce: int = 8):
        super().__init__()
        inter = max(1, c1 // reduce)
        mid = max(1, inter // 2 * 3)
        relu = nn.ReLU(inplace=True)

        def conv(a: int, b: int, k: int = 3, d: int = 1, act: bool = True) -> Conv:
            return Conv(a, b, k, d=d, act=relu if act else False)

        self.scale = scale
        self.splits = [inter, inter, inter, c2]
        # The three branches' first 1x1 convs and the shortcut projection read the same input and have no
        # activation: one conv with their outputs concatenated is the same function with 3 fewer launches.
        self.entry = conv(c1, 3 * inter + c2, 1, act=False)
        self.branches = nn.ModuleList([
            nn.Sequential(conv(inter, 2 * inter), conv(2 * inter, 2 * inter, d=1, act=False)),
            nn.Sequential(conv(inter, 2 * inter), conv(2 * inter, 2 * inter, d=3, act=False)),
            nn.Sequential(conv(inter, mid), conv(mid, 2 * inter), conv(2 * inter, 2 * inter, d=5, act=False)),
        ])
        self.linear = conv(6 * inter, c2, 1, act=False)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *parts, shortcut = self.entry(x).split(self.splits, 1)
        y = self.linear(torch.cat([branch(p) for branch, p in zip(self.branches, parts)], 1))
        return self.act(y * self.scale + shortcut)


@register(repeats_inside=True)
class MRCB(C2f):
    """C2f plus an RFBlock on the first split half: concat (3 + n) * c channels -> 1x1 Conv -> c2, c = c2 / 2."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5):
        super().__init__(c1, c2, n, shortcut, g, e, extra=1)
        self.rfb = RFBlock(self.c, self.c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branches(x)
        y.append(self.rfb(y[0]))
        return self.cv2(torch.cat(y, 1))
