"""The detections of one image (or video frame), in original pixels, able to draw and save themselves."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..utils.files import atomic_write, atomic_write_text
from ..utils.plots import draw_boxes


@dataclass
class Result:
    """``boxes``: ``(n, 4)`` x1, y1, x2, y2 in original pixels; ``scores`` ``(n,)``; ``classes`` ``(n,)`` int;
    ``orig_shape``: (height, width); ``image``: the original ``(H, W, C)`` uint8 image (RGB when C = 3), kept
    unless the predictor was told to drop it."""

    path: str
    orig_shape: tuple[int, int]
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    names: list[str]
    image: np.ndarray | None = None
    frame: int = -1  # index within a video, -1 for a still image
    fps: float = 0.0  # the video's frame rate, 0 for a still image
    speed: dict[str, float] = field(default_factory=dict)  # ms: preprocess, inference, postprocess
    rel: str = ""  # path relative to its source root ("sub/x.png" in a folder source); outputs are named after it

    def __len__(self) -> int:
        return len(self.boxes)

    def summary(self) -> str:
        """E.g. ``"2 targets"`` or ``"no detections"``."""
        if not len(self):
            return "no detections"
        counts = Counter(int(c) for c in self.classes)
        return ", ".join(f"{n} {self.names[c] if c < len(self.names) else c}{'s' if n > 1 else ''}"
                         for c, n in sorted(counts.items()))

    def plot(self, image: np.ndarray | None = None, scores: bool = True) -> np.ndarray:
        """The image with boxes drawn, RGB ``(H, W, 3)`` uint8 (grey images are expanded)."""
        img = self.image if image is None else image
        if img is None:
            raise UserError(f"{self.path}: this result holds no image to draw on (pass image=...)")
        if img.ndim == 2 or img.shape[2] == 1:
            img = np.repeat(img.reshape(*img.shape[:2], 1), 3, axis=2)
        return draw_boxes(img, self.boxes, self.classes, self.scores if scores else None)

    def save(self, path: Path | str) -> Path:
        """Write the annotated image to ``path`` (format from its suffix), atomically."""
        path = Path(path)
        bgr = cv2.cvtColor(self.plot(), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(path.suffix or ".png", bgr)
        if not ok:
            raise UserError(f"{path}: OpenCV cannot write images of this type; use .png or .jpg")
        return atomic_write(path, lambda tmp: tmp.write_bytes(buf.tobytes()))

    def yolo_lines(self, save_conf: bool = False) -> list[str]:
        """``class cx cy w h [conf]`` per detection, normalised by the original image size."""
        h, w = self.orig_shape
        lines = []
        for (x1, y1, x2, y2), s, c in zip(self.boxes, self.scores, self.classes):
            line = f"{int(c)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
            lines.append(line + (f" {s:.5f}" if save_conf else ""))
        return lines

    def save_txt(self, path: Path | str, save_conf: bool = False) -> Path:
        """Write YOLO labels (an empty file when nothing was detected), atomically."""
        lines = self.yolo_lines(save_conf)
        return atomic_write_text(Path(path), "\n".join(lines) + ("\n" if lines else ""))

    def to_dict(self) -> dict:
        return {"path": self.path, "frame": self.frame, "height": self.orig_shape[0], "width": self.orig_shape[1],
                "detections": [{"box": [float(v) for v in b], "score": float(s), "class": int(c)}
                               for b, s, c in zip(self.boxes, self.scores, self.classes)]}
