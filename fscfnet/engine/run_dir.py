"""A training run's folder: ``results.csv`` (one row per epoch), ``results.png``, ``weights/best.pt`` and
``weights/last.pt``, ``provenance.json`` — its layout and the order in which an epoch's end is committed.

Commit order at the end of an epoch (:meth:`RunFiles.commit_epoch`): ``results.csv``, then ``best.pt`` (when
the epoch is the best), then ``last.pt``. ``last.pt`` is the commit point: a kill at any moment leaves a
``last.pt`` whose best epoch has a ``best.pt``, and rows past its epoch, which resuming drops.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..detection.loss import COMPONENTS
from ..utils.files import atomic_write_text, write_json
from ..utils.plots import save_figure
from .checkpoint import load_checkpoint, save_checkpoint

METRIC_COLUMNS = ("precision", "recall", "f1", "ap50", "ap50_95", "pd", "fa")
TIME_COLUMNS = ("train_s", "val_s")  # seconds the epoch spent training and validating (rank 0)
COLUMNS = ("epoch", *COMPONENTS, "lr", *METRIC_COLUMNS, *TIME_COLUMNS)


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict]) -> None:
    """Rewrite results.csv atomically (numbers with 6 significant digits): the standard columns, then any others
    the rows hold (a mixed run's ``DATASET/metric`` columns), in the order first seen."""
    def fmt(v: object) -> str:
        if v is None or v == "":
            return ""
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    columns = [*COLUMNS, *dict.fromkeys(k for r in rows for k in r if k not in COLUMNS)]
    lines = [",".join(columns)] + [",".join(fmt(r.get(c)) for c in columns) for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def plot_results(path: Path, rows: list[dict]) -> Path:
    """Loss components and validation metrics against epoch."""
    fig = Figure(figsize=(14, 6))
    axes = fig.subplots(2, 7).ravel()
    epochs = np.array([float(r["epoch"]) for r in rows])
    for ax, col in zip(axes, [*COMPONENTS, "lr", *METRIC_COLUMNS]):
        vals = np.array([float(r[col]) if r.get(col) not in (None, "") else np.nan for r in rows])
        ax.plot(epochs, vals, marker=".", lw=1.2, color="#3b75af")
        ax.set_title(col, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def epochs_in(last: dict | None) -> int:
    """How many epochs a run's ``last.pt`` (as read; None: none written) holds."""
    return int(last["epoch"]) + 1 if last else 0


class RunFiles:
    """A training run's folder: ``results.csv``, ``weights/best.pt``, ``weights/last.pt``, ``provenance.json``."""

    @classmethod
    def of_checkpoint(cls, last: Path) -> "RunFiles":
        """The run folder a ``weights/last.pt`` belongs to."""
        return cls(Path(last).resolve().parent.parent)

    def __init__(self, save_dir: Path):
        self.dir = Path(save_dir)
        self.weights = self.dir / "weights"
        self.results = self.dir / "results.csv"
        self.best = self.weights / "best.pt"
        self.last = self.weights / "last.pt"
        self.provenance = self.dir / "provenance.json"

    def starts(self) -> list[dict] | None:
        """``provenance.json``'s entries, one per (re)start of the training (None for runs from before it existed)."""
        return json.loads(self.provenance.read_text())["starts"] if self.provenance.is_file() else None

    def record_start(self, epoch: int, info: dict, resumed: bool) -> None:
        """Add to ``provenance.json`` the code and software that (re)started the run at ``epoch`` (1-based): one
        entry per start, so a run resumed under other code says so; a new run replaces an old file."""
        earlier = (self.starts() or []) if resumed else []
        write_json(self.provenance, {"starts": [*earlier, {"epoch": epoch, **info}]})

    def start_rows(self, resumed_epoch: int | None) -> list[dict]:
        """The rows a run continues from: none for a new run (an old ``results.csv`` and weights in a reused folder
        are removed, so nothing of another run is resumed), and those up to the checkpoint's epoch when resuming
        (rows written after it are dropped)."""
        self.weights.mkdir(parents=True, exist_ok=True)
        if resumed_epoch is None:
            self.last.unlink(missing_ok=True)
            self.best.unlink(missing_ok=True)
        rows = [] if resumed_epoch is None else [r for r in read_rows(self.results) if int(r["epoch"]) <= resumed_epoch + 1]
        write_rows(self.results, rows)
        return rows

    def last_checkpoint(self) -> dict | None:
        """``last.pt`` as saved (None without one)."""
        return load_checkpoint(self.last) if self.last.is_file() else None

    def epochs_committed(self) -> int:
        """How many epochs ``last.pt`` holds (0 without one)."""
        return epochs_in(self.last_checkpoint())

    def commit_epoch(self, rows: list[dict], best: dict | None, last: dict) -> None:
        """``results.csv``, then ``best.pt`` (if given), then ``last.pt``; each a dict of
        :func:`save_checkpoint` arguments."""
        write_rows(self.results, rows)
        if best is not None:
            save_checkpoint(self.best, **best)
        save_checkpoint(self.last, **last)
