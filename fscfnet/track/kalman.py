"""A constant-velocity Kalman filter on a target's centre, one per track.

State ``[cx, cy, vx, vy]`` in pixels and pixels per frame; the measurement is a detection's centre. The process
noise is white acceleration (``accel`` px / frame², per axis): a tiny target's motion between frames is mostly
steady, and the filter's predicted covariance, not a box overlap, decides which detections a track may take.
The measurement noise grows with the box (a 30-px airplane's centre wanders more than a 3-px drone's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]], np.float64)  # one frame of motion
H = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float64)  # the centre is observed


@dataclass(frozen=True)
class MotionModel:
    """The filter's noise levels, in pixels and frames."""

    # Chosen on synthetic tiny-target sequences (benchmarks/results/track_tuning_synthetic_seed1.json): a found
    # 2-5 px target's box centre is often 1-3 px off, and a filter that trusts it more switches IDs 5-10x as often.
    accel: float = 1.0  # process noise: acceleration std per axis, px / frame^2
    measure: float = 3.5  # measurement noise: centre std for a point-like target, px
    measure_per_px: float = 0.05  # plus this fraction of the box's mean side
    init_speed: float = 4.0  # a new track's velocity std, px / frame (its velocity is unknown)

    def process_noise(self) -> np.ndarray:
        """``(4, 4)`` Q of white acceleration over one frame."""
        g = np.array([[0.5, 0], [0, 0.5], [1, 0], [0, 1]])  # position and velocity change per unit acceleration
        return g @ g.T * self.accel ** 2

    def measurement_noise(self, side: float) -> np.ndarray:
        """``(2, 2)`` R for a box of mean side ``side`` px."""
        return np.eye(2) * (self.measure + self.measure_per_px * side) ** 2


def initiate(z: np.ndarray, side: float, m: MotionModel) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(4,)`` and covariance ``(4, 4)`` of a track started on centre ``z`` ``(2,)``, at rest."""
    mean = np.array([z[0], z[1], 0.0, 0.0])
    pos = m.measurement_noise(side)[0, 0]
    return mean, np.diag([pos, pos, m.init_speed ** 2, m.init_speed ** 2])


def predict(mean: np.ndarray, cov: np.ndarray, m: MotionModel) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead."""
    return F @ mean, F @ cov @ F.T + m.process_noise()


def innovation(mean: np.ndarray, cov: np.ndarray, side: float, m: MotionModel) -> tuple[np.ndarray, np.ndarray]:
    """The predicted centre ``(2,)`` and its covariance S ``(2, 2)`` as a measurement would see it."""
    return H @ mean, H @ cov @ H.T + m.measurement_noise(side)


def mahalanobis2(mean: np.ndarray, cov: np.ndarray, side: float, z: np.ndarray, m: MotionModel) -> np.ndarray:
    """Squared Mahalanobis distances ``(n,)`` of centres ``z`` ``(n, 2)`` from the predicted centre."""
    mu, s = innovation(mean, cov, side, m)
    d = z - mu
    return np.einsum("ni,ij,nj->n", d, np.linalg.inv(s), d)


def update(mean: np.ndarray, cov: np.ndarray, z: np.ndarray, side: float,
           m: MotionModel) -> tuple[np.ndarray, np.ndarray]:
    """The state after measuring centre ``z`` ``(2,)`` (Joseph form, so the covariance stays symmetric)."""
    mu, s = innovation(mean, cov, side, m)
    k = cov @ H.T @ np.linalg.inv(s)
    i_kh = np.eye(4) - k @ H
    cov = i_kh @ cov @ i_kh.T + k @ m.measurement_noise(side) @ k.T
    return mean + k @ (z - mu), cov
