"""Detectors on every frame of a video dataset's test sequences, several classes: per-class AP50 and AP50:95, the
confusion matrix at conf 0.25, and the field numbers counted whatever the class (Pd and false alarms per frame at
conf 0.25 and at the 0.1 / 0.01 false-alarm budgets), overall, per class and per distance bin, with ms per frame;
with ``--background``, false alarms per target-free crop and Pd at the confidence that keeps them within budget.
This project's models predict through ``val.py`` in their matching mode, Ultralytics' through its own predictor
(``ultralytics_anchor.py predict``, its venv); every prediction file is scored by ``python -m fscfnet.metrics``,
the same protocol for all (``background_eval.py`` runs both).

    python benchmarks/video_eval.py --data Drone-IR --models fscfnet=A/last.pt yolov10n=B/last.pt \\
        --ultralytics ultralytics=runs/ultralytics/droneir/ul/weights/last.pt --ultralytics-python ULVENV/bin/python \\
        --background datasets/bg-test-Drone-IR/data.yaml --out benchmarks/results/drone_ir.json

Each model's result is written to ``--out`` as soon as it is known; a rerun skips the models already there.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from background_eval import add_model_arguments, background_budgets, ours, parse_model_arguments, score, theirs

from fscfnet.utils import provenance, write_json

BUDGETS = ("0.1", "0.01")
BY = ("class", "distance_bin")


def summarise(m: dict, ms_per_frame: float | None) -> dict:
    """The numbers the tables use, from a several-class ``metrics.json``."""
    field = m["class_agnostic"]
    points = {"0.25": field["at_conf"], **{f"FA<={b['budget']:g}": b for b in field["at_fa_budgets"]}}
    return {"ap50": m["ap50"], "ap50_95": m["ap50_95"], "ms_per_frame": ms_per_frame,
            "per_class": [{k: r[k] for k in ("name", "targets", "ap50", "ap50_95")} for r in m["per_class"]],
            "field": {k: {"conf": p["conf"], "pd": p["pd"], "false_alarms_per_frame": p["false_alarms_per_image"],
                          **({"met": p["met"]} if "met" in p else {})} for k, p in points.items()},
            "by": m["by"], "confusion_matrix": m["confusion_matrix"]}


def on_background(data: str, pred: Path, background: str, bg_pred: Path) -> dict:
    """False alarms per target-free crop at conf 0.25 and 0.5 (every detection there is one), and Pd on the test
    frames at the confidence that keeps them within each budget (the field's operating point)."""
    scored = {f"{c:g}": score(background, bg_pred, c) for c in (0.25, 0.5)}  # each: a metrics run over the set
    fa = {c: m["at_conf"]["false_alarms_per_image"] for c, m in scored.items()}
    return {"set": background, "images": scored["0.25"]["images"], "fa_per_image": fa,
            "at_budgets": background_budgets(data, pred, background, bg_pred)}


def markdown(results: dict) -> str:
    """Per model: AP per class, Pd and false alarms per frame overall and per class and distance bin, then the
    confusion matrix at conf 0.25 over all frames and per distance bin."""
    out = []
    for name, r in results.items():
        ms = "-" if r["ms_per_frame"] is None else f"{r['ms_per_frame']:.1f}"
        out += [f"**{name}**: AP50 {r['ap50']:.3f}, AP50:95 {r['ap50_95']:.3f}, {ms} ms/frame", "",
                "| class | targets | AP50 | AP50:95 |", "|---|---|---|---|"]
        out += [f"| {c['name']} | {c['targets']} | {c['ap50']:.3f} | {c['ap50_95']:.3f} |" for c in r["per_class"]]
        points = list(r["field"])
        head = " | ".join(f"Pd at {p} | FA/frame at {p}" for p in points)
        out += ["", f"| group | frames | {head} |", "|---|---|" + "---|---|" * len(points)]
        cells = " | ".join(f"{v['pd']:.3f} | {v['false_alarms_per_frame']:.3f}" for v in r["field"].values())
        out.append(f"| all | {sum(g['images'] for g in r['by'][BY[0]])} | {cells} |")
        for attr in BY:
            for g in r["by"][attr]:  # its "pd T" and "FA/img T" keys, T: @0.25, then each budget, as in points
                keys = [k[3:] for k in g if k.startswith("pd ")]
                vals = " | ".join(f"{g['pd ' + k]:.3f} | {g['FA/img ' + k]:.3f}" for k in keys)
                out.append(f"| {attr} {g[attr]} | {g['images']} | {vals} |")
        out.append("")
        if "background" in r:
            bg = r["background"]
            out += [f"target-free crops ({bg['images']}): {bg['fa_per_image']['0.25']:.3f} false alarms per crop at "
                    f"0.25, {bg['fa_per_image']['0.5']:.3f} at 0.5; " + "; ".join(
                        f"Pd {b['pd']:.3f} at conf {b['conf']:.3f} (<= {b['budget']:g} per crop)"
                        for b in bg["at_budgets"]), ""]
        names = r["confusion_matrix"]["names"]
        out += confusion_markdown("all frames", names, r["confusion_matrix"]["counts"])
        for g in r["by"][BY[1]]:
            if "confusion" in g:
                out += confusion_markdown(f"{BY[1]} {g[BY[1]]}", names, g["confusion"])
    return "\n".join(out)


def confusion_markdown(title: str, names: list[str], counts: list[list[int]]) -> list[str]:
    """A confusion matrix at conf 0.25 as a table: rows the predicted class, columns the true class."""
    out = [f"confusion at conf 0.25, {title} (rows predicted, columns true):", "",
           "| predicted \\ true | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    out += [f"| {n} | " + " | ".join(str(c) for c in row) + " |" for n, row in zip(names, counts)]
    return out + [""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="Drone-IR")
    ap.add_argument("--keep-predictions", type=Path, default=None, metavar="DIR",
                    help="also keep each model's predictions as DIR/NAME/predictions.json (for track_eval.py)")
    ap.add_argument("--background", default=None, metavar="YAML",
                    help="also score a target-free crop set (background_crops.py): false alarms per crop, and Pd at "
                         "the confidence that keeps them within 0.1 / 0.01 per crop")
    add_model_arguments(ap)
    args = parse_model_arguments(ap)
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report.update({"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
                   "data": args.data, "provenance": provenance("cpu")})
    results = report.setdefault("results", {})

    def run_ours(weights: str, data: str, work: Path) -> tuple[Path, float | None]:
        pred = ours(weights, data, work)
        return pred, json.loads((work / "metrics.json").read_text())["ms_per_image"]

    def run_theirs(weights: str, data: str, work: Path) -> tuple[Path, float | None]:
        pred = theirs(args.ultralytics_python, weights, data, work, args.ultralytics_imgsz)
        speed = pred.with_name("speed.json")
        return pred, json.loads(speed.read_text())["ms_per_image"] if speed.is_file() else None

    jobs = [(spec, run_ours) for spec in args.models] + [(spec, run_theirs) for spec in args.ultralytics]
    with tempfile.TemporaryDirectory() as tmp:
        for spec, predict in jobs:
            name, weights = spec.split("=", 1)
            done = results.get(name, {})
            if done.get("weights") != weights or args.background and done.get("background", {}).get("set") != \
                    args.background:
                pred, ms = predict(weights, args.data, Path(tmp) / name)
                if args.keep_predictions is not None:
                    (args.keep_predictions / name).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(pred, args.keep_predictions / name / "predictions.json")
                m = score(args.data, pred, 0.25, "--fa-per-image", *BUDGETS, "--by", *BY)
                results[name] = {"weights": weights, "command": report["command"], **summarise(m, ms)}
                if args.background:
                    bg_pred, _ = predict(weights, args.background, Path(tmp) / f"{name}_background")
                    results[name]["background"] = on_background(args.data, pred, args.background, bg_pred)
                write_json(args.out, report)
            r = results[name]
            print(f"{name:12s} AP50 {r['ap50']:.3f} AP50:95 {r['ap50_95']:.3f}  " + "  ".join(
                f"Pd {v['pd']:.3f} FA/frame {v['false_alarms_per_frame']:.3f} at {k}" for k, v in r["field"].items()))
    print(markdown(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
