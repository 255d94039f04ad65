"""Model building blocks, the block registry and the YAML graph builder."""

from .builder import ModelConfigError, build_model, load_config
from .model import DetectionModel, LayerSpec
from .registry import (
                       get_block,
                       head_channels,
                       register,
                       registered_names,
                       same_channels,
                       scaled_out_channels,
                       summed_channels,
)

__all__ = ["DetectionModel", "LayerSpec", "ModelConfigError", "build_model", "get_block", "head_channels",
           "load_config", "register", "registered_names", "same_channels", "scaled_out_channels", "summed_channels"]
