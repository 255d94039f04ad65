"""Convert an upstream IRSTD dataset to the project's layout (datasets/README.md).

    python -m fscfnet.data.prepare SRC [--dst datasets/NAME] [--format masks|voc|coco] [--overwrite]
                                   [--stats-out stats.json]
    python -m fscfnet.data.prepare --download NAME [--dst ...] [--overwrite] [--stats-out stats.json]

Recognised sources (``--format masks``, the default):
  BasicIRSTD  SRC/images, SRC/masks, SRC/img_idx/train_*.txt + test_*.txt
  IRSTD-1K    SRC/IRSTD1k_Img, SRC/IRSTD1k_Label, SRC/trainval.txt + test.txt
  DNANet      SRC/images, SRC/masks, SRC/50_50/train.txt + test.txt
When a source holds several kinds of split files (IRSTD-1K ships its own trainval.txt/test.txt and
BasicIRSTD's img_idx/), BasicIRSTD's img_idx/ wins, and differing alternatives are reported as a warning.
``--format voc``: SRC/images (or JPEGImages), SRC/Annotations/*.xml, splits as above or ImageSets/Main.
``--format coco``: SRC/images, SRC/annotations/*.json (or SRC/*.json); a JSON whose name holds "train" or
"test" defines that split, otherwise the split files above are used.

``--download NAME`` (a shipped dataset, or a dataset YAML with a ``download:`` section) fetches the upstream
archive the config names, verifies it (sha256, else its image and mask counts), unpacks it beside --dst and
converts it as above (:mod:`fscfnet.data.download`); a partial download is resumed by the next run.

Masks become boxes by 8-connected components of ``mask > 127`` (tight, pixel-inclusive). The source is
only read; the result is built in a temporary folder and renamed into place. The printed statistics can also be
written to a JSON file (``--stats-out``), with the command that produced them.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...utils.cli import run_cli
from ...utils.files import temp_dir_beside, write_json
from ..labels import write_yolo_labels
from .formats import FORMATS, find_source

LABEL_FORMATS = tuple(FORMATS)


def prepare(src: Path, dst: Path, fmt: str = "masks", overwrite: bool = False) -> dict:
    """Convert ``src`` into ``dst``; returns the summary that :func:`format_summary` prints."""
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if fmt not in LABEL_FORMATS:
        raise UserError(f"unknown --format {fmt!r} (choose from {', '.join(LABEL_FORMATS)})")
    if dst == src or src in dst.parents:
        raise UserError(f"{dst}: the destination must lie outside the source (the source is never modified)")
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise UserError(f"{dst}: already exists and is not empty; pass --overwrite to replace it")
    source = find_source(src, fmt)
    converted = FORMATS[fmt].convert(source)
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
        "empty_images": int(sum(len(v) == 0 for v in converted.labels.values())),
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


def format_summary(s: dict) -> str:
    pct = lambda v: " / ".join(f"{x:.1f}" for x in v) if v else "-"  # noqa: E731
    splits = ", ".join(f"{k} {v}" for k, v in s["splits"].items())
    split_targets = ", ".join(f"{k} {v}" for k, v in s["split_targets"].items())
    files = ", ".join(s["split_files"].values())
    masks = (f"\n  images by channels: {', '.join(f'{k}: {v}' for k, v in s['images_by_channels'].items())}; "
             f"masks > {s['mask_threshold']}: {s['grey_masks']} masks hold grey values, "
             f"{s['faint_components_dropped']} grey-only components dropped" if "grey_masks" in s else "")
    return (f"{s['layout']} -> {s['dst']}\n"
            f"  images {s['images']} ({splits}), targets {s['targets']} ({split_targets}), "
            f"empty images {s['empty_images']}, classes {s['names']}\n"
            f"  split files: {files or '-'}\n"
            f"  target width px  p5 / p50 / p95: {pct(s['width_px_p5_p50_p95'])}\n"
            f"  target height px p5 / p50 / p95: {pct(s['height_px_p5_p50_p95'])}"
            + masks + "".join(f"\n  warning: {w}" for w in s["warnings"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fscfnet.data.prepare", description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, nargs="?", default=None, help="upstream dataset folder (or use --download)")
    ap.add_argument("--download", metavar="NAME", default=None,
                    help="download NAME (a shipped dataset or a dataset YAML with a download: section) from its "
                         "upstream source, verify it and prepare it")
    ap.add_argument("--dst", type=Path, default=None,
                    help="output folder (default: datasets/<SRC name>, or the --download dataset's folder)")
    ap.add_argument("--format", choices=LABEL_FORMATS, default=None, help="annotation format (default: masks)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing, non-empty --dst")
    ap.add_argument("--stats-out", type=Path, default=None,
                    help="also write the printed statistics, and this command, to this JSON file")
    args = ap.parse_args(argv)
    if (args.src is None) == (args.download is None):
        ap.error("give an upstream folder SRC or --download NAME (one of them)")
    if args.download is not None and args.format is not None:
        ap.error("--format comes from the dataset's download: section with --download")
    from ...cfg import datasets_root

    dst = args.dst or (None if args.src is None else datasets_root() / args.src.resolve().name)
    command = "python -m fscfnet.data.prepare " + shlex.join(sys.argv[1:] if argv is None else argv)

    def run() -> None:
        if args.stats_out is not None and args.stats_out.is_dir():
            raise UserError(f"--stats-out {args.stats_out}: is a folder; name a JSON file")
        if args.download is not None:
            from ..download import download_dataset

            summary = download_dataset(args.download, dst, args.overwrite)
        else:
            summary = prepare(args.src, dst, args.format or "masks", args.overwrite)
        if args.stats_out is not None:
            write_json(args.stats_out, {"command": command, **summary, "src": str(args.src or args.download),
                                        "dst": str(dst or summary["dst"])})
        print(format_summary(summary))

    return run_cli(run)


if __name__ == "__main__":
    raise SystemExit(main())
