"""What produced a results file: the command, the code (git commit) and the software and machine it ran on."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(path: Path | None = None) -> str | None:
    """The checkout's commit (with ``+dirty`` for uncommitted changes), or None outside a git checkout."""
    cwd = Path(path or Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def command_line(orig_argv: list[str]) -> str:
    """The command as typed, from the interpreter's own argument list (``sys.orig_argv``): ``python -m
    fscfnet.experiments ...``, ``python benchmarks/x.py ...``, or ``fscfnet bench ...`` for the console command.
    Under ``torchrun`` it is each worker's command (``python -u train.py ...``), not the launcher's."""
    exe, *args = orig_argv or [sys.executable, *sys.argv]  # an embedding interpreter may leave orig_argv empty
    if args and not args[0].startswith("-") and Path(args[0]).stem == "fscfnet":  # the console script (.exe too)
        return shlex.join(["fscfnet", *args[1:]])
    return shlex.join([Path(exe).name, *args])


def provenance(device: torch.device | str | None = None) -> dict:
    """Command, commit, versions (Python, torch, torchvision, onnxruntime, OpenCV, NumPy), device, threads, CPUs."""
    import cv2
    import numpy as np

    device = torch.device(device) if device is not None else None
    gpu = torch.cuda.get_device_name(device) if device is not None and device.type == "cuda" else None
    return {
        "command": command_line(sys.orig_argv),
        "commit": git_commit(), "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": _version("torchvision"), "onnxruntime": _version("onnxruntime"), "opencv": cv2.__version__,
        "numpy": np.__version__, "device": str(device) if device is not None else None, "gpu": gpu,
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "machine": platform.machine(),
    }
