"""Standard YOLOv8/YOLOv10 blocks (Conv, C2f, SCDown, SPPF, PSA, C2fCIB, ...), written for this project.

Shapes: ``x`` is ``(B, C, H, W)`` throughout. Every block with BatchNorm folds it away in ``fuse()``.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from .registry import register, summed_channels

BN_EPS, BN_MOMENTUM = 1e-3, 0.03  # YOLO's BatchNorm settings, used by every block


@runtime_checkable
class Fusable(Protocol):
    """A module that can fold its BatchNorm (or branches) into plain convolutions, in place."""

    def fuse(self) -> None: ...


def autopad(k: int | tuple[int, int], d: int = 1) -> int | list[int]:
    """'Same' padding for an odd kernel ``k`` with dilation ``d``."""
    if isinstance(k, int):
        return d * (k - 1) // 2
    return [d * (x - 1) // 2 for x in k]


class GroupSumConv2d(nn.Conv2d):
    """A grouped conv with one output channel per group, computed as depthwise conv + sum over each group.

    Same parameters (and state-dict layout) as ``nn.Conv2d(c1, c2, k, groups=c2)``. Why: oneDNN runs grouped
    convs with one output per group slowly on the CPU, and the depthwise form is faster there for square kernels
    >= 3 (where :class:`Conv` uses it; 1x3/3x1 kernels train faster as plain grouped convs; docs/benchmarks.md
    has the timings). On other devices it runs as the plain grouped conv (``benchmarks/gpu_check.sh`` times both
    forms on CUDA).
    """

    @staticmethod
    def applies(c1: int, c2: int, k: int | tuple[int, int], g: int) -> bool:
        square = k if isinstance(k, int) else (k[0] if k[0] == k[1] else 0)
        return 1 < g == c2 < c1 and square >= 3

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if x.device.type != "cpu":  # the CPU's workaround only; elsewhere the library's grouped conv (same weights)
            return super()._conv_forward(x, weight, bias)
        c = self.in_channels
        y = nn.functional.conv2d(x, weight.reshape(c, 1, *self.kernel_size), None, self.stride, self.padding,
                                 self.dilation, c)
        m = c // self.out_channels  # input channels per group: output o sums depthwise channels o*m .. o*m+m-1
        y = sum(y[:, t::m] for t in range(1, m)) + y[:, 0::m]  # strided adds: fast in NCHW and channels-last
        return y if bias is None else y + bias.view(1, -1, 1, 1)


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A single biased conv (of the same class as ``conv``) equal to ``bn(conv(x))`` in eval mode."""
    fused = type(conv)(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
        conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
    return fused.requires_grad_(False)


@register()
class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm + activation (SiLU by default; ``act=False`` for none, or a module)."""

    def __init__(self, c1: int, c2: int, k: int | tuple[int, int] = 1, s: int = 1, p: int | None = None,
                 g: int = 1, d: int = 1, act: bool | nn.Module = True):
        super().__init__()
        conv = GroupSumConv2d if GroupSumConv2d.applies(c1, c2, k, g) else nn.Conv2d
        self.conv = conv(c1, c2, k, s, autopad(k, d) if p is None else p, dilation=d, groups=g, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU(inplace=True) if act is True else act if isinstance(act, nn.Module) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv, self.bn = fuse_conv_bn(self.conv, self.bn), nn.Identity()


@register(channels=summed_channels)
class Concat(nn.Module):
    """Concatenates a list of tensors along ``dim`` (channels by default)."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, self.dim)


@register()
class Bottleneck(nn.Module):
    """Two 3x3 Convs with an optional residual when ``c1 == c2``."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 3)
        self.cv2 = Conv(c_, c2, 3, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


@register(repeats_inside=True)
class C2f(nn.Module):
    """CSP block: 1x1 Conv to 2c, split, ``n`` chained Bottlenecks (all outputs kept), concat, 1x1 Conv.
    ``extra``: further ``c``-channel maps a subclass adds to the concat (MRCB's RFBlock output)."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5, *,
                 extra: int = 0):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n + extra) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, e=1.0) for _ in range(n))

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The (2 + n) feature maps that ``cv2`` merges, each ``(B, c, H, W)``."""
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv2(torch.cat(self.branches(x), 1))


@register()
class SCDown(nn.Module):
    """Spatial-channel decoupled downsampling: 1x1 Conv c1 -> c2, then k x k depthwise stride-s Conv (no act)."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 2):
        super().__init__()
        self.cv1 = Conv(c1, c2, 1)
        self.cv2 = Conv(c2, c2, k, s, g=c2, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv2(self.cv1(x))


@register()
class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): 1x1 Conv to c1/2, three chained k x k max-pools, concat, 1x1 Conv."""

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class Attention(nn.Module):
    """Multi-head self-attention over all H*W positions with a depthwise 3x3 positional term on the values."""

    def __init__(self, dim: int, num_heads: int = 8, attn_ratio: float = 0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        self.qkv = Conv(dim, dim + 2 * self.key_dim * num_heads, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, g=dim, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).view(b, self.num_heads, 2 * self.key_dim + self.head_dim, h * w).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)  # (B, heads, N, N)
        y = (v @ attn.transpose(-2, -1)).view(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(y)


@register()
class PSA(nn.Module):
    """Partial self-attention: 1x1 split, attention + FFN (both residual) on one half, 1x1 merge."""

    def __init__(self, c1: int, c2: int, e: float = 0.5):
        super().__init__()
        if c1 != c2:
            raise ValueError(f"PSA keeps the channel count, got c1={c1} c2={c2}")
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.attn = Attention(self.c, attn_ratio=0.5, num_heads=max(1, self.c // 64))
        self.ffn = nn.Sequential(Conv(self.c, self.c * 2, 1), Conv(self.c * 2, self.c, 1, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        b = b + self.attn(b)
        b = b + self.ffn(b)
        return self.cv2(torch.cat((a, b), 1))


class RepVGGDW(nn.Module):
    """Depthwise 7x7 + 3x3 branches (training); ``fuse()`` merges them into one 7x7 depthwise conv."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = Conv(c, c, 7, g=c, act=False)
        self.conv1: Conv | None = Conv(c, c, 3, g=c, act=False)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.act(y if self.conv1 is None else y + self.conv1(x))

    def fuse(self) -> None:
        if self.conv1 is None:
            return
        self.conv.fuse()
        self.conv1.fuse()
        big, small = self.conv.conv, self.conv1.conv
        with torch.no_grad():
            big.weight += nn.functional.pad(small.weight, [2, 2, 2, 2])
            big.bias += small.bias
        self.conv1 = None


@register()
class CIB(nn.Module):
    """Compact inverted block: dw3x3, pw, dw3x3 (or RepVGGDW when ``lk``), pw, dw3x3, optional residual."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5, lk: bool = False):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = nn.Sequential(
            Conv(c1, c1, 3, g=c1),
            Conv(c1, 2 * c_, 1),
            RepVGGDW(2 * c_) if lk else Conv(2 * c_, 2 * c_, 3, g=2 * c_),
            Conv(2 * c_, c2, 1),
            Conv(c2, c2, 3, g=c2),
        )
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.cv1(x) if self.add else self.cv1(x)


@register(repeats_inside=True)
class C2fCIB(C2f):
    """C2f whose bottlenecks are CIBs (``lk=True``: large-kernel RepVGGDW inside)."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, lk: bool = False, g: int = 1,
                 e: float = 0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(CIB(self.c, self.c, shortcut, e=1.0, lk=lk) for _ in range(n))


def make_divisible(x: float, divisor: int = 8) -> int:
    """Smallest multiple of ``divisor`` that is >= ``x``."""
    return int(math.ceil(x / divisor) * divisor)
