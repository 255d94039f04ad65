"""``--device`` parsing: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` (= ``cuda:0``), ``0``,
``cuda:1``, ``0,1`` / ``cuda:0,1``; and the device one training process uses (:func:`training_device`)."""

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
    parts = [s.strip() for s in spec.split(",") if s.strip()]
    try:
        ids = [0 if s == "cuda" else int(s.removeprefix("cuda:")) for s in parts]
    except ValueError:
        raise UserError(f"--device {spec!r}: use auto, cpu, cuda, a CUDA index such as 0 or cuda:1, "
                        f"or a list such as 0,1") from None
    if not ids:
        raise UserError(f"--device {spec!r}: no device given")
    if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise UserError(f"--device {spec}: CUDA indices must be distinct and non-negative, e.g. 0 or 0,1")
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    bad = [i for i in ids if i >= available]
    if bad:
        raise UserError(f"--device {spec}: CUDA device {bad[0]} is not available ({available} visible); "
                        f"use --device cpu or auto")
    return [torch.device(f"cuda:{i}") for i in ids]


def select_device(spec: str = "auto") -> torch.device:
    """The first device ``spec`` names (inference runs on one device)."""
    return parse_devices(spec)[0]


def training_device(spec: str, world: int, local_rank: int) -> torch.device:
    """The device of training process ``local_rank`` out of ``world`` (``world`` > 1 under torchrun).

    One process with several GPUs named is an error (it would silently train on the first only). Under DDP, a
    list of GPUs maps local rank i to the i-th; ``auto`` or a single GPU give ``cuda:local_rank``;
    ``cpu`` (or ``auto`` without CUDA) gives the CPU for every rank.
    """
    devices = parse_devices(spec)
    if world <= 1:
        if len(devices) > 1:
            first = devices[0].index
            raise UserError(f"--device {spec} names {len(devices)} GPUs but this is one process: launch DDP with "
                            f"torchrun --nproc_per_node {len(devices)} train.py ... (or pick one GPU: "
                            f"--device {first})")
        return devices[0]
    if devices[0].type == "cpu":
        return devices[0]
    if len(devices) > 1:
        if local_rank >= len(devices):
            raise UserError(f"--device {spec} names {len(devices)} GPUs but this is local process {local_rank}; "
                            f"launch torchrun --nproc_per_node {len(devices)}")
        return devices[local_rank]
    available = torch.cuda.device_count()
    if local_rank >= available:
        raise UserError(f"--device {spec}: process {local_rank} of {world} has no GPU of its own ({available} "
                        f"visible); use --nproc_per_node {available} or fewer")
    return torch.device(f"cuda:{local_rank}")
