"""Model building blocks, the block registry and the YAML graph builder."""

from .builder import ModelConfigError, build_model, load_config
from .model import DetectionModel, LayerSpec
from .registry import get_block, register, registered_names

__all__ = ["DetectionModel", "LayerSpec", "ModelConfigError", "build_model", "get_block", "load_config",
           "register", "registered_names"]
