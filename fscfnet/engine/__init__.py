"""Training, validation and prediction: the plan and state of a run, its epoch loop and folder, checkpoints, the
inference backends, the validator and the predictor."""

from .backends import InferenceModel, load_inference_model, model_input
from .checkpoint import file_kind, load_checkpoint, save_checkpoint
from .predictor import Predictor, run_detect
from .result import Result
from .run_dir import RunFiles, read_rows
from .state import TrainState, run_finished
from .trainer import Trainer, TrainingError
from .validator import validate, validate_model

__all__ = ["InferenceModel", "Predictor", "Result", "RunFiles", "TrainState", "Trainer", "TrainingError", "file_kind",
           "load_checkpoint", "load_inference_model", "model_input", "read_rows", "run_detect", "run_finished",
           "save_checkpoint", "validate", "validate_model"]
