"""Convert an upstream dataset folder to the project's layout (datasets/README.md): :func:`prepare`, and the
summary it prints (:func:`format_summary`). The command line is :mod:`.cli`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...utils.files import temp_dir_beside
from ..images import IMAGE_SUFFIXES, image_files
from ..labels import write_yolo_labels
from .formats import FORMATS, find_source

LABEL_FORMATS = tuple(FORMATS)


def prepare(src: Path, dst: Path, fmt: str = "masks", overwrite: bool = False, background: Path | None = None) -> dict:
    """Convert ``src`` into ``dst``; returns the summary that :func:`format_summary` prints. ``background``: a
    folder of target-free frames, copied to ``dst/background/``, which training adds to its split as background
    (the dataset config's ``background`` folders)."""
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if fmt not in LABEL_FORMATS:
        raise UserError(f"unknown --format {fmt!r} (choose from {', '.join(LABEL_FORMATS)})")
    if dst == src or src in dst.parents:
        raise UserError(f"{dst}: the destination must lie outside the source (the source is never modified)")
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise UserError(f"{dst}: already exists and is not empty; pass --overwrite to replace it")
    source = find_source(src, fmt)
    converted = FORMATS[fmt].convert(source)
    extra = background_frames(background, src, dst)
    name = dst.name
    tmp = temp_dir_beside(dst)
    try:
        for sub in ("images", "labels", "img_idx") + (("masks",) if source.masks else ()):
            (tmp / sub).mkdir()
        for stem, p in source.images.items():
            shutil.copy2(p, tmp / "images" / p.name)
            write_yolo_labels(tmp / "labels" / f"{stem}.txt", converted.labels[stem])
        for stem, p in source.masks.items():
            shutil.copy2(p, tmp / "masks" / f"{stem}{p.suffix}")
        if extra:
            (tmp / "background").mkdir()
            for p in extra:
                shutil.copy2(p, tmp / "background" / p.name)
        for split, stems in source.splits.items():
            out = tmp / "img_idx" / f"{split}_{name}.txt"
            if source.split_files.get(split, Path()).suffix == ".txt":
                shutil.copyfile(source.split_files[split], out)  # carried over byte for byte
            else:
                out.write_text("".join(s + "\n" for s in stems))
        if dst.exists():
            shutil.rmtree(dst)
        tmp.rename(dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    wh = np.array(converted.pixel_wh, dtype=np.float64).reshape(-1, 2)
    summary = {
        "layout": source.layout, "src": str(src), "dst": str(dst), "images": len(source.images),
        "targets": int(sum(len(v) for v in converted.labels.values())),
        "empty_images": int(sum(len(v) == 0 for v in converted.labels.values())), "background_images": len(extra),
        "splits": {k: len(v) for k, v in source.splits.items()},
        "split_targets": {k: int(sum(len(converted.labels[s]) for s in v)) for k, v in source.splits.items()},
        "split_files": {k: str(p.relative_to(src)) if p.is_relative_to(src) else str(p)
                        for k, p in source.split_files.items()},
        "names": converted.names,
        "width_px_p5_p50_p95": np.percentile(wh[:, 0], [5, 50, 95]).tolist() if len(wh) else [],
        "height_px_p5_p50_p95": np.percentile(wh[:, 1], [5, 50, 95]).tolist() if len(wh) else [],
        "warnings": converted.warnings,
    }
    return {**summary, **converted.stats}


def background_frames(folder: Path | None, src: Path, dst: Path) -> list[Path]:
    """The image files of a ``--background`` folder (none without one); a missing or empty folder, or one inside
    the destination, is a one-line error."""
    if folder is None:
        return []
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise UserError(f"--background {folder}: no such folder")
    if folder == dst or dst in folder.parents:
        raise UserError(f"--background {folder}: lies inside the destination {dst}")
    files = sorted(image_files(folder).values())
    if not files:
        raise UserError(f"--background {folder}: holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def format_summary(s: dict) -> str:
    pct = lambda v: " / ".join(f"{x:.1f}" for x in v) if v else "-"  # noqa: E731
    splits = ", ".join(f"{k} {v}" for k, v in s["splits"].items())
    split_targets = ", ".join(f"{k} {v}" for k, v in s["split_targets"].items())
    files = ", ".join(s["split_files"].values())
    masks = (f"\n  images by channels: {', '.join(f'{k}: {v}' for k, v in s['images_by_channels'].items())}; "
             f"masks > {s['mask_threshold']}: {s['grey_masks']} masks hold grey values, "
             f"{s['faint_components_dropped']} grey-only components dropped" if "grey_masks" in s else "")
    video = (f"\n  sequences: train {s['sequences']['train']}, test {s['sequences']['test']}; training frames: every "
             f"{s['every']}, test frames: all; ground-truth rows ignored (conf 0) {s['ignored_rows']}, skipped (bad) "
             f"{s['skipped_rows']}; frame attributes: {', '.join(s['attributes']) or '-'}" if "every" in s else "")
    return (f"{s['layout']} -> {s['dst']}\n"
            f"  images {s['images']} ({splits}), targets {s['targets']} ({split_targets}), "
            f"empty images {s['empty_images']}, background frames {s.get('background_images', 0)} (training only), "
            f"classes {s['names']}\n"
            f"  split files: {files or '-'}\n"
            f"  target width px  p5 / p50 / p95: {pct(s['width_px_p5_p50_p95'])}\n"
            f"  target height px p5 / p50 / p95: {pct(s['height_px_p5_p50_p95'])}"
            + masks + video + "".join(f"\n  warning: {w}" for w in s["warnings"]))
