"""An experiment's report: ``results.md`` (the seed table and the paired differences), ``results.json`` and
``comparison.svg``, written together from one summary."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..utils.files import atomic_write_text, write_json
from ..utils.plots import save_figure
from ..utils.provenance import provenance
from .statistics import LAST_METRICS, METRICS, SCALE, summarize


def _pm(stat: dict, key: str, digits: int = 3) -> str:
    if not stat["n"]:
        return "-"
    f = SCALE.get(key, 1.0)
    m = f"{stat['mean'] * f:.{digits}f}"
    return m if stat["n"] < 2 else f"{m} ± {stat['std'] * f:.{digits}f}"


def write_report(root: Path, rows: list[dict], plan: dict, baseline: str | None = None, missing: list[str] = ()
                 ) -> Path:
    """``results.json``, ``results.md`` and ``comparison.svg`` in ``root`` from the runs' rows, summarised once;
    returns the path of results.md."""
    summary = summarize(rows, baseline)
    write_json(root / "results.json", {"plan": plan, "baseline": baseline, "provenance": provenance(),
                                       "missing": list(missing), "summary": summary, "runs": rows})
    plot_comparison(summary, root / "comparison.svg")
    return atomic_write_text(root / "results.md", format_results(summary, rows, plan, baseline, missing))


def format_results(summary: list[dict], rows: list[dict], plan: dict, baseline: str | None = None,
                   missing: list[str] = ()) -> str:
    """``results.md`` from :func:`summarize`'s ``summary`` of ``rows``: per dataset, the seed table and (with a
    baseline) the paired-difference table; ``missing`` (runs not finished yet) marks the table as interim."""
    seeds = plan["seeds"]
    out = [f"# Experiment results\n\n{plan['epochs']} epochs, imgsz {plan['imgsz']}, batch {plan['batch']}, seeds "
           f"{', '.join(map(str, seeds))}. Cells are mean ± sample standard deviation over the seeds. best.pt (the "
           f"epoch of best fitness on the test split) on the test split: AP at conf ≥ 0.001; P, R, F1, Pd, Fa at the "
           f"max-F1 threshold. 'last': the final epoch's validation (EMA weights), from results.csv.\n"]
    if plan.get("settings"):
        out.append(f"Other settings: {plan['settings']}\n")
    if missing:
        have = "; ".join(f"{s['data']}/{s['model']}: {', '.join(map(str, s['seeds']))}" for s in summary)
        out.append(f"**Interim**: {len(rows)} of {len(rows) + len(missing)} runs finished; not yet: "
                   f"{', '.join(missing)}. Seeds in each row: {have}; paired differences use the seeds both "
                   f"models have finished.\n")
    for data in dict.fromkeys(s["data"] for s in summary):
        out.append(f"## {data}\n")
        head = [c for c, _ in METRICS] + [f"last {c}" for c, _ in LAST_METRICS]
        out.append("| model | " + " | ".join(head) + " | params (M) | GFLOPs | train img/s | best epochs |")
        out.append("|---|" + "---|" * (len(head) + 4))
        for s in (s for s in summary if s["data"] == data):
            cells = [_pm(s["best"][k], k) for _, k in METRICS] + [_pm(s["last"][k], k) for _, k in LAST_METRICS]
            speed = f"{s['train_images_per_s']:.1f}" if not math.isnan(s["train_images_per_s"]) else "-"
            epochs = ", ".join(f"{e}/{s['epochs']}" for e in s["best_epochs"])
            out.append(f"| {s['model']} | " + " | ".join(cells) + f" | {s['params'] / 1e6:.2f} | {s['gflops']:.2f} | "
                       f"{speed} | {epochs} |")
        out.append("")
        diffs = [s for s in summary if s["data"] == data and "vs_baseline" in s]
        if diffs:
            out.append(f"Paired differences, model − {baseline}, per seed (mean ± std; seeds favouring model / "
                       f"{baseline}; for Fa lower is better):\n")
            keys = [("AP50", "best.ap50"), ("AP50:95", "best.ap50_95"), ("P", "best.precision"), ("R", "best.recall"),
                    ("F1", "best.f1"), ("Fa x1e-4", "best.fa"), ("last AP50", "last.ap50"),
                    ("last AP50:95", "last.ap50_95")]
            out.append("| model | " + " | ".join(c for c, _ in keys) + " |")
            out.append("|---|" + "---|" * len(keys))
            for s in diffs:
                cells = []
                for _, k in keys:
                    d = s["vs_baseline"][k]
                    cells.append(f"{_pm(d, k.split('.')[1], 3 if k != 'best.fa' else 2)} ({d['favour_model']}/"
                                 f"{d['favour_baseline']})" if d["n"] else "-")
                out.append(f"| {s['model']} | " + " | ".join(cells) + " |")
            out.append("")
    devices = sorted({r.get("device", "?") for r in rows})
    out.append(f"Parameters and GFLOPs of the fused inference graph at {plan['imgsz']} px; run on "
               f"{', '.join(devices)}; train img/s = training images / the median epoch's training seconds (results.csv).\n")
    return "\n".join(out)


def plot_comparison(summary: list[dict], path: Path, metrics: tuple[str, ...] = ("ap50", "ap50_95", "f1")) -> Path:
    """Grouped bars with error bars (± sample std over seeds): one panel per dataset, one group per model, one bar
    per metric (``summary`` as :func:`summarize` returns it)."""
    datasets = list(dict.fromkeys(r["data"] for r in summary))
    fig = Figure(figsize=(max(6.0, 1.6 * len(summary) / max(len(datasets), 1) * len(datasets) + 2), 4))
    axes = np.atleast_1d(fig.subplots(1, len(datasets), sharey=True))
    width = 0.8 / len(metrics)
    for ax, data in zip(axes, datasets):
        sub = [r for r in summary if r["data"] == data]
        x = np.arange(len(sub))
        for j, m in enumerate(metrics):
            vals = [r["best"][m]["mean"] if r["best"][m]["n"] else 0.0 for r in sub]
            err = [r["best"][m]["std"] if r["best"][m]["n"] > 1 else 0.0 for r in sub]
            bars = ax.bar(x + (j - (len(metrics) - 1) / 2) * width, vals, width, yerr=err, capsize=2, label=m)
            ax.bar_label(bars, fmt="%.2f", fontsize=6)
        ax.set_xticks(x, [f"{r['model']} (n={len(r['seeds'])})" for r in sub], rotation=30, ha="right", fontsize=8)
        ax.set_title(data, fontsize=10)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
