"""Latency timing shared by the benchmark scripts (no fscfnet import, so another venv can use it too)."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


@torch.inference_mode()
def time_forward(fn: Callable[[torch.Tensor], object], x: torch.Tensor, iters: int, warmup: int = 3) -> list[float]:
    """Milliseconds of ``iters`` calls of ``fn(x)`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t) * 1e3)
    return times


def stats(times: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(times), "min_ms": min(times), "samples": len(times)}
