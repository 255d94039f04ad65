"""Seed statistics of an experiment: per (dataset, model) mean ± sample standard deviation over seeds, paired
per-seed differences against a baseline model, and ``results.md``.

A run row (``done.json``) holds ``data``, ``model``, ``seed``, best.pt's metrics (``precision`` ... ``fa``), the last
epoch's under ``last``, ``params``, ``gflops``, ``best_epoch``, ``epochs`` and timings.
"""

from __future__ import annotations

import math
import statistics

METRICS = (("P", "precision"), ("R", "recall"), ("F1", "f1"), ("AP50", "ap50"), ("AP50:95", "ap50_95"), ("Pd", "pd"),
           ("Fa x1e-4", "fa"))
LAST_METRICS = (("AP50", "ap50"), ("AP50:95", "ap50_95"))
SCALE = {"fa": 1e4}
LOWER_IS_BETTER = {"fa"}


def mean_std(values: list[float | None]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (nan for one value) and count of the values that are not None."""
    v = [x for x in values if x is not None]
    if not v:
        return math.nan, math.nan, 0
    return statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else math.nan, len(v)


def _value(row: dict, key: str, last: bool = False) -> float | None:
    return (row.get("last") or {}).get(key) if last else row.get(key)


def summarize(rows: list[dict], baseline: str | None = None) -> list[dict]:
    """Per (dataset, model): seeds, mean/std of every metric (best.pt and last epoch) and, against ``baseline``
    (same dataset, same seeds), the paired differences: mean/std and how many seeds favour each model."""
    out = []
    for data in dict.fromkeys(r["data"] for r in rows):
        runs = [r for r in rows if r["data"] == data]
        base = {r["seed"]: r for r in runs if r["model"] == baseline}
        for model in dict.fromkeys(r["model"] for r in runs):
            mine = sorted((r for r in runs if r["model"] == model), key=lambda r: r["seed"])
            s = {"data": data, "model": model, "seeds": [r["seed"] for r in mine], "best": {}, "last": {},
                 "params": mine[0]["params"], "gflops": mine[0]["gflops"],
                 "best_epochs": [r["best_epoch"] for r in mine], "epochs": mine[0]["epochs"],
                 "train_images_per_s": mean_std([r.get("train_images_per_s") for r in mine])[0]}
            for part, keys, last in (("best", METRICS, False), ("last", LAST_METRICS, True)):
                for _, k in keys:
                    s[part][k] = dict(zip(("mean", "std", "n"), mean_std([_value(r, k, last) for r in mine])))
            if baseline and model != baseline and base:
                s["vs_baseline"] = {}
                for part, keys, last in (("best", METRICS, False), ("last", LAST_METRICS, True)):
                    for _, k in keys:
                        pairs = [(_value(r, k, last), _value(base[r["seed"]], k, last)) for r in mine
                                 if r["seed"] in base]
                        d = [a - b for a, b in pairs if a is not None and b is not None]
                        m, sd, n = mean_std(d)
                        sign = -1 if k in LOWER_IS_BETTER else 1
                        s["vs_baseline"][f"{part}.{k}"] = {"mean": m, "std": sd, "n": n,
                                                           "favour_model": sum(sign * x > 0 for x in d),
                                                           "favour_baseline": sum(sign * x < 0 for x in d)}
            out.append(s)
    return out


def _pm(stat: dict, key: str, digits: int = 3) -> str:
    if not stat["n"]:
        return "-"
    f = SCALE.get(key, 1.0)
    m = f"{stat['mean'] * f:.{digits}f}"
    return m if stat["n"] < 2 else f"{m} ± {stat['std'] * f:.{digits}f}"


def format_results(rows: list[dict], plan: dict, baseline: str | None = None, missing: list[str] = ()) -> str:
    """``results.md``: per dataset, the seed table and (with a baseline) the paired-difference table; ``missing``
    (runs not finished yet) marks the table as interim."""
    seeds = plan["seeds"]
    summary = summarize(rows, baseline)
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
