"""FSCFNet: frequency-spatial fusion network for infrared small-target detection (IEEE TGRS 2025)."""

from ._version import __version__
from .nn import DetectionModel, build_model

__all__ = ["DetectionModel", "FSCFNet", "build_model", "__version__"]


def __getattr__(name: str):
    if name == "FSCFNet":  # imported on first use: ``import fscfnet`` stays light
        from .api import FSCFNet

        return FSCFNet
    raise AttributeError(f"module 'fscfnet' has no attribute {name!r}")
