"""Summarise finished training runs into one JSON: best epoch by fitness, its metrics, the last epoch's, and
training and validation time and images/s from results.csv's train_s / val_s columns (runs of this engine), and
provenance.

    python benchmarks/summarize_runs.py runs/train/nuaa_fscfnet runs/train/nuaa_yolov10n --out benchmarks/results/nuaa_320.json \
        [--plot benchmarks/results/nuaa_320.svg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]

from fscfnet.cfg.mix import parts_of
from fscfnet.data import open_training_data, read_index
from fscfnet.engine import RunFiles, load_checkpoint, read_rows
from fscfnet.experiments import timings
from fscfnet.utils import provenance, save_figure, write_json


def summarize(run: Path) -> dict:
    args = yaml.safe_load((run / "args.yaml").read_text())
    rows = read_rows(run / "results.csv")
    best = load_checkpoint(run / "weights" / "best.pt")
    as_float = {k: float(v) for k, v in rows[-1].items() if v not in ("", None)}
    parts = [p.data for p in parts_of(open_training_data(args["data"]))]  # one dataset, or a mix's datasets
    n_train, n_test = (sum(len(read_index(d.index_file(s))) for d in parts) for s in ("train", "test"))
    return {
        "run": str(run), "model": args["model"], "data": "+".join(d.name for d in parts), "optimizer": args["optimizer"],
        "lr0": args["lr0"], "epochs": args["epochs"], "imgsz": args["imgsz"], "batch": args["batch"],
        "best_epoch": best["epoch"] + 1, "best": best["metrics"], "last_epoch": as_float,
        "ap50_by_epoch": [float(r["ap50"] or 0) for r in rows],
        **(timings(run, n_train, n_test) if rows and rows[0].get("train_s") else {"train_s": None}),
        "training_provenance": RunFiles(run).starts(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--plot", type=Path, default=None, help="also plot AP50 and AP50:95 against epoch for every run")
    args = ap.parse_args()
    out = {"provenance": provenance("cpu"), "runs": {r.name: summarize(r) for r in args.runs}}
    for name, s in out["runs"].items():
        b = s["best"]
        print(f"{name}: best epoch {s['best_epoch']}/{s['epochs']}: AP50 {b['ap50']:.3f} AP50:95 {b['ap50_95']:.3f} "
              f"P {b['precision']:.3f} R {b['recall']:.3f} Fa {b['fa']:.2e}; last AP50 {s['last_epoch']['ap50']:.3f}")
    write_json(args.out, out)
    if args.plot:
        plot_curves(out["runs"], args.plot)


def plot_curves(summaries: dict, path: Path) -> None:
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for name, s in summaries.items():
        rows = read_rows(Path(s["run"]) / "results.csv")
        epochs = [int(r["epoch"]) for r in rows]
        for ax, key in zip(axes, ("ap50", "ap50_95")):
            ax.plot(epochs, [float(r[key] or 0) for r in rows], lw=1.2, label=f"{name} ({s['optimizer']})")
    for ax, title in zip(axes, ("AP50", "AP50:95")):
        ax.set_xlabel("epoch")
        ax.set_title(f"{title}, test split")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
