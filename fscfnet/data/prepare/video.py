"""A video dataset (:mod:`.sequences`) to the project's frame layout: frames extracted once, losslessly, labels,
split lists, and ``frames.csv``, which ties every frame back to its sequence, frame number and attributes.

Training sequences keep every ``every``-th frame (1, 1 + K, 1 + 2K, ...: neighbouring frames of a 30-fps video
are near copies, so a stride buys variety per epoch); test sequences keep every frame, so results can be scored
and tracked over whole videos. ``video.json`` records the stride and the counts; ``gt/SEQUENCE.txt`` keeps each
sequence's checked ground truth with its track IDs (MOTChallenge form) for tracking metrics. Frames without a ground-truth row
hold no target: their label files are empty (background frames).
"""

from __future__ import annotations

import csv
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ...cfg.data import data_yaml_text
from ...errors import UserError
from ...utils.files import temp_dir_beside, write_json
from ..labels import write_yolo_labels, xywh_pixels_to_yolo
from .sequences import FRAME_COLUMNS, GroundTruth, Sequence, find_sequences, read_ground_truth



def frame_stem(sequence: str, frame: int) -> str:
    return f"{sequence}_{frame:06d}"


def prepare_video(src: Path, dst: Path, every: int = 1, overwrite: bool = False, names: list[str] | None = None,
                  skip_bad_rows: bool = False, log: Callable[[str], None] = print) -> dict:
    """Convert the video dataset in ``src`` into ``dst`` (built beside it, renamed into place); returns the summary
    that :func:`fscfnet.data.prepare.run.format_summary` prints. ``names``: the class names, class k of the
    ground truth being ``names[k - 1]`` (a class beyond them is a bad row); default: the ``class`` column of
    ``videos.csv`` where it names each class id consistently (:func:`labelled_names`), else class1, class2, ..."""
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if every < 1:
        raise UserError(f"--every {every} must be at least 1")
    if dst == src or src in dst.parents:
        raise UserError(f"{dst}: the destination must lie outside the source (the source is never modified)")
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise UserError(f"{dst}: already exists and is not empty; pass --overwrite to replace it")
    sequences = find_sequences(src)
    tmp = temp_dir_beside(dst)
    try:
        for sub in ("images", "labels", "img_idx"):
            (tmp / sub).mkdir()
        rows, stats = [], {"ignored_rows": 0, "skipped_rows": [], "classes_seen": set(), "class_labels": {}}
        with ThreadPoolExecutor(max_workers=4) as pool:  # PNG encoding releases the GIL
            for k, seq in enumerate(sequences, 1):
                stride = every if seq.split == "train" else 1
                rows += _extract(seq, stride, tmp, pool, names, skip_bad_rows, stats)
                if k % 25 == 0 or k == len(sequences):
                    log(f"  {k}/{len(sequences)} sequences, {len(rows)} frames")
        summary = _write_tables(rows, sequences, tmp, dst.name, every, names, stats, src)
        if dst.exists():
            shutil.rmtree(dst)
        tmp.rename(dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**summary, "dst": str(dst)}


def _frames(seq: Sequence, stride: int) -> Iterator[tuple[int, np.ndarray | Path | None]]:
    """(1-based frame number, the decoded frame / its image file, or None for a frame the stride skips), every frame
    of the sequence in order."""
    if seq.video is None:
        for k, path in enumerate(seq.frames, 1):
            yield k, path if (k - 1) % stride == 0 else None
        return
    cap = cv2.VideoCapture(str(seq.video))
    if not cap.isOpened():
        raise UserError(f"{seq.video}: OpenCV cannot read this video")
    try:
        k = 0
        while True:
            k += 1
            if (k - 1) % stride:
                if not cap.grab():
                    return
                yield k, None
                continue
            ok, frame = cap.read()
            if not ok:
                return
            yield k, frame
    finally:
        cap.release()


def _save_frame(frame: np.ndarray | Path, out: Path) -> Path:
    """A decoded frame as PNG (one channel when its channels are equal, as grey infrared video decodes), or an
    image file copied as it is: the pixels are kept exactly either way."""
    if isinstance(frame, Path):
        target = out.with_suffix(frame.suffix.lower())
        shutil.copyfile(frame, target)
        return target
    if frame.ndim == 3 and (frame == frame[..., :1]).all():
        frame = frame[..., 0]
    target = out.with_suffix(".png")
    if not cv2.imwrite(str(target), frame):
        raise UserError(f"{target}: cannot be written")
    return target


def _extract(seq: Sequence, stride: int, tmp: Path, pool: ThreadPoolExecutor, names: list[str] | None,
             skip_bad_rows: bool, stats: dict) -> list[dict]:
    """Write ``seq``'s kept frames and their labels into ``tmp``; returns their ``frames.csv`` rows."""
    kept, jobs, n_frames, hw = [], [], 0, None
    for k, frame in _frames(seq, stride):
        n_frames = k
        if frame is None:
            continue
        if hw is None:
            hw = (cv2.imread(str(frame), cv2.IMREAD_UNCHANGED) if isinstance(frame, Path) else frame).shape[:2]
        stem = frame_stem(seq.name, k)
        jobs.append(pool.submit(_save_frame, frame, tmp / "images" / stem))
        kept.append((k, stem))
    for job in jobs:
        job.result()
    if hw is None:
        raise UserError(f"{seq.video or seq.name}: no frame could be read")
    gt: GroundTruth = read_ground_truth(seq, n_frames, hw, len(names) if names else None, skip_bad_rows)
    stats["ignored_rows"] += gt.ignored
    stats["skipped_rows"] += gt.skipped
    for boxes in gt.boxes.values():
        stats["classes_seen"].update(int(c) for c in boxes[:, 0])
        for c in boxes[:, 0]:  # the sequence's own class name (videos.csv), per class id
            stats["class_labels"].setdefault(int(c), set()).add(seq.attributes.get("class", "").strip() or None)
    write_mot_gt(tmp / "gt" / f"{seq.name}.txt", gt)
    rows = []
    for k, stem in kept:
        b = gt.boxes.get(k, np.zeros((0, 5)))
        xywh = np.column_stack([b[:, 1:3], b[:, 3:5] - b[:, 1:3]])
        write_yolo_labels(tmp / "labels" / f"{stem}.txt", xywh_pixels_to_yolo(xywh, hw[1], hw[0], b[:, 0]))
        rows.append({"image": stem, "sequence": seq.name, "frame": k, "split": seq.split, "targets": len(b),
                     "wh": (xywh[:, 2:]).tolist(), "attributes": seq.attributes})
    return rows


def write_mot_gt(path: Path, gt: GroundTruth) -> None:
    """The sequence's checked ground truth, every frame, in MOTChallenge form (``frame, id, bb_left, bb_top,
    bb_width, bb_height, 1, class, 1``: 1-based frames, pixels and classes; ignored and skipped rows left out),
    which tracking metrics read with the track IDs the frame labels do not keep."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for k in sorted(gt.boxes):
        for tid, (c, x1, y1, x2, y2) in zip(gt.ids[k], gt.boxes[k]):
            lines.append(f"{k},{tid},{x1 + 1:g},{y1 + 1:g},{x2 - x1:g},{y2 - y1:g},1,{int(c) + 1},1\n")
    path.write_text("".join(lines))


def labelled_names(labels: dict[int, set], seen: list[int]) -> list[str] | None:
    """Class names from ``videos.csv``'s ``class`` column, when it names every class id the ground truth uses,
    one name per id and one id per name (a sequence of class id 2 labelled BIRD makes class 2 BIRD); else None."""
    named = {c: next(iter(v)) for c, v in labels.items() if len(v) == 1 and None not in v}
    if not seen or set(named) != set(labels) or len(set(named.values())) != len(named):
        return None
    return [named.get(c, f"class{c + 1}") for c in range(max(seen) + 1)]


def _write_tables(rows: list[dict], sequences: list[Sequence], tmp: Path, name: str, every: int,
                  names: list[str] | None, stats: dict, src: Path) -> dict:
    """Split lists, ``frames.csv``, ``data.yaml`` and ``video.json``; returns the summary."""
    for split in ("train", "test"):
        stems = [r["image"] for r in rows if r["split"] == split]
        (tmp / "img_idx" / f"{split}_{name}.txt").write_text("".join(s + "\n" for s in stems))
    attributes = sorted({k for q in sequences for k in q.attributes})
    with open(tmp / "frames.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*FRAME_COLUMNS, *attributes])
        w.writerows([[r[c] for c in FRAME_COLUMNS] + [r["attributes"].get(a, "") for a in attributes] for r in rows])
    seen = sorted(stats["classes_seen"])
    names = names or labelled_names(stats["class_labels"], seen) or [f"class{c + 1}" for c in range(max(seen, default=0) + 1)]
    (tmp / "data.yaml").write_text(data_yaml_text(tmp.parent / name, f"img_idx/train_{name}.txt",
                                                  f"img_idx/test_{name}.txt", names,
                                                  f"written by fscfnet prepare from {src}"))
    wh = np.array([x for r in rows for x in r["wh"]], np.float64).reshape(-1, 2)
    splits = {s: [r for r in rows if r["split"] == s] for s in ("train", "test")}
    summary = {
        "layout": "video (MOTChallenge ground truth)", "src": str(src), "images": len(rows),
        "targets": int(sum(r["targets"] for r in rows)), "empty_images": sum(r["targets"] == 0 for r in rows),
        "background_images": 0, "splits": {s: len(v) for s, v in splits.items()},
        "split_targets": {s: int(sum(r["targets"] for r in v)) for s, v in splits.items()},
        "split_files": {s: f"{s}.txt" for s in splits}, "names": names,
        "width_px_p5_p50_p95": np.percentile(wh[:, 0], [5, 50, 95]).tolist() if len(wh) else [],
        "height_px_p5_p50_p95": np.percentile(wh[:, 1], [5, 50, 95]).tolist() if len(wh) else [],
        "warnings": [f"{len(stats['skipped_rows'])} bad ground-truth rows skipped, the first: "
                     f"{stats['skipped_rows'][0]}"] if stats["skipped_rows"] else [],
        "sequences": {s: sum(q.split == s for q in sequences) for s in ("train", "test")},
        "every": every, "ignored_rows": stats["ignored_rows"], "skipped_rows": len(stats["skipped_rows"]),
        "attributes": attributes,
    }
    write_json(tmp / "video.json", {**summary, "skipped": stats["skipped_rows"],
                                    "sequence_splits": {q.name: q.split for q in sequences}})
    return summary
