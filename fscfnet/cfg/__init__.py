"""Every setting in one layer: the typed config dataclasses and the configs that ship with the package.

- ``paths``: the shipped ``models/*.yaml`` and ``datasets/*.yaml`` resolved by name, and the datasets root
  (``$FSCFNET_DATASETS``, else ``./datasets``);
- ``schema``: dataclasses from plain dicts with did-you-mean errors; ``KEY=VALUE`` overrides;
- ``train`` (:class:`TrainConfig`), ``data`` (:class:`DataConfig`), ``loss`` (:class:`LossConfig`),
  ``augment`` (:class:`AugmentConfig`).

Loading a config has no side effects (no dataset is generated, no file written).
"""

from .augment import AugmentConfig
from .data import DataConfig, load_data_config
from .loss import LossConfig
from .norm import InputNorm
from .paths import (
                    DATASET_CONFIGS_DIR,
                    DATASETS_ENV,
                    MODELS_DIR,
                    dataset_names,
                    datasets_root,
                    is_name,
                    model_names,
                    resolve_model,
)
from .schema import did_you_mean, from_dict, parse_overrides
from .train import TrainConfig, load_train_config

__all__ = ["AugmentConfig", "DATASETS_ENV", "DATASET_CONFIGS_DIR", "DataConfig", "InputNorm", "LossConfig", "MODELS_DIR",
           "TrainConfig", "dataset_names", "datasets_root", "did_you_mean", "from_dict", "is_name",
           "load_data_config", "load_train_config", "model_names", "parse_overrides", "resolve_model"]
