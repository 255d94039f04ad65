"""``--device`` parsing: ``auto`` (CUDA when available, else CPU), ``cpu``, ``0``, ``0,1``."""

from __future__ import annotations

import torch

from ..errors import UserError


def parse_devices(spec: str) -> list[torch.device]:
    """All devices named by ``spec`` (several only for multi-GPU training)."""
    spec = str(spec).strip().lower()
    if spec == "auto":
        return [torch.device("cuda:0" if torch.cuda.is_available() else "cpu")]
    if spec == "cpu":
        return [torch.device("cpu")]
    try:
        ids = [int(s) for s in spec.replace("cuda:", "").split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--device {spec!r}: use auto, cpu, a CUDA index such as 0, or a list such as 0,1") from None
    if not ids:
        raise UserError(f"--device {spec!r}: no device given")
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    bad = [i for i in ids if i >= available]
    if bad:
        raise UserError(f"--device {spec}: CUDA device {bad[0]} is not available ({available} visible); "
                        f"use --device cpu or auto")
    return [torch.device(f"cuda:{i}") for i in ids]


def select_device(spec: str = "auto") -> torch.device:
    return parse_devices(spec)[0]
