"""FSCFNet: frequency-spatial fusion network for infrared small-target detection (IEEE TGRS 2025)."""

from .nn import DetectionModel, build_model

__version__ = "0.1.0"
__all__ = ["DetectionModel", "build_model", "__version__"]
