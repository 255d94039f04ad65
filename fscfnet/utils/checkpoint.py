"""Checkpoints as plain data (SPEC §8): loadable with ``torch.load(path, weights_only=True)``, written atomically.

Keys: ``format``, ``version``, ``model_yaml`` (the config dict), ``names``, ``state_dict`` (the EMA weights when
training), ``train_args``, ``epoch``, ``best_fitness``, ``metrics``; in ``last.pt`` also ``optimizer``,
``ema``, ``scaler`` and anything else the trainer needs to resume.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from .files import atomic_write

FORMAT = "fscfnet-checkpoint"


def save_checkpoint(path: Path, model: torch.nn.Module, names: list[str], *, state_dict: dict | None = None,
                    train_args: dict | None = None, epoch: int = -1, best_fitness: float | None = None,
                    metrics: dict | None = None, **resume_state: Any) -> Path:
    """Write ``path`` atomically. ``state_dict`` defaults to the model's; ``resume_state`` holds optimizer etc."""
    from .. import __version__

    weights = state_dict if state_dict is not None else model.state_dict()
    ckpt = {
        "format": FORMAT, "version": __version__, "model_yaml": dict(model.yaml), "names": list(names),
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in weights.items()},
        "train_args": dict(train_args or {}), "epoch": int(epoch), "best_fitness": best_fitness,
        "metrics": dict(metrics or {}), **resume_state,
    }
    return atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def load_checkpoint(path: Path) -> dict:
    """The checkpoint dict; a missing or foreign file raises :class:`UserError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: weights file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: not a readable FSCFNet checkpoint ({first[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path}: not an FSCFNet checkpoint (no '{FORMAT}' marker); train one with train.py")
    return ckpt


def model_from_checkpoint(ckpt: dict) -> torch.nn.Module:
    """Rebuild the model from the stored config and load the stored weights (strict)."""
    from ..nn import build_model

    model = build_model(ckpt["model_yaml"])
    model.load_state_dict(ckpt["state_dict"])
    return model
