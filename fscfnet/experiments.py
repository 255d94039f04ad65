"""Train and validate every (dataset, model) pair of an experiment, resumably, and tabulate the results.

    python -m fscfnet.experiments --models fscfnet yolov10n fscfnet-aca fscfnet-mrcb fscfnet-fsconv \\
        --data NUAA-SIRST NUDT-SIRST --epochs 30 --imgsz 320 --name ablation_320

Each pair trains in ``runs/experiments/NAME/<dataset>/<model>/`` (a normal train.py run directory). A pair whose
``done.json`` exists is skipped; one with ``weights/last.pt`` resumes from it; run the same command again after an
interruption and only unfinished work is done. When every pair is done, ``results.md`` (the paper's column order:
P, R, F1, AP50, AP50:95, Pd, Fa x1e-4, plus parameters, GFLOPs and ms per image), ``results.json`` and
``comparison.png`` are written in ``runs/experiments/NAME/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Callable

import yaml

from .data.config import load_data_config
from .engine.backends import load_inference_model
from .engine.config import load_train_config
from .engine.trainer import Trainer
from .engine.validator import validate_model
from .errors import UserError
from .nn.summary import count_gflops, count_params
from .engine.checkpoint import load_checkpoint, run_finished
from .utils.cli import run_cli
from .utils.config import parse_overrides
from .utils.device import select_device
from .utils.files import atomic_write_text, write_json
from .utils.plots import plot_comparison

MODELS_DIR = Path(__file__).resolve().parents[1] / "cfg" / "models"
PLAN_KEYS = ("epochs", "imgsz", "batch", "seed", "settings")  # what must not change when an experiment resumes
COLUMNS = (("P", "precision", 3), ("R", "recall", 3), ("F1", "f1", 3), ("AP50", "ap50", 3),
           ("AP50:95", "ap50_95", 3), ("Pd", "pd", 3), ("Fa x1e-4", "fa", 3))


def model_config(name: str) -> Path:
    """``fscfnet`` -> ``cfg/models/fscfnet.yaml``; a path to a YAML is taken as it is."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"--models {name}: file not found")
        return path
    path = MODELS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in MODELS_DIR.glob("*.yaml")))
        raise UserError(f"--models {name}: no such model config (known: {known}; or give a YAML path)")
    return path


def check_plan(root: Path, plan: dict) -> None:
    """Record the experiment's settings; refuse to continue an experiment that used different ones."""
    path = root / "plan.yaml"
    if path.is_file():
        old = yaml.safe_load(path.read_text()) or {}
        diff = [k for k in PLAN_KEYS if old.get(k) != plan.get(k)]
        if diff:
            k = diff[0]
            raise UserError(f"{path}: this experiment ran with {k}={old.get(k)!r}, not {plan.get(k)!r}; rerun with "
                            f"the same settings to resume it, or choose another --name")
    atomic_write_text(path, yaml.safe_dump(plan, sort_keys=False))


def run_pair(root: Path, data: str, model: str, plan: dict, device: str, workers: int | None,
             log: Callable[[str], None] = print) -> dict:
    """Train (or resume, or skip) one pair; returns its row of the results table (also kept in done.json)."""
    cfg_path = model_config(model)
    data_cfg = load_data_config(data)
    run_dir = root / data_cfg.name / cfg_path.stem
    done = run_dir / "done.json"
    if done.is_file():
        log(f"{data_cfg.name} / {cfg_path.stem}: done, skipped ({done})")
        return json.loads(done.read_text())
    last = run_dir / "weights" / "last.pt"
    if last.is_file() and run_finished(load_checkpoint(last)):  # stopped after training, before done.json
        log(f"{data_cfg.name} / {cfg_path.stem}: training had finished; validating its best.pt")
    elif last.is_file():
        log(f"{data_cfg.name} / {cfg_path.stem}: resuming {last}")
        Trainer(load_train_config({"device": device, "workers": workers}), resume=last, log=log).train()
    else:
        shutil.rmtree(run_dir, ignore_errors=True)  # an attempt that died before its first checkpoint
        values = {**plan["settings"], "model": str(cfg_path), "data": data, "epochs": plan["epochs"],
                  "imgsz": plan["imgsz"], "batch": plan["batch"], "seed": plan["seed"], "device": device,
                  "workers": workers, "project": str(run_dir.parent), "name": run_dir.name, "exist_ok": True}
        log(f"{data_cfg.name} / {cfg_path.stem}: training")
        Trainer(load_train_config(values, "experiment settings"), log=log).train()
    best = run_dir / "weights" / "best.pt"
    loaded = load_inference_model(best, select_device(device))
    v = validate_model(loaded, data, "test", plan["imgsz"], plan["batch"],
                       load_train_config({"workers": workers}).resolve_workers(), log=log)
    fused = loaded.module  # the fused inference graph just validated
    row = {"data": data_cfg.name, "model": cfg_path.stem, **v.metrics_dict(), "params": count_params(fused),
           "gflops": count_gflops(fused, plan["imgsz"], fused.ch, train=False), "epochs": plan["epochs"],
           "best_epoch": int(load_checkpoint(best)["epoch"]) + 1, "imgsz": plan["imgsz"], "device": str(loaded.device),
           "run": str(run_dir)}
    write_json(done, row)
    return row


def format_results(rows: list[dict], plan: dict) -> str:
    """``results.md``: one table per dataset, in the paper's column order."""
    out = [f"# Experiment results\n\n{plan['epochs']} epochs, imgsz {plan['imgsz']}, batch {plan['batch']}, seed "
           f"{plan['seed']}; metrics of best.pt on the test split (conf 0.001 for AP; P, R, F1, Pd, Fa at the "
           f"max-F1 threshold); ms per image = preprocess + inference + postprocess, fused model, batch "
           f"{plan['batch']}.\n"]
    if plan["settings"]:
        out.append(f"Other settings: {plan['settings']}\n")
    for data in dict.fromkeys(r["data"] for r in rows):
        out.append(f"## {data}\n")
        out.append("| model | " + " | ".join(c[0] for c in COLUMNS) + " | params (M) | GFLOPs | ms/img | best epoch |")
        out.append("|---|" + "---|" * (len(COLUMNS) + 4))
        for r in (r for r in rows if r["data"] == data):
            vals = [f"{r[k] * (1e4 if k == 'fa' else 1):.{d}f}" if r[k] is not None else "-" for _, k, d in COLUMNS]
            out.append(f"| {r['model']} | " + " | ".join(vals) + f" | {r['params'] / 1e6:.2f} | {r['gflops']:.2f} | "
                       f"{r['ms_per_image']:.1f} | {r['best_epoch']}/{r['epochs']} |")
        out.append("")
    devices = sorted({r["device"] for r in rows})
    out.append(f"Parameters and GFLOPs of the fused inference graph at {plan['imgsz']} px; run on {', '.join(devices)}.\n")
    return "\n".join(out)


def run_experiments(models: list[str], datasets: list[str], epochs: int, imgsz: int, batch: int = 16,
                    seed: int = 0, settings: dict | None = None, device: str = "auto", workers: int | None = None,
                    project: Path = Path("runs/experiments"), name: str = "exp",
                    log: Callable[[str], None] = print) -> list[dict]:
    """Every pair of ``datasets`` x ``models`` (resumably); writes results.md/json and comparison.png."""
    for m in models:
        model_config(m)
    for d in datasets:
        load_data_config(d)
    load_train_config({**(settings or {}), "epochs": epochs, "imgsz": imgsz, "batch": batch}, "--set settings")
    root = Path(project) / name
    plan = {"epochs": epochs, "imgsz": imgsz, "batch": batch, "seed": seed, "settings": dict(settings or {}),
            "models": list(models), "data": list(datasets)}
    check_plan(root, plan)
    rows = [run_pair(root, d, m, plan, device, workers, log) for d in datasets for m in models]
    write_json(root / "results.json", rows)
    atomic_write_text(root / "results.md", format_results(rows, plan))
    plot_comparison(rows, root / "comparison.png")
    log(f"results in {root / 'results.md'}")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m fscfnet.experiments", description=__doc__.split("\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["yolov10n", "fscfnet-aca", "fscfnet-mrcb", "fscfnet-fsconv", "fscfnet"],
                    help="model config names in cfg/models or YAML paths (default: the paper's ablation)")
    ap.add_argument("--data", nargs="+", default=["NUAA-SIRST"], help="dataset names or YAMLs")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="loader processes (default: min(8, CPUs))")
    ap.add_argument("--device", default="auto", help="auto, cpu, or a CUDA index such as 0")
    ap.add_argument("--project", type=Path, default=Path("runs/experiments"))
    ap.add_argument("--name", default="exp", help="experiment folder; the same name resumes it")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="other training settings for every pair, e.g. optimizer=SGD loss.nwd_ratio=1.0")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def go() -> None:
        run_experiments(args.models, args.data, args.epochs, args.imgsz, args.batch, args.seed,
                        parse_overrides(args.set), args.device, args.workers, args.project, args.name)

    return run_cli(go, interrupted="interrupted: run the same command again to resume (finished pairs are skipped)",
                   sigterm_as_interrupt=True)


if __name__ == "__main__":
    sys.exit(main())
