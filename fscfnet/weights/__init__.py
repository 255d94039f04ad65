"""Checkpoints that ship inside the package (``fscfnet/weights/NAME.pt``), loadable by name wherever weights are
taken: ``FSCFNet("fscfnet-irstd")``, ``--weights fscfnet-drone-ir``; ``fscfnet detect`` and ``fscfnet track``
without ``--weights`` use :data:`DEFAULT`. Each is a checkpoint whose floating-point tensors are stored in half
precision and restored to full precision on load (``fscfnet ship`` packs one:
:func:`fscfnet.engine.checkpoint.save_shipped`), with a
``card``: what it is, what it was trained on, and the confidence it recommends. Model cards: docs/models.md."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError

WEIGHTS_DIR = Path(__file__).resolve().parent
DEFAULT = "fscfnet-irstd"  # detect and track without --weights
MAX_BYTES = 10 * 2**20  # what a shipped file may weigh (the wheel carries every one)


def shipped_names() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))


def shipped_path(name: str) -> Path | None:
    """The packaged file of shipped checkpoint ``name``, or None."""
    path = WEIGHTS_DIR / f"{name}.pt"
    return path if "/" not in name and "\\" not in name and path.is_file() else None


def resolve_weights(weights: str | Path) -> Path:
    """A weights file: an existing path as it is, else a shipped checkpoint by name; else a one-line error that
    names both possibilities."""
    path = Path(weights)
    if path.is_file():
        return path
    found = shipped_path(str(weights))
    if found is not None:
        return found
    names = shipped_names()
    raise UserError(f"{weights}: weights file not found (nor a shipped checkpoint: "
                    f"{', '.join(names) if names else 'none are installed'})")
