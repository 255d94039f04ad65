"""Datasets: the IRSTD dataset and loader, images, label I/O, upstream preparation, the demo generator."""

from .catalog import ensure_dataset, open_dataset, open_training_data
from .dataset import IRSTDDataset, Targets, build_dataloader, collate, label_stats
from .demo import generate_demo
from .images import IMAGE_SUFFIXES, image_files, read_image
from .labels import mask_to_boxes, read_index, read_yolo_labels
from .letterbox import Letterbox
from .prepare import prepare

__all__ = ["IMAGE_SUFFIXES", "IRSTDDataset", "Letterbox", "Targets", "build_dataloader", "collate", "ensure_dataset",
           "generate_demo", "image_files", "label_stats", "mask_to_boxes", "open_dataset", "open_training_data", "prepare", "read_image", "read_index",
           "read_yolo_labels"]
