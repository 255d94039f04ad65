"""ACA (asymmetric cross-attention) and ConvACA, the "CBS -> ACA" of stage 2 (docs/design.md §3)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Conv, make_divisible
from .registry import register


class ACA(nn.Module):
    """Attention map ``(B, c, H, W) -> (B, c, H, W)`` in (0, 1); works for any H, W.

    Query, key and value are grouped convs (c -> h = ceil8(c/2), BN, SiLU) over asymmetrically zero-padded
    inputs that keep H x W: query 1x3 (2 columns of padding on the left), key 3x1 (2 rows on top), value 3x3
    (2 on the right and bottom). Per channel, scores = q @ k^T / sqrt(h) of shape (H, H) are softmaxed over the
    whole H*H map and applied to v. Concat (attended, q, k) -> 1x1 Conv 3h -> c -> sigmoid.
    """

    def __init__(self, c: int, expansion: float = 0.5):
        super().__init__()
        h = make_divisible(int(c * expansion), 8)
        g = math.gcd(c, h)  # = h, the authors' grouping, whenever h divides c (all FSCFNet widths)
        self.hidden = h
        self.q = Conv(c, h, (1, 3), p=0, g=g)
        self.k = Conv(c, h, (3, 1), p=0, g=g)
        self.v = Conv(c, h, 3, p=0, g=g)
        self.out = Conv(3 * h, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.q(F.pad(x, (2, 0, 0, 0)))  # (B, h, H, W)
        k = self.k(F.pad(x, (0, 0, 2, 0)))
        v = self.v(F.pad(x, (0, 2, 0, 2)))
        # Batched matmuls need row-major (H, W) maps: channels-last inputs would be copied matrix by matrix.
        # The attended map goes back to the input's layout so the concat and 1x1 conv need no conversion.
        layout = torch.channels_last if q.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        qc, kc = q.contiguous(), k.contiguous()
        b, h, rows, _ = q.shape
        scores = (qc / math.sqrt(h)) @ kc.transpose(-2, -1)  # (B, h, H, H); scaled first: fp16 overflows at large H
        attn = scores.flatten(2).softmax(-1).view(b, h, rows, rows)
        attended = (attn @ v.contiguous()).contiguous(memory_format=layout)
        return torch.sigmoid(self.out(torch.cat((attended, q, k), 1)))


@register()
class ConvACA(nn.Module):
    """Conv2d + BatchNorm (no activation), gated by ACA of its own output: ``y * ACA(y)``."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1):
        super().__init__()
        self.conv = Conv(c1, c2, k, s, g=g, act=False)
        self.aca = ACA(c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * self.aca(y)
