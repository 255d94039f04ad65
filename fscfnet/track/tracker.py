"""Tracking tiny targets: a Kalman filter per track, association by Mahalanobis distance solved as an assignment,
M-of-N confirmation and coasting. It knows boxes, scores and classes, not the network, so it tracks any
detector's output.

Per frame (:meth:`Tracker.update`):

1. every live track predicts its centre one frame ahead (:mod:`.kalman`);
2. detections scoring at least ``high`` are assigned to live tracks by squared Mahalanobis distance of their
   centres from the predictions (``scipy.optimize.linear_sum_assignment``), pairs beyond the ``gate`` refused:
   a 3-px target that moves 3 px has no overlap with its last box, but it is close in the filter's metric;
3. detections between ``low`` and ``high`` are assigned the same way to the *confirmed* tracks left over: a faint
   frame extends a proven track but never starts one (ByteTrack's idea, with distances instead of IoU);
4. a high detection left over starts a *tentative* track, unless it lies in a confirmed track's gate (a second
   box on a target already tracked: its track would steal the target's detection whenever the first misses it,
   switching IDs back and forth); a tentative track is *confirmed* once hit in ``confirm_hits`` of its first
   ``confirm_window`` frames (and, with ``min_motion``, once its detections span that many pixels), and dropped
   unreported otherwise: clutter that flickers never becomes a track;
5. a confirmed track missed for more than ``max_coast`` frames in a row ends.

Only confirmed tracks are reported, from the frame they are confirmed on, with the box of the detection they
took; a track's class is the score-weighted vote of its detections. Public IDs count confirmed tracks (1, 2, ...).
All state is plain data (:meth:`Tracker.state_dict`), so a stream can stop and resume with the same IDs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import kalman
from .kalman import MotionModel

INFEASIBLE = 1e9  # the cost of a pair outside the gate


@dataclass(frozen=True)
class TrackerConfig:
    high: float = 0.25  # detections at or above this start and extend tracks
    low: float = 0.1  # from this up to high: extend confirmed tracks only
    confirm_hits: int = 3  # M: hits needed ...
    confirm_window: int = 5  # ... within a new track's first N frames
    max_coast: int = 5  # K: frames a confirmed track may go unseen before it ends (5 beat 10 on synthetic data)
    gate: float = 13.8  # squared Mahalanobis distance (chi-square, 2 dof: 99.9 %)
    min_motion: float = 0.0  # px a tentative track's detections must span to be confirmed (0: off; a staring
    #   sensor's clutter stands still, but so does a hovering target)
    motion: MotionModel = field(default_factory=MotionModel)

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high:
            raise ValueError(f"tracker: need 0 <= low <= high, got low {self.low}, high {self.high}")
        if not 1 <= self.confirm_hits <= self.confirm_window:
            raise ValueError(f"tracker: need 1 <= confirm_hits <= confirm_window, got {self.confirm_hits} of "
                             f"{self.confirm_window}")
        if self.max_coast < 0 or self.gate <= 0 or self.min_motion < 0:
            raise ValueError("tracker: max_coast and min_motion must be >= 0, gate > 0")

    @classmethod
    def from_dict(cls, d: dict) -> TrackerConfig:
        return cls(**{**d, "motion": MotionModel(**d.get("motion", {}))})


@dataclass
class Track:
    """One track's state. ``path``: per hit ``[frame, cx, cy, w, h, score, class]``."""

    key: int  # internal, every track
    mean: np.ndarray  # (4,) cx, cy, vx, vy
    cov: np.ndarray  # (4, 4)
    wh: np.ndarray  # (2,) the last detection's width and height
    first: int  # frame of the first hit
    last: int  # frame of the last hit
    hits: int = 1
    misses: int = 0  # consecutive frames without a hit
    id: int | None = None  # public ID, given on confirmation
    confirmed_at: int | None = None
    votes: dict[int, float] = field(default_factory=dict)  # class -> summed score
    peak: float = 0.0
    path: list[list[float]] = field(default_factory=list)

    @property
    def side(self) -> float:
        return float(self.wh.mean())

    @property
    def cls(self) -> int:
        return max(self.votes, key=lambda c: (self.votes[c], -c))

    def hit(self, frame: int, box: np.ndarray, score: float, cls: int, motion: MotionModel) -> None:
        z = (box[:2] + box[2:]) / 2
        self.wh = box[2:] - box[:2]
        self.mean, self.cov = kalman.update(self.mean, self.cov, z, self.side, motion)
        self.last, self.misses, self.hits = frame, 0, self.hits + 1
        self.votes[cls] = self.votes.get(cls, 0.0) + score
        self.peak = max(self.peak, score)
        self.path.append([frame, *z.tolist(), *self.wh.tolist(), score, cls])

    def moved(self) -> float:
        """The largest distance, px, of a detection's centre from the track's first one."""
        first = np.array(self.path[0][1:3])
        return max(float(np.linalg.norm(np.array(p[1:3]) - first)) for p in self.path)

    def summary(self) -> dict:
        """An ended track as one JSON-able record."""
        return {"id": self.id, "first_frame": self.first, "last_frame": self.last, "confirmed_frame":
                self.confirmed_at, "hits": self.hits, "class": self.cls,
                "votes": {str(c): v for c, v in sorted(self.votes.items())}, "peak_score": self.peak,
                "path": self.path}

    def state(self) -> dict:
        d = asdict(self)
        d.update(mean=self.mean.tolist(), cov=self.cov.tolist(), wh=self.wh.tolist(),
                 votes={str(c): v for c, v in self.votes.items()})
        return d

    @classmethod
    def from_state(cls, d: dict) -> Track:
        return cls(**{**d, "mean": np.array(d["mean"]), "cov": np.array(d["cov"]), "wh": np.array(d["wh"]),
                      "votes": {int(c): v for c, v in d["votes"].items()}})


@dataclass
class TrackedBox:
    """A confirmed track's detection in one frame."""

    id: int
    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    cls: int  # the track's voted class


def assign(cost: np.ndarray, gate: float) -> list[tuple[int, int]]:
    """Minimum-cost pairs ``(row, col)`` of ``cost`` ``(r, c)`` whose cost is within ``gate``."""
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(np.where(cost <= gate, cost, INFEASIBLE))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] <= gate]


class Tracker:
    """``update(boxes, scores, classes)`` once per frame; ``finish()`` at the end of the stream."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.frame = 0
        self.tracks: list[Track] = []
        self.next_key, self.next_id = 1, 1
        self.ended: list[Track] = []  # confirmed tracks that ended, not yet collected by pop_ended()

    def update(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray | None = None,
               frame: int | None = None) -> list[TrackedBox]:
        """Advance to ``frame`` (default: the next; 1-based) with its detections ``boxes`` ``(n, 4)`` xyxy,
        ``scores`` ``(n,)`` and ``classes`` ``(n,)``; returns the confirmed tracks seen in this frame."""
        c = self.config
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        classes = np.zeros(len(boxes), int) if classes is None else np.asarray(classes).astype(int).reshape(-1)
        frame = self.frame + 1 if frame is None else int(frame)
        if frame <= self.frame:
            raise ValueError(f"tracker: frame {frame} does not follow frame {self.frame}")
        for t in self.tracks:
            for _ in range(frame - self.frame):
                t.mean, t.cov = kalman.predict(t.mean, t.cov, c.motion)
        skipped = frame - self.frame - 1  # frames with no update at all count as misses
        self.frame = frame
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        high = np.flatnonzero(scores >= c.high)
        low = np.flatnonzero((scores >= c.low) & (scores < c.high))
        hit: dict[int, int] = dict(self._match(range(len(self.tracks)), high, centres))  # track -> detection
        confirmed_left = [i for i, t in enumerate(self.tracks) if t.id is not None and i not in hit]
        hit.update(self._match(confirmed_left, low, centres))
        det_of = {}  # track key -> the detection it took (or started from) in this frame
        for i, t in enumerate(self.tracks):
            if i in hit:
                t.hit(frame, boxes[hit[i]], float(scores[hit[i]]), int(classes[hit[i]]), c.motion)
                det_of[t.key] = hit[i]
            else:
                t.misses += 1 + skipped
        taken = set(hit.values())
        confirmed = [t for t in self.tracks if t.id is not None]
        for j in high:
            if j not in taken and not self._explained(centres[j], confirmed):
                det_of[self._start(frame, boxes[j], float(scores[j]), int(classes[j]))] = j
        return [TrackedBox(t.id, boxes[det_of[t.key]].copy(), float(scores[det_of[t.key]]), t.cls)
                for t in self._advance() if t.key in det_of]

    def _match(self, track_idx, det_idx: np.ndarray, centres: np.ndarray) -> list[tuple[int, int]]:
        track_idx, det_idx = list(track_idx), list(det_idx)
        if not track_idx or not det_idx:
            return []
        cost = np.stack([kalman.mahalanobis2(self.tracks[i].mean, self.tracks[i].cov, self.tracks[i].side,
                                             centres[det_idx], self.config.motion) for i in track_idx])
        return [(track_idx[r], det_idx[k]) for r, k in assign(cost, self.config.gate)]

    def _explained(self, centre: np.ndarray, tracks: list[Track]) -> bool:
        """Whether ``centre`` lies in the gate of one of ``tracks`` (confirmed, after this frame's hits): a second
        detection of a target already tracked, whose own track would take the target's detection whenever the
        first one misses it, and switch its ID back and forth."""
        c = self.config
        return any(kalman.mahalanobis2(t.mean, t.cov, t.side, centre[None], c.motion)[0] <= c.gate for t in tracks)

    def _start(self, frame: int, box: np.ndarray, score: float, cls: int) -> int:
        """A tentative track on a detection; returns its key."""
        z, wh = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
        mean, cov = kalman.initiate(z, float(wh.mean()), self.config.motion)
        t = Track(self.next_key, mean, cov, wh, frame, frame, votes={cls: score}, peak=score,
                  path=[[frame, *z.tolist(), *wh.tolist(), score, cls]])
        self.next_key += 1
        self.tracks.append(t)
        return t.key

    def _advance(self) -> list[Track]:
        """Confirm, drop and end tracks after this frame's hits; returns the confirmed tracks still live. Tracks
        proving themselves in the same frame are confirmed strongest first, and one inside the gate of a track
        already confirmed is dropped: two boxes on one target started two tracks together."""
        c, live, confirmed = self.config, [], []
        ready = [t for t in self.tracks if t.id is None and t.hits >= c.confirm_hits and
                 self.frame - t.first + 1 <= c.confirm_window and t.moved() >= c.min_motion]
        for t in self.tracks:
            if t.id is not None:
                if t.misses > c.max_coast:
                    self.ended.append(t)
                else:
                    live.append(t)
                    confirmed.append(t)
        for t in sorted(ready, key=lambda t: (-t.peak, t.key)):
            if not self._explained(t.mean[:2], confirmed):
                t.id, t.confirmed_at = self.next_id, self.frame
                self.next_id += 1
                confirmed.append(t)
        ready_keys = {t.key for t in ready}
        for t in self.tracks:  # the tentative ones still proving themselves
            if t.id is None and t.key not in ready_keys and self.frame - t.first + 1 < c.confirm_window:
                live.append(t)
        live += [t for t in ready if t.id is not None]
        self.tracks = sorted(live, key=lambda t: t.key)
        return [t for t in self.tracks if t.id is not None]

    def pop_ended(self) -> list[dict]:
        """The confirmed tracks that ended since the last call, as :meth:`Track.summary` records."""
        ended, self.ended = self.ended, []
        return [t.summary() for t in ended]

    def finish(self) -> list[dict]:
        """End every confirmed track (the stream is over); returns all ended tracks not yet collected."""
        self.ended += [t for t in self.tracks if t.id is not None]
        self.tracks = []
        return self.pop_ended()

    def state_dict(self) -> dict:
        return {"config": asdict(self.config), "frame": self.frame, "next_key": self.next_key,
                "next_id": self.next_id, "tracks": [t.state() for t in self.tracks],
                "ended": [t.state() for t in self.ended]}

    def load_state_dict(self, state: dict) -> None:
        self.config = TrackerConfig.from_dict(state["config"])
        self.frame, self.next_key, self.next_id = state["frame"], state["next_key"], state["next_id"]
        self.tracks = [Track.from_state(d) for d in state["tracks"]]
        self.ended = [Track.from_state(d) for d in state["ended"]]
