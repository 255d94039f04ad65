"""Plots written into run directories: label statistics and image grids with boxes.

Uses matplotlib's object API with the Agg canvas (no global backend switch, no display needed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BOX_COLOURS = [(255, 56, 56), (56, 255, 56), (56, 56, 255), (255, 200, 0)]  # RGB, by class


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` (the format from the suffix). SVG files are kept in git, so they carry no date and fixed
    element ids: the same plot writes the same file."""
    FigureCanvasAgg(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    svg = path.suffix.lower() == ".svg"
    with rc_context({"svg.hashsalt": "fscfnet"} if svg else {}):
        fig.savefig(path, dpi=120, metadata={"Date": None} if svg else None)
    return path


def plot_label_stats(sizes_px: np.ndarray, centres: np.ndarray, path: Path, title: str = "") -> Path:
    """Histograms of target width and height (pixels, original images) and a scatter of normalised centres.

    ``sizes_px``: ``(n, 2)`` width, height; ``centres``: ``(n, 2)`` cx, cy in [0, 1].
    """
    fig = Figure(figsize=(12, 3.6))
    axes = fig.subplots(1, 3)
    top = max(10.0, float(np.percentile(sizes_px, 99)) if len(sizes_px) else 10.0)
    bins = np.arange(0, math.ceil(top) + 2) - 0.5
    for ax, k, name in ((axes[0], 0, "width"), (axes[1], 1, "height")):
        ax.hist(sizes_px[:, k] if len(sizes_px) else [], bins=bins, color="#3b75af")
        ax.set_xlabel(f"target {name} (px)")
        ax.set_ylabel("targets")
    axes[2].scatter(centres[:, 0] if len(centres) else [], centres[:, 1] if len(centres) else [], s=3, alpha=0.5)
    axes[2].set_xlim(0, 1)
    axes[2].set_ylim(1, 0)
    axes[2].set_xlabel("centre x")
    axes[2].set_ylabel("centre y")
    fig.suptitle(title or f"{len(sizes_px)} targets")
    fig.tight_layout()
    return save_figure(fig, path)


def box_label(c: int, score: float | None, names: Sequence[str] | None) -> str:
    """A drawn box's text: its score, preceded by its class name when there are several classes."""
    name = (names[c] if c < len(names) else str(c)) if names is not None and len(names) > 1 else ""
    return " ".join(v for v in (name, "" if score is None else f"{score:.2f}") if v)


def draw_boxes(img: np.ndarray, boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray | None = None,
               margin: int = 2, names: Sequence[str] | None = None) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` with each xyxy pixel box drawn ``margin`` px outside the target (tiny targets stay
    visible), and its score when given (with ``names`` of several classes, its class name too)."""
    out = np.ascontiguousarray(img.copy())
    for j, (b, c) in enumerate(zip(boxes, classes)):
        x1, y1, x2, y2 = (int(round(v)) for v in b)
        colour = BOX_COLOURS[int(c) % len(BOX_COLOURS)]
        cv2.rectangle(out, (x1 - margin, y1 - margin), (x2 + margin - 1, y2 + margin - 1), colour, 1)
        if text := box_label(int(c), None if scores is None else scores[j], names):
            cv2.putText(out, text, (x1 - margin, max(y1 - margin - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.3, colour, 1, cv2.LINE_AA)
    return out


def text_scale(h: int, w: int) -> float:
    """An OpenCV font scale that reads at about the same size on a 256-px and a 4096-px frame."""
    return max(0.35, min(h, w) / 700)


def draw_detections(img: np.ndarray, boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray,
                    zoom: int = 4, context: int = 16, max_insets: int = 8,
                    names: Sequence[str] | None = None) -> np.ndarray:
    """The frame with every box drawn, and beside it a strip of zoomed insets of the highest-scoring detections
    (at most ``max_insets``, numbered on the frame): the box and ``context`` px around it, ``zoom`` x larger
    with nearest-neighbour pixels, labelled with its number and score (and class name, with ``names`` of several
    classes), so 3-px targets on a large frame can be
    checked without an image viewer. RGB uint8 ``(H, W + strip, 3)``."""
    h, w = img.shape[:2]
    fs, order = text_scale(h, w), np.argsort(-scores, kind="stable")[:max_insets]
    side = (2 * context + 8) * zoom  # each inset: a square of this side
    height = max(h, side + 8)  # a frame lower than one inset is extended below with dark rows
    out = np.full((height, w, 3), 32, np.uint8)
    out[:h] = img
    per_column = height // (side + 8)
    strip = np.full((height, (side + 8) * -(-len(order) // per_column) if len(order) else 0, 3), 32, np.uint8)
    for j in range(len(boxes)):  # every box; the numbered ones have insets
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[j])
        cv2.rectangle(out, (x1 - 2, y1 - 2), (x2 + 1, y2 + 1), BOX_COLOURS[int(classes[j]) % len(BOX_COLOURS)],
                      max(1, round(fs * 2)))
    for k, j in enumerate(order):
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[j])
        colour = BOX_COLOURS[int(classes[j]) % len(BOX_COLOURS)]
        cv2.putText(out, str(k + 1), (x2 + 3, max(y1, 12)), cv2.FONT_HERSHEY_SIMPLEX, fs, colour, 1, cv2.LINE_AA)
        inset = zoom_inset(img, (x1, y1, x2, y2), context, zoom, side)
        r, c = k % per_column, k // per_column
        y0, x0 = 4 + r * (side + 8), 4 + c * (side + 8)
        strip[y0:y0 + side, x0:x0 + side] = inset
        cv2.rectangle(strip, (x0 - 1, y0 - 1), (x0 + side, y0 + side), colour, 1)
        cv2.putText(strip, f"{k + 1}: {box_label(int(classes[j]), scores[j], names)}", (x0 + 3, y0 + int(14 * max(fs, 0.5))),
                    cv2.FONT_HERSHEY_SIMPLEX, max(fs, 0.5), (255, 255, 0), 1, cv2.LINE_AA)
    return np.concatenate([out, strip], 1) if strip.shape[1] else out


def zoom_inset(img: np.ndarray, box: tuple[int, int, int, int], context: int, zoom: int, side: int) -> np.ndarray:
    """The ``side / zoom``-px square around ``box``'s centre, zoomed to ``side``, with the box outlined."""
    half = side // zoom // 2
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    pad = np.pad(img, ((half, half), (half, half), (0, 0)), constant_values=0)
    crop = pad[cy:cy + 2 * half, cx:cx + 2 * half]
    big = cv2.resize(crop, (side, side), interpolation=cv2.INTER_NEAREST)
    x1, y1 = (box[0] - cx + half) * zoom, (box[1] - cy + half) * zoom
    x2, y2 = (box[2] - cx + half) * zoom, (box[3] - cy + half) * zoom
    cv2.rectangle(big, (x1 - 1, y1 - 1), (x2, y2), (0, 255, 0), 1)
    return big


def plot_batch(images: torch.Tensor, targets: tuple[torch.Tensor, ...], path: Path, max_images: int = 16) -> Path:
    """A grid of a collated batch as JPEG: ``(B, C, S, S)`` uint8 images and their padded targets (labels (B, M),
    boxes (B, M, 4) x1, y1, x2, y2 in input pixels, mask (B, M))."""
    n = min(len(images), max_images)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    s = images.shape[-1]
    grid = np.full((rows * s, cols * s, 3), 255, np.uint8)
    for i in range(n):
        img = images[i].permute(1, 2, 0).cpu().numpy()
        img = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
        labels, boxes, mask = (t[i].cpu().numpy() for t in targets)
        r, c = divmod(i, cols)
        grid[r * s:(r + 1) * s, c * s:(c + 1) * s] = draw_boxes(img, boxes[mask], labels[mask])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def plot_pr_curve(recall: np.ndarray, precision: np.ndarray, ap50: float | None, path: Path) -> Path:
    """Precision-recall curve at IoU 0.5 (pooled over classes)."""
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    ax.plot(recall, precision, color="#3b75af", lw=1.5, label=f"AP50 {ap50:.3f}" if ap50 is not None else None)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title="Precision-recall (IoU 0.5)")
    if ap50 is not None:
        ax.legend(loc="lower left")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_f1_curve(confidence: np.ndarray, f1: np.ndarray, chosen: float | None, path: Path) -> Path:
    """F1 against confidence threshold, with the chosen operating point marked."""
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    ax.plot(confidence, f1, color="#c0392b", lw=1.5)
    if chosen is not None:
        ax.axvline(chosen, color="grey", ls="--", lw=1, label=f"conf {chosen:.3f}")
        ax.legend(loc="lower left")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence", ylabel="F1", title="F1 vs confidence (IoU 0.5)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_pdfa_curve(curve: dict, marks: list[tuple[str, dict]], path: Path) -> Path:
    """Left: Pd against Fa (log axis) over the confidence grid of ``curve`` (:func:`fscfnet.metrics.pdfa_curve`);
    right: false alarms per image against confidence (log axis). ``marks`` (label, an operating point's dict: the
    ``--conf`` point, the false-alarm budgets' points) are marked on both. Points with Fa or false alarms of 0
    cannot sit on a log axis and are left out; without targets the left panel says so."""
    fig = Figure(figsize=(10, 4.2))
    left, right = fig.subplots(1, 2)
    t = np.array(curve["thresholds"], float)
    fa = np.array([np.nan if v is None else v for v in curve["fa"]], float)
    pd = np.array([np.nan if v is None else v for v in curve["pd"]], float)
    per_img = np.array(curve["false_alarms_per_image"], float)
    ok = (fa > 0) & np.isfinite(pd)
    left.plot(fa[ok], pd[ok], color="#3b75af", lw=1.5, marker=".", ms=3)
    colours = ("#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085")
    for (name, p), colour in zip(marks, colours * len(marks)):
        if p.get("pd") is not None and p["fa"] > 0:
            left.plot([p["fa"]], [p["pd"]], "o", color=colour, label=f"{name} (conf {p['conf']:.3g}): Pd {p['pd']:.2f}")
    if left.get_legend_handles_labels()[0]:
        left.legend(loc="lower right", fontsize=8)
    if not curve["targets"]:
        left.text(0.5, 0.5, "no targets in this split: Pd undefined", ha="center", va="center",
                  transform=left.transAxes)
    if ok.any():
        left.set_xscale("log")
    left.set(ylim=(0, 1.02), xlabel="Fa (false-alarm pixels / image pixels)", ylabel="Pd (recall, IoU 0.5)",
             title="Pd-Fa over confidence thresholds")
    pos = per_img > 0
    right.plot(t[pos], per_img[pos], color="#c0392b", lw=1.5)
    for (name, p), colour in zip(marks, colours * len(marks)):
        if p["false_alarms_per_image"] > 0:
            right.plot([p["conf"]], [p["false_alarms_per_image"]], "o", color=colour,
                       label=f"{name}: conf {p['conf']:.3g}, {p['false_alarms_per_image']:.3g} / image")
    if right.get_legend_handles_labels()[0]:
        right.legend(loc="upper right", fontsize=8)
    if pos.any():
        right.set_yscale("log")
    right.set(xlim=(0, 1), xlabel="confidence threshold", ylabel="false alarms per image",
              title=f"False alarms ({curve['images']} images, {curve['megapixels']:.3g} Mpix)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_confusion_matrix(matrix: np.ndarray, names: list[str], conf: float, path: Path) -> Path:
    """The counts of :func:`fscfnet.metrics.confusion.confusion_matrix`, and each true class's column as shares."""
    labels = [*names, "background"]
    fig = Figure(figsize=(5 + 0.6 * len(labels), 4 + 0.5 * len(labels)))
    ax = fig.subplots()
    share = matrix / np.maximum(matrix.sum(0, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(matrix):
        if n:
            ax.text(j, i, f"{n}\n{share[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("true class")
    ax.set_ylabel("predicted class")
    ax.set_title(f"confusion at conf {conf:g}, IoU 0.5 (count; share of the true class)")
    fig.tight_layout()
    return save_figure(fig, path)
