"""Detect and track over videos, image sequences and live streams (the tracker: :mod:`fscfnet.track`):
``fscfnet track``, ``detect --track`` and ``FSCFNet.track`` all run :func:`run_track`.

A sequence is one video file, one live source, or the still images of one source item (a folder, a glob, a list
file: its frames in order). Each gets a fresh :class:`~fscfnet.track.tracker.Tracker` and, in the run folder:

- ``mot/<name>.txt``: the confirmed tracks in MOTChallenge results form, ``frame,id,x,y,w,h,score,-1,-1,-1``
  (1-based frame numbers and pixel coordinates), written frame by frame;
- ``tracks.jsonl``: one line per ended track (its sequence, first / last / confirmed frame, class name and
  votes, peak score, path), written as each track ends;
- ``<name>.mp4`` (unless ``save_video`` is off): the frames with track IDs, trails and zoomed insets.

Every line is flushed as it is written, so a run that stops (a stream that stays down, an interrupt) leaves
complete files up to its last frame.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

import cv2
from tqdm import tqdm

from ..cfg.norm import InputNorm
from ..data.sources import Source, is_live, live_name
from ..data.views import InferenceMode
from ..track import TrackedBox, Tracker, TrackerConfig
from ..track.draw import draw_tracks
from .backends import InferenceModel
from .predictor import OutputNames, Predictor, open_video_writer
from .result import Result

TRAIL = 30  # frames of trail drawn behind a track


@dataclass
class TrackStats:
    frames: int = 0
    sequences: int = 0
    tracks: int = 0  # confirmed tracks, all sequences
    seconds: float = 0.0  # wall clock, reading included
    tracker_ms: float = 0.0  # the tracker's own time (Tracker.update), all frames
    detect_ms: dict[str, float] = field(default_factory=dict)  # per frame: preprocess, inference, postprocess

    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class SequenceOutput:
    """One sequence's tracker and files."""

    def __init__(self, path: str, name: PurePosixPath, save_dir: Path, config: TrackerConfig,
                 names: Sequence[str], tracks_file, save_video: bool):
        self.path = path  # the source file (or stream) the sequence comes from
        self.name, self.names, self.tracks_file = str(name.with_suffix("")), list(names), tracks_file
        self.tracker = Tracker(config)
        (save_dir / "mot" / name).parent.mkdir(parents=True, exist_ok=True)
        self.mot = open(save_dir / "mot" / name.with_suffix(".txt"), "w")
        self.video_path = save_dir / name.with_suffix(".mp4") if save_video else None
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] = (0, 0)
        self.trails: dict[int, list[tuple[float, float]]] = {}
        self.frame = 0
        self.tracker_s = 0.0  # the tracker's own time, all frames

    def add(self, r: Result) -> list[TrackedBox]:
        """Track ``r``'s detections as the sequence's next frame; write its rows and its drawn frame."""
        self.frame = r.frame + 1 if r.frame >= 0 else self.frame + 1
        t0 = time.perf_counter()
        tracked = self.tracker.update(r.boxes, r.scores, r.classes, frame=self.frame)
        self.tracker_s += time.perf_counter() - t0
        for t in tracked:
            x1, y1, x2, y2 = (float(v) for v in t.box)
            self.mot.write(f"{self.frame},{t.id},{x1 + 1:.2f},{y1 + 1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                           f"{t.score:.4f},-1,-1,-1\n")
        self.mot.flush()
        self._ended(self.tracker.pop_ended())
        if self.video_path is not None and r.image is not None:
            live = {t.id for t in tracked}
            for t in tracked:
                self.trails.setdefault(t.id, []).append(((t.box[0] + t.box[2]) / 2, (t.box[1] + t.box[3]) / 2))
                del self.trails[t.id][:-TRAIL]
            self.trails = {k: v for k, v in self.trails.items() if k in live}
            image = draw_tracks(r.image, tracked, self.trails, self.names)
            if self.writer is None:
                self.writer = open_video_writer(self.video_path, r.fps, image.shape[:2])
                self.size = image.shape[:2]
            if image.shape[:2] == self.size:  # a video holds frames of one size
                self.writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            else:
                print(f"{r.path}: {r.orig_shape[1]}x{r.orig_shape[0]} differs from the sequence's first frame; "
                      f"tracked, but left out of {self.video_path.name}", file=sys.stderr)
        return tracked

    def _ended(self, records: list[dict]) -> None:
        for rec in records:
            cls = rec["class"]
            rec = {"sequence": self.name, **rec, "class_name": self.names[cls] if cls < len(self.names) else str(cls)}
            self.tracks_file.write(json.dumps(rec) + "\n")
        self.tracks_file.flush()

    def close(self, stats: TrackStats) -> None:
        """End the sequence: its remaining tracks are written, its counts added to ``stats``."""
        self._ended(self.tracker.finish())
        self.mot.close()
        if self.writer is not None:
            self.writer.release()
        stats.tracks += self.tracker.next_id - 1
        stats.tracker_ms += self.tracker_s * 1e3


def run_track(model: InferenceModel, source: Source | Sequence[Source], save_dir: Path,
              mode: InferenceMode | int | str | None = None, config: TrackerConfig | None = None,
              save_video: bool = True, recursive: bool = False, norm: InputNorm | None = None, reconnects: int = 3,
              read_ahead: int = 4, log: Callable[[str], None] = print, progress: bool = True) -> TrackStats:
    """Detect (every detection down to the tracker's ``low`` score) and track each sequence of ``source`` into
    ``save_dir`` (see the module's docstring); returns the counts and speeds."""
    config = config or TrackerConfig()
    items = list(source) if isinstance(source, (list, tuple)) else [source]
    save_dir.mkdir(parents=True, exist_ok=True)
    predictor = Predictor(model, mode, config.low, 1, keep_images=save_video,
                          on_skip=lambda f: print(f"skipped {f.path}: {f.error}", file=sys.stderr), norm=norm,
                          read_ahead=read_ahead, reconnects=reconnects)
    log(f"model: {model.identity()}")
    log(f"track: {predictor.mode.describe()} ({model.format}), detections >= {config.low} (tracks start at "
        f">= {config.high}), confirmed after {config.confirm_hits} hits in {config.confirm_window} frames, "
        f"coasting {config.max_coast} frames")
    stats, names = TrackStats(), OutputNames()
    start = time.perf_counter()
    with open(save_dir / "tracks.jsonl", "a") as tracks_file:
        for item in items:
            seq: SequenceOutput | None = None
            item_name = live_name(item) if is_live(item) else Path(str(item)).name or "frames"
            bar = tqdm(predictor(item, recursive), unit="frame", desc=item_name, disable=not progress,
                       file=sys.stderr)
            try:
                for r in bar:
                    if seq is None or (r.frame >= 0 and (r.frame == 0 or r.path != seq.path)):
                        if seq is not None:
                            seq.close(stats)
                        name = PurePosixPath(r.rel if r.frame >= 0 else f"{item_name}.frames")
                        seq = SequenceOutput(r.path, names.assign(r.path, str(name)), save_dir, config,
                                             model.names, tracks_file, save_video)
                        stats.sequences += 1
                    seq.add(r)
                    stats.frames += 1
            finally:
                bar.close()
                if seq is not None:
                    seq.close(stats)
    stats.seconds = time.perf_counter() - start
    stats.detect_ms = predictor.stats.per_image()
    log(f"{stats.frames} frame(s) of {stats.sequences} sequence(s), {stats.tracks} confirmed track(s); "
        f"{stats.fps():.1f} frames/s end to end (reading, detection and tracking), tracker "
        f"{stats.tracker_ms / max(stats.frames, 1):.2f} ms/frame; results in {save_dir}")
    return stats
