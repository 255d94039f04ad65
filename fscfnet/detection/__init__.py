"""The detector's core, between the network (``fscfnet.nn``) and the engine: box geometry (IoU, CIoU, NWD), the
tiny-target-safe task-aligned assigner and the YOLOv10 dual-assignment loss with NWD. Boxes are decoded by the
head (``V10Detect.split``/``anchor_points``/``boxes``), the same path inference takes."""

from .assigner import Assignment, TaskAlignedAssigner
from .boxes import box_quality, ciou, nwd
from .loss import COMPONENTS, BranchLoss, V10DetectionLoss, dfl_loss

__all__ = ["Assignment", "BranchLoss", "COMPONENTS", "TaskAlignedAssigner", "V10DetectionLoss", "box_quality",
           "ciou", "dfl_loss", "nwd"]
