"""How fast training runs get going, over seeds: test AP50 by epoch (mean ± sample std over each group's runs),
the first epoch at which AP50 leaves 0 and reaches 0.1 in every run, and which settings differ between groups.

    python benchmarks/early_epochs.py \\
        --group yolov10n runs/experiments/nuaa_320_seeds/NUAA-SIRST/yolov10n/seed{0,1,2} \\
        --group fscfnet runs/experiments/nuaa_320_seeds/NUAA-SIRST/fscfnet/seed{0,1,2} \\
        --epochs 5 10 15 20 30 --out benchmarks/results/early_epochs_nuaa_320.json [--plot ...svg]

Every run is a train.py run directory (``args.yaml``, ``results.csv``, validated every epoch). Within a group the
runs may differ only in ``seed`` (and where they ran: project, name, device, workers); a group that mixes other
settings or repeats a seed is refused. ``args.yaml`` records no code version: keep runs of different commits (say,
FSCFNet before and after a change of its initialisation) in different groups yourself.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]

from fscfnet.engine import read_rows
from fscfnet.errors import UserError
from fscfnet.experiments import mean_std
from fscfnet.utils import provenance, run_cli, save_figure, write_json

WHERE = {"seed", "project", "name", "device", "workers", "exist_ok"}  # may differ within a group


def settings(args: dict) -> dict:
    """The training settings that define a run's recipe (the model by its file name, wherever the file lay)."""
    out = {k: v for k, v in args.items() if k not in WHERE}
    out["model"] = Path(str(out.get("model"))).name
    return out


def load_run(run: Path) -> dict:
    for name in ("args.yaml", "results.csv"):
        if not (run / name).is_file():
            raise UserError(f"{run}: no {name}; pass train.py run directories")
    args = yaml.safe_load((run / "args.yaml").read_text())
    rows = read_rows(run / "results.csv")
    blank = next((r["epoch"] for r in rows if r.get("ap50") in (None, "")), None)
    if blank is not None:
        raise UserError(f"{run / 'results.csv'}: epoch {blank} has no AP50 (not validated); pass runs validated "
                        f"every epoch")
    ap50 = [float(r["ap50"]) for r in rows]
    return {"run": str(run), "seed": args["seed"], "settings": settings(args), "ap50": ap50}


def first_epoch(curve: list[float], above: float) -> int | None:
    """1-based first epoch whose AP50 exceeds ``above`` (None when none does)."""
    return next((i + 1 for i, v in enumerate(curve) if v > above), None)


def differing_keys(a: dict, b: dict) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def summarize_group(name: str, runs: list[dict], epochs: list[int]) -> dict:
    ref = runs[0]["settings"]
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        raise UserError(f"--group {name}: a seed appears twice ({', '.join(map(str, seeds))}); give one run per seed")
    for r in runs[1:]:
        diff = differing_keys(ref, r["settings"])
        if diff:
            raise UserError(f"--group {name}: {r['run']} differs from {runs[0]['run']} in {', '.join(diff)} "
                            f"(a group's runs may differ only in seed)")
    n = min(len(r["ap50"]) for r in runs)
    by_epoch = [mean_std([r["ap50"][e] for r in runs])[:2] for e in range(n)]
    firsts = {t: [first_epoch(r["ap50"], t) for r in runs] for t in (0.0, 0.1)}
    return {
        "settings": ref, "runs": [r["run"] for r in runs], "seeds": [r["seed"] for r in runs],
        "epochs_common": n,
        "first_epoch_ap50_above_0": firsts[0.0], "first_epoch_ap50_above_0.1": firsts[0.1],
        "ap50_at": {str(e): dict(zip(("mean", "std"), by_epoch[e - 1])) for e in epochs if e <= n},
        "ap50_mean_by_epoch": [m for m, _ in by_epoch], "ap50_std_by_epoch": [s for _, s in by_epoch],
    }


def differing_settings(groups: dict) -> dict:
    """Per setting that differs between groups: each group's value."""
    first, *rest = (g["settings"] for g in groups.values())
    keys = sorted({k for other in rest for k in differing_keys(first, other)})
    return {k: {n: g["settings"].get(k) for n, g in groups.items()} for k in keys}


def fmt(m: float, s: float) -> str:
    return f"{m:.3f}" if math.isnan(s) else f"{m:.3f} ± {s:.3f}"


def print_table(groups: dict, epochs: list[int]) -> None:
    print("| group | seeds | first epoch AP50 > 0 | first epoch AP50 > 0.1 | "
          + " | ".join(f"AP50 @ {e}" for e in epochs) + " |")
    print("|---" * (4 + len(epochs)) + "|")
    for name, g in groups.items():
        cells = [fmt(g["ap50_at"][str(e)]["mean"], g["ap50_at"][str(e)]["std"]) if str(e) in g["ap50_at"] else ""
                 for e in epochs]
        print(f"| {name} | {', '.join(map(str, g['seeds']))} | {', '.join(map(str, g['first_epoch_ap50_above_0']))} "
              f"| {', '.join(map(str, g['first_epoch_ap50_above_0.1']))} | " + " | ".join(cells) + " |")


def plot(groups: dict, path: Path, last: int) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, g in groups.items():
        m = np.array(g["ap50_mean_by_epoch"][:last])
        s = np.nan_to_num(np.array(g["ap50_std_by_epoch"][:last]))  # one run: no band
        x = np.arange(1, len(m) + 1)
        ax.plot(x, m, lw=1.4, label=f"{name} (n={len(g['seeds'])})")
        ax.fill_between(x, m - s, m + s, alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test AP50 (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--group", nargs="+", action="append", required=True, metavar=("NAME", "RUN"),
                    help="a label and the run directories (one per seed) it averages; repeat for each group")
    ap.add_argument("--epochs", type=int, nargs="+", default=[5, 10, 15, 20, 30], help="epochs to tabulate")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--plot", type=Path, default=None, help="the mean AP50 curves with ±std bands")
    ap.add_argument("--plot-epochs", type=int, default=30, help="epochs shown in the plot")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if min(args.epochs) < 1:
        ap.error("--epochs: epochs count from 1")

    def go() -> None:
        groups = {}
        for name, *runs in args.group:
            if not runs:
                raise UserError(f"--group {name}: give its run directories after the name")
            if name in groups:
                raise UserError(f"--group {name}: the name is used twice")
            groups[name] = summarize_group(name, [load_run(Path(r)) for r in runs], args.epochs)
        out = {"provenance": provenance("cpu"), "differing_settings": differing_settings(groups), "groups": groups}
        print_table(groups, args.epochs)
        print("settings that differ between groups:", out["differing_settings"] or "none")
        write_json(args.out, out)
        if args.plot:
            plot(groups, args.plot, args.plot_epochs)

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
