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

Video datasets (MOTChallenge ground truth; :mod:`.sequences`): SRC/videos/NAME.mp4 (or an image-sequence
folder SRC/videos/NAME/), SRC/gt/NAME.txt, SRC/train.txt + test.txt of sequence names, optional SRC/videos.csv of
per-sequence attributes; or MOT17/MOT20's SRC/train/SEQ/img1, gt/gt.txt, seqinfo.ini. ``--every K`` keeps every
K-th training frame; test sequences keep every frame; frames.csv ties each frame to its sequence and frame number.

``--download NAME`` (a shipped dataset, or a dataset YAML with a ``download:`` section) fetches the upstream
archive the config names, verifies it (sha256, else its image and mask counts), unpacks it beside --dst and
converts it as above (:mod:`.download`); a partial download is resumed by the next run.

Masks become boxes by 8-connected components of ``mask > 127`` (tight, pixel-inclusive). The source is
only read; the result is built in a temporary folder and renamed into place. The printed statistics can also be
written to a JSON file (``--stats-out``), with the command that produced them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ...errors import UserError
from ...utils.cli import run_cli
from ...utils.files import write_json
from .download import download_dataset
from .run import LABEL_FORMATS, format_summary, prepare
from .sequences import is_video_dataset
from .video import prepare_video


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
    ap.add_argument("--background", type=Path, default=None, metavar="DIR",
                    help="a folder of target-free frames: copied to DST/background/, used as background in training")
    ap.add_argument("--every", type=int, default=None, metavar="K",
                    help="video datasets: keep every K-th frame of the training sequences (test sequences keep all)")
    ap.add_argument("--names", nargs="+", default=None, metavar="NAME",
                    help="video datasets: class names, ground-truth class k being the k-th (default: the class "
                         "column of videos.csv where it names each class id, else class1, ...)")
    ap.add_argument("--skip-bad-rows", action="store_true",
                    help="video datasets: skip and count bad ground-truth rows instead of stopping at the first")
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
        video = args.src is not None and is_video_dataset(args.src)
        if not video and (args.every is not None or args.names or args.skip_bad_rows):
            raise UserError(f"--every, --names and --skip-bad-rows are for video datasets; {args.src or args.download} "
                            f"is not one (see python -m fscfnet.data.prepare --help)")
        if args.download is not None:
            summary = download_dataset(args.download, dst, args.overwrite, background=args.background)
        elif video:
            if args.format is not None or args.background is not None:
                raise UserError("--format and --background are for frame datasets; a video dataset's frames without "
                                "a ground-truth row are its background")
            summary = prepare_video(args.src, dst, args.every or 1, args.overwrite, args.names, args.skip_bad_rows)
        else:
            summary = prepare(args.src, dst, args.format or "masks", args.overwrite, args.background)
        if args.stats_out is not None:
            write_json(args.stats_out, {"command": command, **summary, "src": str(args.src or args.download),
                                        "dst": str(dst or summary["dst"])})
        print(format_summary(summary))

    return run_cli(run)
