"""Generic helpers with no knowledge of the model or the data: files, devices, command-line plumbing,
timing, EMA, plots, provenance."""

from .cli import run_cli
from .device import select_device
from .ema import ModelEMA
from .files import atomic_write, atomic_write_text, increment_path, write_json
from .plots import save_figure
from .provenance import provenance
from .timing import stats, time_calls, time_forward, time_rounds

__all__ = ["ModelEMA", "atomic_write", "atomic_write_text", "increment_path", "provenance", "run_cli", "save_figure",
           "select_device", "stats", "time_calls", "time_forward", "time_rounds", "write_json"]
