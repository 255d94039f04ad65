"""Experiments: every (dataset, model, seed) run trained and validated resumably (:mod:`.runner`), seed
statistics (:mod:`.statistics`) and the report (:mod:`.report`); ``python -m fscfnet.experiments`` (:mod:`.cli`)."""

from .cli import main
from .report import format_results, plot_comparison, write_report
from .runner import last_epoch, run_experiments, run_label, run_one, timings
from .statistics import METRICS, mean_std, summarize

__all__ = ["METRICS", "format_results", "last_epoch", "main", "mean_std", "plot_comparison", "run_experiments",
           "run_label", "run_one", "summarize", "timings", "write_report"]
