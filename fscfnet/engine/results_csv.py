"""results.csv (one row per epoch) and results.png."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..utils.files import atomic_write_text
from ..detection.loss import COMPONENTS
from ..utils.plots import save_figure

METRIC_COLUMNS = ("precision", "recall", "f1", "ap50", "ap50_95", "pd", "fa")
TIME_COLUMNS = ("train_s", "val_s")  # seconds the epoch spent training and validating (rank 0)
COLUMNS = ("epoch", *COMPONENTS, "lr", *METRIC_COLUMNS, *TIME_COLUMNS)


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict]) -> None:
    """Rewrite results.csv atomically (numbers with 6 significant digits)."""
    def fmt(v: object) -> str:
        if v is None or v == "":
            return ""
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    lines = [",".join(COLUMNS)] + [",".join(fmt(r.get(c)) for c in COLUMNS) for r in rows]
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
