"""The two questions of the mixed-dataset study, answered from background_eval.py's files (one per benchmark's test
split): does training on all three benchmarks cost accuracy on any one of them, and what does a model find on a
benchmark it never saw?

    python benchmarks/generalisation_table.py --results benchmarks/results/irstd_generalisation_*.json \\
        --out benchmarks/results/irstd_generalisation.json

The models are named as ``benchmarks/irstd_runs.sh`` names its runs: ``all3`` (the three benchmarks together),
``single_B`` (benchmark B alone) and ``without_B`` (the other two). Each file's ``targets`` names its benchmark.
A comparison whose models are not all scored yet is left out and listed under ``missing``.

Each model's threshold advice (``conf_within_budget_everywhere``) is the lowest confidence, rounded up to 0.01,
that keeps it within 0.1 false alarms per target-free crop on every benchmark. The crops (96 and 160 px, from
``background_crops.py``) are about 0.017 Mpix on average, so the budget is about 6 false alarms per Mpix of sky,
about 2 per 640 x 512 frame. The crops are cut from the test frames on which Pd is reported, so the advice is
chosen on test data: Pd at it is an optimistic estimate for new footage.

    python benchmarks/generalisation_table.py --advice all3 --summary benchmarks/results/irstd_generalisation.json

prints that confidence (what ``irstd_runs.sh ship`` records in ``fscfnet-irstd``), or exits 2 saying why there is
none.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from fscfnet.utils import provenance, write_json

BUDGET = 0.1  # false alarms per frame, and per target-free crop: the field's operating point


def _budget(points: list[dict], where: str) -> dict:
    found = [b for b in points if b["budget"] == BUDGET]
    if not found:
        raise ValueError(f"no {where} budget of {BUDGET} false alarms per image")
    return found[0]


def row(r: dict) -> dict:
    """One model on one benchmark: detection on its test frames, and the field's operating point (Pd where false
    alarms stay within 0.1 per target-free crop of those frames)."""
    frame = _budget(r["at_fa_budgets"], "test-frame")
    crop = _budget(r.get("at_background_budgets", []), "target-free crop (at_background_budgets)")
    return {"ap50": r["ap50"], "ap50_95": r["ap50_95"], "pd_at_0.25": r["pd_at_0.25"],
            "fa_per_frame_at_0.25": r["fa_per_image_targets_at_0.25"], "pd_at_0.1_fa_per_frame": frame["pd"],
            "frame_budget_met": frame.get("met", True),
            "fa_per_crop_at_0.25": r["background_fa_per_image"]["0.25"], "pd_at_0.1_fa_per_crop": crop["pd"],
            "conf_at_0.1_fa_per_crop": crop["conf"], "crop_budget_met": crop["met"]}


def compare(files: dict[str, dict]) -> dict:
    """``files``: benchmark -> its background_eval results. Returns the rows and the two comparisons."""
    rows = {}
    for b, f in files.items():
        rows[b] = {}
        for name, r in f["results"].items():
            try:
                rows[b][name] = row(r)
            except (KeyError, ValueError) as e:
                raise SystemExit(f"{f['path']}: model {name}: {e}; score it again with background_eval.py") from None
    mix, unseen, missing = {}, {}, []
    for b, models in rows.items():
        single = models.get(f"single_{b}")
        if single and "all3" in models:
            mix[b] = {"models": {"all3": models["all3"], f"single_{b}": single},
                      "ap50_all3_minus_single": models["all3"]["ap50"] - single["ap50"]}
        else:
            missing.append(f"{b}: all3 and single_{b}")
        if single and f"without_{b}" in models:
            others = [f"without_{b}"] + [n for n in models if n.startswith("single_") and n != f"single_{b}"]
            unseen[b] = {"never_saw_it": {n: models[n] for n in others}, f"single_{b}": single}
        else:
            missing.append(f"{b}: without_{b} and single_{b}")
    names = sorted({n for models in rows.values() for n in models})
    return {"rows": rows, "mix_vs_single": mix, "leave_one_out": unseen, "missing": missing,
            "conf_within_budget_everywhere": {n: conf_within_budget_everywhere(rows, n) for n in names}}


def conf_within_budget_everywhere(rows: dict[str, dict], name: str) -> float | None:
    """The lowest confidence, rounded up to 0.01, that keeps model ``name`` within 0.1 false alarms per
    target-free crop on every benchmark (false alarms only fall as the confidence rises, so the strictest
    benchmark decides); None unless it was scored on every benchmark and each budget is met below 1."""
    if not all(name in models for models in rows.values()):
        return None
    points = [models[name] for models in rows.values()]
    if not all(p["crop_budget_met"] for p in points):
        return None
    conf = math.ceil(max(p["conf_at_0.1_fa_per_crop"] for p in points) * 100 - 1e-9) / 100
    return conf if conf < 1 else None


def advice(summary_path: Path, name: str) -> float:
    """``name``'s threshold advice from a summary this script wrote; SystemExit(reason) when there is none."""
    if not summary_path.is_file():
        raise SystemExit(f"{summary_path}: not written yet; run this script with --results and --out first")
    summary = json.loads(summary_path.read_text())
    if "conf_within_budget_everywhere" not in summary:
        raise SystemExit(f"{summary_path}: written before threshold advice; run this script on its --results again")
    scored = [b for b, models in summary["rows"].items() if name in models]
    if len(scored) < len(summary["rows"]):
        raise SystemExit(f"{summary_path}: {name} is scored on {', '.join(scored) or 'no benchmark'} of "
                         f"{', '.join(summary['rows'])}; its advice needs them all")
    conf = summary["conf_within_budget_everywhere"].get(name)
    if conf is None:
        raise SystemExit(f"{summary_path}: no confidence below 1 keeps {name} within 0.1 false alarms per "
                         f"target-free crop on every benchmark")
    return conf


def _cells(m: dict) -> str:
    unmet = {True: "", False: " not met"}
    return (f"{m['ap50']:.3f} | {m['ap50_95']:.3f} | {m['pd_at_0.25']:.3f} | {m['pd_at_0.1_fa_per_frame']:.3f}"
            f"{unmet[m['frame_budget_met']]} | {m['fa_per_crop_at_0.25']:.3f} | {m['pd_at_0.1_fa_per_crop']:.3f} "
            f"({m['conf_at_0.1_fa_per_crop']:.3f}){unmet[m['crop_budget_met']]}")


def markdown(summary: dict) -> str:
    head = ("| test split | model | AP50 | AP50:95 | Pd at 0.25 | Pd at 0.1 FA/frame | FA per target-free crop at 0.25 "
            "| Pd at 0.1 FA per crop (conf) |\n|---|---|---|---|---|---|---|---|")
    out = ["Training on all three against training on the benchmark alone:", "", head]
    for b, c in summary["mix_vs_single"].items():
        out += [f"| {b} | {name} | {_cells(m)} |" for name, m in c["models"].items()]
    out += ["", "A benchmark never seen in training, against the model trained on it:", "", head]
    for b, c in summary["leave_one_out"].items():
        out += [f"| {b} | {name} | {_cells(m)} |" for name, m in c["never_saw_it"].items()]
        out.append(f"| {b} | single_{b} (trained on it) | {_cells(c[f'single_{b}'])} |")
    out += ["", "conf within 0.1 false alarms per target-free crop on every benchmark: " + ", ".join(
        f"{n} {c:.2f}" if c is not None else f"{n} none" for n, c in summary["conf_within_budget_everywhere"].items())]
    if summary["missing"]:
        out += ["", "not scored yet: " + "; ".join(summary["missing"])]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", nargs="+", type=Path, help="background_eval.py files, one per benchmark")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--advice", metavar="MODEL", help="print MODEL's threshold advice from --summary, and exit")
    ap.add_argument("--summary", type=Path, help="a file this script wrote (with --advice)")
    args = ap.parse_args(argv)
    if args.advice:
        if not args.summary:
            ap.error("--advice needs --summary")
        try:
            print(advice(args.summary, args.advice))
        except SystemExit as e:
            print(e, file=sys.stderr)
            return 2
        return 0
    if not args.results or not args.out:
        ap.error("give --results and --out (or --advice MODEL --summary FILE)")
    files = {}
    for p in args.results:
        f = json.loads(p.read_text())
        if f.get("targets") in files:
            raise SystemExit(f"{p}: benchmark {f['targets']} is given twice; pass one file per benchmark")
        if "results" not in f or "targets" not in f:
            raise SystemExit(f"{p}: not a background_eval.py file (no 'targets' and 'results')")
        files[f["targets"]] = {**f, "path": str(p)}
    summary = compare(files)
    text = markdown(summary)
    print(text)
    write_json(args.out, {"what": __doc__.split("\n")[0], "sources": [str(p) for p in args.results],
                          "provenance": provenance(), **summary, "markdown": text})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
