"""Metrics per value of a frame attribute (a video's distance bin, its sequence, a sensor): the rows of
``val --by ATTR``, each scored as a split of its own at the thresholds chosen on the whole split."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import UserError
from .confusion import confusion_matrix
from .detection import class_agnostic, evaluate, operating_point

FRAMES_CSV = "frames.csv"  # written by prepare for video datasets: image stem, sequence, frame, split, attributes


def frame_attributes(root: Path) -> dict[str, dict[str, str]]:
    """``root/frames.csv``: image stem -> its columns; a one-line error when there is none."""
    path = root / FRAMES_CSV
    if not path.is_file():
        raise UserError(f"--by: {path} not found; it is written by fscfnet prepare for video datasets (a frame "
                        f"dataset can carry one: a column 'image' with the image stems, one column per attribute)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "image" not in rows[0]:
        raise UserError(f"{path}: expected a header with an 'image' column")
    return {r["image"]: r for r in rows}


def breakdown(preds: list[np.ndarray], targets: list[np.ndarray], sizes: list[tuple[int, int]], stems: list[str],
              attributes: dict[str, dict[str, str]], by: str, thresholds: dict[str, float],
              confusion: tuple[int, float] | None = None) -> list[dict]:
    """One row per value of attribute ``by`` (in sorted order): images, targets, AP50 and AP50:95 (class-aware),
    and at each named threshold of ``thresholds`` Pd and false alarms per image counted whatever the class (a
    target found under another class is found). ``confusion=(nc, conf)``: each row also holds its confusion matrix
    at ``conf`` (key ``confusion``, as :func:`confusion_matrix`), which classes are confused in that group."""
    known = next(iter(attributes.values()), {})
    if by not in known:
        raise UserError(f"--by {by}: not a column of {FRAMES_CSV} (columns: {', '.join(known)})")
    groups: dict[str, list[int]] = {}
    for i, stem in enumerate(stems):
        groups.setdefault(attributes.get(stem, {}).get(by, "") or "-", []).append(i)
    rows = []
    for value, idx in sorted(groups.items()):
        p, t, s = [preds[i] for i in idx], [targets[i] for i in idx], [sizes[i] for i in idx]
        aware = evaluate(p, t, s)
        curves = evaluate(class_agnostic(p, 5), class_agnostic(t, 0), s).curves
        points = {name: operating_point(curves, conf) for name, conf in thresholds.items()}
        rows.append({by: value, "images": len(idx), "targets": aware.targets, "ap50": aware.ap50,
                     "ap50_95": aware.ap50_95,
                     **{f"pd {name}": pt.pd for name, pt in points.items()},
                     **{f"FA/img {name}": pt.false_alarms_per_image for name, pt in points.items()}})
        if confusion is not None:
            rows[-1]["confusion"] = confusion_matrix(p, t, *confusion).tolist()
    return rows


def format_rows(rows: list[dict]) -> str:
    """``rows`` as an aligned text table (numbers to 3 decimals, ``-`` where undefined: NaN or None); list-valued
    columns (a group's confusion matrix) are left out."""
    if not rows:
        return ""
    cols = [c for c, v in rows[0].items() if not isinstance(v, list)]

    def cell(v: object) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return "-" if np.isnan(v) else f"{v:.3f}"
        return str(v)

    table = [cols] + [[cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(line[j]) for line in table) for j in range(len(cols))]
    return "\n".join(" ".join(v.rjust(w) for v, w in zip(line, widths)).rstrip() for line in table)
