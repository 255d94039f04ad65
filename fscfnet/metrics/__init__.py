"""Detection metrics (SPEC §6) and ``python -m fscfnet.metrics`` for any detector's COCO-format results."""

from .detection import DEFINITIONS, Metrics, evaluate, format_table

__all__ = ["DEFINITIONS", "Metrics", "evaluate", "format_table"]
