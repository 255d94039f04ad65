"""FSConv: frequency-spatial convolution (docs/design.md §3), with a one-level Haar DWT done as a fixed stride-2 conv."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Conv
from .registry import register


class HaarDWT(nn.Module):
    """One-level 2-D Haar DWT, zero mode; equal to ``pytorch_wavelets.DWTForward(J=1, wave='haar', mode='zero')``.

    ``(B, C, H, W) -> (low (B, C, ceil(H/2), ceil(W/2)), high (B, C, 3, ceil(H/2), ceil(W/2)))``.
    For each 2x2 block ``[[a, b], [c, d]]``: low = (a+b+c+d)/2 and the three high bands are
    (a+b-c-d)/2, (a-b+c-d)/2, (a-b-c+d)/2, in pytorch_wavelets' order. Odd sizes get one zero row/column
    at the bottom/right. A fixed depthwise stride-2 conv (4 kernels per channel): works under autocast and
    exports to ONNX.
    """

    def __init__(self, c: int):
        super().__init__()
        k = torch.tensor([
            [[1.0, 1.0], [1.0, 1.0]],
            [[1.0, 1.0], [-1.0, -1.0]],
            [[1.0, -1.0], [1.0, -1.0]],
            [[1.0, -1.0], [-1.0, 1.0]],
        ]) / 2
        self.c = c
        self.register_buffer("weight", k.unsqueeze(1).repeat(c, 1, 1, 1), persistent=False)  # (4c, 1, 2, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        if h % 2 or w % 2:
            x = F.pad(x, (0, w % 2, 0, h % 2))
        y = F.conv2d(x, self.weight.to(x.dtype), stride=2, groups=self.c).unflatten(1, (self.c, 4))
        return y[:, :, 0], y[:, :, 1:]


class SqueezeExcite(nn.Module):
    """Channel gate: global average pool, Linear c -> c/r, ReLU, Linear -> c, sigmoid (no biases); x * gate."""

    def __init__(self, c: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, c // reduction)
        self.fc = nn.Sequential(nn.Linear(c, hidden, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(hidden, c, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean((2, 3))).unsqueeze(-1).unsqueeze(-1)


@register()
class FSConv(nn.Module):
    """Frequency-spatial convolution, ``(B, c1, H, W) -> (B, c2, ceil(H/2), ceil(W/2))`` (always stride 2).

    A grouped 1x1 Conv expands to 2*c1 and splits. Spatial half: grouped 3x3 stride-2 Conv. Other half: Haar
    DWT; the three high bands (band-major) -> grouped 3x3 Conv -> squeeze-excitation, multiplied into the
    spatial features; the low band -> grouped 3x3 Conv. Both results are concatenated and merged by a 1x1 Conv.
    Groups are ``gcd`` of the channel counts, which equals the authors' ``c1`` whenever ``c1`` divides ``c2``.
    """

    def __init__(self, c1: int, c2: int):
        super().__init__()
        self.c1 = c1
        self.expand = Conv(c1, 2 * c1, 1, g=c1)
        self.spatial = Conv(c1, c2, 3, 2, g=math.gcd(c1, c2))
        self.dwt = HaarDWT(c1)
        self.high = Conv(3 * c1, c2, 3, g=math.gcd(3 * c1, c2))
        self.se = SqueezeExcite(c2)
        self.low = Conv(c1, c2, 3, g=math.gcd(c1, c2))
        self.merge = Conv(2 * c2, c2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.expand(x).split(self.c1, dim=1)
        low, high = self.dwt(x2)
        high = high.transpose(1, 2).flatten(1, 2)  # (B, 3*c1, h, w), band-major as pytorch_wavelets orders it
        gated = self.spatial(x1) * self.se(self.high(high))
        return self.merge(torch.cat((gated, self.low(low)), 1))
