"""Train and validate every (dataset, model) pair of an experiment, resumably, and tabulate the results.

    python -m fscfnet.experiments --models yolov10n fscfnet --data NUAA-SIRST --epochs 100 --imgsz 320 \\
        --seeds 0 1 2 --baseline yolov10n --name nuaa_320_seeds

Each (dataset, model, seed) trains in ``runs/experiments/NAME/<dataset>/<model>/seed<N>/`` (a normal train.py run
directory). A run whose ``done.json`` exists is skipped; one with ``weights/last.pt`` resumes from it (or, when
its training had finished, is only validated); run the same command again after an interruption and only
unfinished work is done. When every run is done, ``results.md`` (per model: mean ± sample standard deviation over
the seeds of best.pt's metrics in the paper's column order, and of the last epoch's; against ``--baseline`` the
paired per-seed differences and how many seeds favour each model), ``results.json`` (every run, the summary and
provenance) and ``comparison.svg`` (error bars) are written in ``runs/experiments/NAME/``. ``--report`` trains
nothing and writes the same three files from the runs finished so far, marked interim, with the missing runs named.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cfg.schema import parse_overrides
from ..utils.cli import add_set_argument, run_cli
from .runner import run_experiments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m fscfnet.experiments", description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["yolov10n", "fscfnet-aca", "fscfnet-mrcb", "fscfnet-fsconv", "fscfnet"],
                    help="model config names in cfg/models or YAML paths (default: the paper's ablation)")
    ap.add_argument("--data", nargs="+", default=["NUAA-SIRST"], help="dataset names or YAMLs")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed (default 0)")
    ap.add_argument("--baseline", default=None, help="a --models entry: report paired per-seed differences against it")
    ap.add_argument("--workers", type=int, default=None, help="loader processes (default: min(8, CPUs))")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, or a CUDA index such as 0")
    ap.add_argument("--project", type=Path, default=Path("runs/experiments"))
    ap.add_argument("--name", default="exp", help="experiment folder; the same name resumes it")
    add_set_argument(ap, "optimizer=SGD loss.nwd_ratio=1.0 (for every run)")
    ap.add_argument("--report", action="store_true",
                    help="train nothing: tabulate the runs finished so far (interim results; names those missing)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def go() -> None:
        run_experiments(args.models, args.data, args.epochs, args.imgsz, args.batch, args.seeds,
                        parse_overrides(args.set), args.device, args.workers, args.project, args.name, args.baseline,
                        report=args.report)

    return run_cli(go, interrupted="interrupted: run the same command again to resume (finished runs are skipped)",
                   sigterm_as_interrupt=True)
