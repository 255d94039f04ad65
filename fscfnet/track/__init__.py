"""Tracking on top of any detector: :class:`Tracker` (Kalman filter, Mahalanobis assignment, M-of-N confirmation)."""

from .kalman import MotionModel
from .tracker import TrackedBox, Tracker, TrackerConfig

__all__ = ["MotionModel", "TrackedBox", "Tracker", "TrackerConfig"]
