"""False alarms on real clutter against detection on the targets: for each model, AP50, AP50:95 and Pd at conf
0.25 on a target test split, Pd at false-alarm budgets per image there, false alarms per image at conf 0.25
and 0.5 on a background test set (``background_crops.py``), and Pd at the confidence whose false alarms per
target-free image of the background set stay within each budget (the field's operating point). This project's models predict through ``val.py`` in
their matching mode; Ultralytics' through its own predictor (``ultralytics_anchor.py predict``, its venv); every
prediction file is scored by ``python -m fscfnet.metrics``, the same protocol for all.

    python benchmarks/background_eval.py --models resize=A/best.pt native=B/best.pt \\
        --ultralytics anchor=runs/ultralytics/irstd1k/ul/weights/last.pt --ultralytics-python ULVENV/bin/python \\
        --targets IRSTD-1K --background datasets/background-test/data.yaml --out benchmarks/results/background.json

Each model's result is written to ``--out`` as soon as it is known; a rerun skips the models already there.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from fscfnet.data import open_dataset, read_index
from fscfnet.utils import provenance, write_json

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = ("0.1", "0.01")


def run(cmd: list[str]) -> str:
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{shlex.join(cmd)} failed:\n{(p.stdout + p.stderr)[-2000:]}")
    return p.stdout


def ours(weights: str, data: str, work: Path) -> Path:
    """val.py's predictions.json for the test split of ``data`` (every detection >= 0.001, matching mode)."""
    shutil.rmtree(work, ignore_errors=True)  # val.py would write to work2 beside a leftover folder
    run([sys.executable, str(ROOT / "val.py"), "--weights", weights, "--data", data, "--save-json", "--workers", "2",
         "--device", "cpu", "--project", str(work.parent), "--name", work.name])
    return work / "predictions.json"


def theirs(python: str, weights: str, data: str, work: Path, imgsz: int) -> Path:
    """Ultralytics' detections (>= 0.001) on the test split of ``data``."""
    cfg = open_dataset(data)
    images = {p.stem: p.resolve() for p in (cfg.root / "images").iterdir()}
    work.mkdir(parents=True, exist_ok=True)
    (work / "images.txt").write_text("".join(f"{images[s]}\n" for s in read_index(cfg.index_file("test"))))
    run([python, str(ROOT / "benchmarks" / "ultralytics_anchor.py"), "predict", weights, "--images",
         str(work / "images.txt"), "--imgsz", str(imgsz), "--out", str(work / "predictions.json")])
    return work / "predictions.json"


def score(data: str, pred: Path, conf: float, *extra: str) -> dict:
    out = pred.with_name(f"metrics_{conf:g}.json")
    run([sys.executable, "-m", "fscfnet.metrics", "--data", data, "--pred", str(pred), "--conf", str(conf),
         "--out", str(out), *extra])
    return json.loads(out.read_text())


def by_crop_size(pred: Path, background: str, confs: list[float]) -> dict:
    """False alarms per image on the background set by crop size (from ``crops.json`` beside its YAML), at each
    confidence: a letterboxing model sees a small crop enlarged, a native one at its own scale."""
    crops = json.loads((Path(background).parent / "crops.json").read_text())["items"]
    size_of = {f"{c['data']}_{c['frame']}_{c['size']}_{c['x']}_{c['y']}": c["size"] for c in crops}
    images = Counter(size_of.values())
    scores = [(size_of[p["image_id"]], p["score"]) for p in json.loads(pred.read_text())]
    return {str(size): {"images": n, **{f"{conf:g}": sum(s == size and v >= conf for s, v in scores) / n
                                        for conf in confs}} for size, n in sorted(images.items())}


def background_budgets(targets: str, target_pred: Path, background: str, bg_pred: Path) -> list[dict]:
    """The field's operating point: for each budget, the lowest confidence whose false alarms per target-free
    image of the background set stay within it (every detection there is one), and Pd on the targets there."""
    out = []
    for b in score(background, bg_pred, 0.25, "--fa-per-image", *BUDGETS)["at_fa_budgets"]:
        t = score(targets, target_pred, b["conf"])
        at = t.get("class_agnostic", t)["at_conf"]  # several classes: a target found under another class is found
        out.append({"budget": b["budget"], "conf": b["conf"], "met": b.get("met", True), "pd": at["pd"],
                    "background_fa_per_image": b["false_alarms_per_image"],
                    "target_fa_per_image": at["false_alarms_per_image"]})
    return out


def at_confs(targets: str, target_pred: Path, bg: dict[float, dict], confs: list[float]) -> dict:
    """At each of ``confs`` (a checkpoint's advised confidence, say): Pd and false alarms per image on the
    targets, and false alarms per target-free image (``bg``: the background set's metrics by confidence)."""
    out = {}
    for c in confs:
        m = score(targets, target_pred, c)
        at = m.get("class_agnostic", m)["at_conf"]
        out[f"{c:g}"] = {"pd": at["pd"], "target_fa_per_image": at["false_alarms_per_image"],
                         "background_fa_per_image": bg[c]["at_conf"]["false_alarms_per_image"]}
    return out


def evaluate(predict, targets: str, background: str, work: Path, extra_confs: list[float] = ()) -> dict:
    target_pred = predict(targets, work / "targets")
    t = score(targets, target_pred, 0.25, "--fa-per-image", *BUDGETS)
    budgets = [{k: b[k] for k in ("budget", "per", "conf", "pd", "false_alarms_per_image", "met") if k in b}
               for b in t["at_fa_budgets"]]
    bg_pred = predict(background, work / "background")
    confs = [0.25, 0.5, *(b["conf"] for b in budgets), *extra_confs]
    bg = {conf: score(background, bg_pred, conf) for conf in confs}
    return {"ap50": t["ap50"], "ap50_95": t["ap50_95"], "pd_at_0.25": t["at_conf"]["pd"],
            "fa_per_image_targets_at_0.25": t["at_conf"]["false_alarms_per_image"], "at_fa_budgets": budgets,
            "background_images": bg[0.25]["images"],
            # at 0.25 and 0.5, then at each budget's threshold (chosen on the target split)
            "background_fa_per_image": {f"{c:g}": m["at_conf"]["false_alarms_per_image"] for c, m in bg.items()},
            "background_fa_per_mpix": {f"{c:g}": m["at_conf"]["false_alarms_per_mpix"] for c, m in bg.items()},
            "background_fa_per_image_by_crop_size": by_crop_size(bg_pred, background, confs),
            # the budgets again, now chosen on the target-free images: Pd where a fielded system would run
            "at_background_budgets": background_budgets(targets, target_pred, background, bg_pred),
            "at_confs": at_confs(targets, target_pred, bg, list(extra_confs))}


def markdown(results: dict) -> str:
    """A row per model: detection on the targets, then false alarms on the background set."""
    rows = ["| model | AP50 | AP50:95 | Pd at 0.25 | Pd at FA <= 0.1/img | Pd at FA <= 0.01/img | background FA/img at "
            "0.25 | at 0.5 |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        pd = {b["budget"]: b["pd"] for b in r["at_fa_budgets"]}
        fa = r["background_fa_per_image"]
        rows.append(f"| {name} | {r['ap50']:.3f} | {r['ap50_95']:.3f} | {r['pd_at_0.25']:.3f} | {pd[0.1]:.3f} | "
                    f"{pd[0.01]:.3f} | {fa['0.25']:.3f} | {fa['0.5']:.3f} |")
    return "\n".join(rows)


def add_model_arguments(ap: argparse.ArgumentParser) -> None:
    """The models to score (this project's and Ultralytics') and the results file (shared with video_eval.py)."""
    ap.add_argument("--models", nargs="*", default=[], help="NAME=WEIGHTS of this project")
    ap.add_argument("--ultralytics", nargs="*", default=[], help="NAME=WEIGHTS of Ultralytics")
    ap.add_argument("--ultralytics-python", default=None)
    ap.add_argument("--ultralytics-imgsz", type=int, default=320)
    ap.add_argument("--out", type=Path, required=True)


def parse_model_arguments(ap: argparse.ArgumentParser) -> argparse.Namespace:
    args = ap.parse_args()
    if args.ultralytics and not args.ultralytics_python:
        ap.error("--ultralytics needs --ultralytics-python (the python of a venv with ultralytics)")
    return args


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(ap)
    ap.add_argument("--targets", default="IRSTD-1K")
    ap.add_argument("--background", required=True, help="the background test set's YAML")
    ap.add_argument("--at-conf", type=float, nargs="+", default=[], metavar="C",
                    help="also Pd and false alarms (targets, target-free images) at these confidences")
    args = parse_model_arguments(ap)
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report.update({"what": __doc__.split("\n")[0], "command": shlex.join([sys.executable, *sys.argv]),
                   "targets": args.targets, "background": args.background, "provenance": provenance("cpu")})
    results = report.setdefault("results", {})
    jobs = [(spec, lambda d, w, weights: ours(weights, d, w)) for spec in args.models]
    jobs += [(spec, lambda d, w, weights: theirs(args.ultralytics_python, weights, d, w, args.ultralytics_imgsz))
             for spec in args.ultralytics]
    with tempfile.TemporaryDirectory() as tmp:
        for spec, predict in jobs:
            name, weights = spec.split("=", 1)
            done = results.get(name, {})
            missing = {f"{c:g}" for c in args.at_conf} - done.get("at_confs", {}).keys()
            if done.get("weights") != weights or missing:
                found = evaluate(lambda d, w: predict(d, w, weights), args.targets, args.background, Path(tmp) / name,
                                 args.at_conf)
                results[name] = {"weights": weights, "command": report["command"], **found}
                write_json(args.out, report)
            r = results[name]
            budgets = "  ".join(f"Pd {b['pd']:.3f} at FA<={b['budget']:g}/img" for b in r["at_fa_budgets"])
            print(f"{name:12s} AP50 {r['ap50']:.3f} Pd@0.25 {r['pd_at_0.25']:.3f}  {budgets}  background FA/img "
                  f"{r['background_fa_per_image']['0.25']:.3f} @0.25, {r['background_fa_per_image']['0.5']:.3f} @0.5")
    print(markdown(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
