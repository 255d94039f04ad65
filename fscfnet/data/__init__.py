"""Datasets: the IRSTD dataset and loader transforms, label I/O, upstream preparation, the demo generator."""

from .demo import ensure_dataset

__all__ = ["ensure_dataset"]
