"""Latency timing, the one protocol behind every latency number: untimed warm-up calls, then per-call milliseconds
(CUDA synchronised); several callables timed in alternating rounds; median / p90 / min."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch


def sync(device: torch.device | None) -> None:
    """Wait for ``device``'s queued work (CUDA); nothing on the CPU."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[torch.Tensor], object], x: torch.Tensor, iters: int, warmup: int = 3) -> list[float]:
    """Milliseconds of ``iters`` calls of ``fn(x)`` after ``warmup`` untimed calls (autograd as the caller has it:
    e.g. a forward + backward step)."""
    device = x.device if isinstance(x, torch.Tensor) else None
    for _ in range(warmup):
        fn(x)
    sync(device)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn(x)
        sync(device)
        times.append((time.perf_counter() - t) * 1e3)
    return times


@torch.inference_mode()
def time_forward(fn: Callable[[torch.Tensor], object], x: torch.Tensor, iters: int, warmup: int = 3) -> list[float]:
    """:func:`time_calls` under ``torch.inference_mode`` (inference latency)."""
    return time_calls(fn, x, iters, warmup)


def time_rounds(runs: dict[str, tuple[Callable[[torch.Tensor], object], torch.Tensor]], iters: int, warmup: int,
                rounds: int = 1) -> dict[str, list[float]]:
    """Milliseconds per call for each ``name -> (fn, input)``: per round, each gets ``warmup`` untimed and ``iters``
    timed calls; rounds alternate the order (as given, then reversed), so drift on a shared machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        for name in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            fn, x = runs[name]
            times[name] += time_forward(fn, x, iters, warmup)
    return times


class StageTimer:
    """Seconds spent per stage of a loop (preprocess, inference, postprocess), summed over iterations;
    ``with timer("inference"): ...`` times one stage, ``device``'s queued work included (CUDA synchronised)."""

    def __init__(self, device: torch.device | None = None, stages: tuple[str, ...] = ("preprocess", "inference",
                                                                                      "postprocess")):
        self.device, self.seconds = device, dict.fromkeys(stages, 0.0)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        sync(self.device)
        self.seconds[stage] += time.perf_counter() - t

    def ms_per(self, n: int) -> dict[str, float]:
        """Milliseconds per item over ``n`` items, per stage and in ``total``."""
        ms = {k: 1e3 * v / max(n, 1) for k, v in self.seconds.items()}
        return {**ms, "total": sum(ms.values())}


def stats(times: list[float]) -> dict[str, float]:
    """Median, 90th percentile and minimum of a list of milliseconds."""
    q = statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]
    return {"median_ms": statistics.median(times), "p90_ms": q, "min_ms": min(times), "samples": len(times)}
