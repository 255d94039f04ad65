"""The detections of one image (or video frame), in original pixels, able to draw and save themselves."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..utils.files import atomic_write, atomic_write_text
from ..utils.plots import draw_boxes, draw_detections

INSET_MIN_SIDE = 512  # frames this large or larger get zoomed insets of their detections by default


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

    def plot(self, image: np.ndarray | None = None, scores: bool = True, insets: bool | None = None) -> np.ndarray:
        """The image with boxes drawn, RGB uint8 (grey images are expanded); with ``insets`` (None: for frames
        whose long side is at least :data:`INSET_MIN_SIDE` px, where a few-pixel target is lost) and detections, a
        strip of zoomed, numbered insets beside it, one per detection (:func:`draw_detections`)."""
        img = self._rgb(image)
        if insets is None:
            insets = max(img.shape[:2]) >= INSET_MIN_SIDE
        if insets and len(self):
            return draw_detections(img, self.boxes, self.classes, self.scores, names=self.names)
        return draw_boxes(img, self.boxes, self.classes, self.scores if scores else None, names=self.names)

    def _rgb(self, image: np.ndarray | None = None) -> np.ndarray:
        img = self.image if image is None else image
        if img is None:
            raise UserError(f"{self.path}: this result holds no image to draw on (pass image=...)")
        return np.repeat(img.reshape(*img.shape[:2], 1), 3, axis=2) if img.ndim == 2 or img.shape[2] == 1 else img

    def crops(self) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """Each detection's pixels of the original image: ``((x1, y1, x2, y2), crop)`` with the box rounded
        outwards to whole pixels."""
        img = self._rgb()
        h, w = self.orig_shape
        out = []
        for x1, y1, x2, y2 in self.boxes:
            b = (max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0), min(int(np.ceil(x2)), w), min(int(np.ceil(y2)), h))
            out.append((b, img[b[1]:b[3], b[0]:b[2]]))
        return out

    def save_crops(self, folder: Path | str, stem: str) -> list[Path]:
        """Write each detection's crop as ``folder/<stem>_<k>_x<x1>_y<y1>.png`` (k from 1, in score order as
        the boxes are), so a crop names where it lies in the frame."""
        paths = []
        for k, ((x1, y1, _, _), crop) in enumerate(self.crops(), 1):
            path = Path(folder) / f"{stem}_{k}_x{x1}_y{y1}.png"
            _, buf = cv2.imencode(".png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            paths.append(atomic_write(path, lambda tmp, b=buf: tmp.write_bytes(b.tobytes())))
        return paths

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
