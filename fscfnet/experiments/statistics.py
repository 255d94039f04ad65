"""Seed statistics of an experiment: per (dataset, model) mean ± sample standard deviation over seeds of every
metric, and paired per-seed differences against a baseline model.

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
