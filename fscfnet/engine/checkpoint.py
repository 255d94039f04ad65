"""Checkpoints (docs/design.md §8) — the one place that knows their format.

A checkpoint is a dict of plain CPU data, loadable with ``torch.load(path, weights_only=True)`` on any machine
and written atomically. Keys: ``format``, ``version``, ``model_yaml`` (the config dict), ``names``,
``state_dict`` (the EMA weights when training), ``train_args``, ``epoch`` (0-based, the last finished one),
``best_fitness``, ``metrics``. ``last.pt`` adds what resuming needs (:mod:`fscfnet.engine.state`); a shipped
checkpoint adds ``storage`` (``float16``) and ``card`` (:func:`save_shipped`).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
import yaml

from .._version import __version__
from ..errors import UserError
from ..utils.files import atomic_write
from ..weights import resolve_weights

FORMAT = "fscfnet-checkpoint"
HALF = "float16"  # ``storage`` of a shipped checkpoint: floating-point weights kept in half precision


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor moved to the CPU (dicts, lists and tuples walked), so a checkpoint written on a
    GPU loads where there is none."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def save_checkpoint(path: Path, model: torch.nn.Module, names: list[str], *, state_dict: dict | None = None,
                    train_args: dict | None = None, epoch: int = -1, best_fitness: float | None = None,
                    metrics: dict | None = None, training: dict | None = None) -> Path:
    """Write ``path`` atomically. ``state_dict`` (the weights inference uses) defaults to the model's;
    ``training`` is :meth:`fscfnet.engine.state.TrainState.state_dict` for a ``last.pt``."""
    weights = state_dict if state_dict is not None else model.state_dict()
    ckpt = to_cpu({
        "format": FORMAT, "version": __version__, "model_yaml": dict(model.yaml), "names": list(names),
        "state_dict": weights, "train_args": dict(train_args or {}), "epoch": int(epoch),
        "best_fitness": best_fitness, "metrics": dict(metrics or {}), **(training or {}),
    })
    return atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def load_checkpoint(path: Path | str) -> dict:
    """The checkpoint dict (``path``: a file, or a shipped checkpoint's name), half-precision storage restored to
    full precision; a missing or foreign file raises :class:`UserError` naming it."""
    path = resolve_weights(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: not a readable FSCFNet checkpoint ({first[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path}: not an FSCFNet checkpoint (no '{FORMAT}' marker); train one with train.py")
    if ckpt.get("storage") == HALF:
        ckpt["state_dict"] = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    return ckpt


def _half_if_representable(v: torch.Tensor) -> torch.Tensor:
    """A floating-point tensor in half precision, unless a finite value of it is beyond half's range (65504: a
    large BatchNorm variance, say), which would become infinite: that tensor stays as it is."""
    if not v.is_floating_point():
        return v
    h = v.half()
    return h if bool((h.isfinite() | ~v.isfinite()).all()) else v


def save_shipped(src: Path, dst: Path, card: dict) -> Path:
    """Checkpoint ``src`` as a shipped one: its inference weights with floating-point tensors in half precision
    (restored to float32 by :func:`load_checkpoint`), its config, names, training settings and metrics, and
    ``card`` (``name``, ``conf`` and what docs/models.md says of it); no training state."""
    ckpt = load_checkpoint(src)
    weights = {k: _half_if_representable(v) for k, v in ckpt["state_dict"].items()}
    fields = ("format", "version", "model_yaml", "names", "train_args", "epoch", "best_fitness", "metrics")
    out = {**{k: ckpt[k] for k in fields if k in ckpt}, "state_dict": weights, "storage": HALF, "card": dict(card)}
    return atomic_write(dst, lambda tmp: torch.save(out, tmp))


def load_resume_checkpoint(path: Path) -> dict:
    """A ``last.pt`` that can resume training; a ``best.pt`` or an export is refused with what to do."""
    ckpt = load_checkpoint(path)
    if "optimizer" not in ckpt:
        raise UserError(f"{path}: holds no training state (a best.pt?); resume from weights/last.pt")
    return ckpt


def model_from_checkpoint(ckpt: dict) -> torch.nn.Module:
    """Rebuild the model from the stored config and load the stored weights (strict)."""
    from ..nn import build_model

    model = build_model(ckpt["model_yaml"])
    model.load_state_dict(ckpt["state_dict"])
    return model


ONNX_FIRST_BYTES = (b"\x08", b"\x12", b"\x1a", b"\x22", b"\x3a", b"\x42")  # the ModelProto fields an export opens with
CONFIG_MAX_BYTES = 1_000_000


def file_kind(path: Path | str) -> str:
    """What a model file holds, read from its bytes, never its name: ``"checkpoint"`` (a PyTorch zip archive),
    ``"torchscript"`` (a zip archive with a ``code/`` folder), ``"config"`` (a YAML mapping: a model config),
    ``"onnx"`` (a protobuf opening with a ModelProto field), or ``"unknown"``."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return "torchscript" if any("/code/" in n for n in z.namelist()) else "checkpoint"
    if path.stat().st_size <= CONFIG_MAX_BYTES:
        try:
            if isinstance(yaml.safe_load(path.read_text()), dict):
                return "config"
        except (UnicodeDecodeError, yaml.YAMLError):
            pass
    with path.open("rb") as f:
        head = f.read(1)
    return "onnx" if head in ONNX_FIRST_BYTES else "unknown"


def is_checkpoint(path: Path | str) -> bool:
    """Whether ``path`` is a file holding a PyTorch checkpoint (as opposed to a YAML config or an export)."""
    path = Path(path)
    return path.is_file() and file_kind(path) == "checkpoint"
