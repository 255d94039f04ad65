"""Datasets: the IRSTD dataset and loader transforms, images, label I/O, upstream preparation, the demo generator."""

from .catalog import ensure_dataset, open_dataset

__all__ = ["ensure_dataset", "open_dataset"]
