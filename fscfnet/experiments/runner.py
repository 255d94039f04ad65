"""The experiment runner: train and validate every (dataset, model, seed) run, resumably, and report.

Each run trains in ``<project>/<name>/<dataset>/<model>/seed<N>/`` (a normal train.py run folder). A run whose
``done.json`` exists is skipped; one with ``weights/last.pt`` resumes from it (or, when its training had
finished, is only validated); running the same command again after an interruption does only unfinished work.
"""


from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from typing import Callable

import yaml

from ..cfg import resolve_model
from ..cfg.data import load_data_config
from ..cfg.train import load_train_config
from ..data import open_dataset
from ..data.dataset import epoch_images
from ..engine.backends import load_inference_model
from ..engine.checkpoint import load_checkpoint
from ..engine.run_dir import RunFiles, read_rows
from ..engine.state import run_finished
from ..engine.trainer import Trainer
from ..engine.validator import validate_model
from ..errors import UserError
from ..nn.summary import count_gflops, count_params
from ..utils.device import select_device
from ..utils.files import atomic_write_text, write_json
from ..utils.provenance import provenance
from .report import write_report
from .statistics import METRICS

PLAN_KEYS = ("epochs", "imgsz", "batch", "settings")  # what must not change when an experiment resumes
REPORT_KEYS = ("models", "data", "seeds")  # --report also needs these to match: it tables exactly the recorded plan


def model_config(name: str) -> Path:
    """``fscfnet`` -> the shipped ``fscfnet.yaml``; a path to a YAML is taken as it is."""
    try:
        return resolve_model(name)
    except UserError as e:
        raise UserError(f"--models {e}") from None


def check_plan(root: Path, plan: dict, record: bool = True) -> None:
    """Record the experiment's settings; refuse to continue an experiment that used different ones
    (``record=False``: the experiment must exist already, and nothing is written)."""
    path = root / "plan.yaml"
    if not record and not path.is_file():
        raise UserError(f"--report: {root} holds no experiment (no plan.yaml); check --project and --name")
    if path.is_file():
        old = yaml.safe_load(path.read_text()) or {}
        diff = [k for k in PLAN_KEYS if old.get(k) != plan.get(k)]
        diff += [] if record else [k for k in REPORT_KEYS if k in old and old[k] != plan.get(k)]
        if diff:
            k = diff[0]
            todo = ("rerun with the same settings to resume it, or choose another --name" if record else
                    "pass --report the experiment's own arguments")
            raise UserError(f"{path}: this experiment ran with {k}={old.get(k)!r}, not {plan.get(k)!r}; {todo}")
    if record:
        atomic_write_text(path, yaml.safe_dump(plan, sort_keys=False))


def timings(run_dir: Path, train_images: int, val_images: int) -> dict:
    """Training and validation seconds summed over results.csv (epochs redone after an interruption count
    once), and images/s from the median epoch, so that one slow epoch (a paused process, a neighbouring job)
    does not move the rate."""
    rows = read_rows(run_dir / "results.csv")
    train = [float(r["train_s"]) for r in rows if r.get("train_s")]
    val = [float(r["val_s"]) for r in rows if r.get("val_s")]
    return {"train_s": sum(train), "val_s": sum(val),
            "train_images_per_s": train_images / statistics.median(train) if train else None,
            "val_images_per_s": val_images / statistics.median(val) if val else None}


def last_epoch(run_dir: Path) -> dict:
    rows = read_rows(run_dir / "results.csv")
    if not rows:
        return {}
    return {k: float(rows[-1][k]) if rows[-1].get(k) not in (None, "") else None for _, k in METRICS} | \
        {"epoch": int(rows[-1]["epoch"])}


def run_label(data_name: str, model_stem: str, seed: int) -> str:
    """``<dataset name>/<model config stem>/seed<N>``: a run's folder under the experiment's root."""
    return f"{data_name}/{model_stem}/seed{seed}"


def run_one(root: Path, data: str, model: str, seed: int, plan: dict, device: str, workers: int | None,
             log: Callable[[str], None] = print) -> dict:
    """Train (or resume, or only validate, or skip) one (dataset, model, seed) run; returns its row (done.json)."""
    cfg_path = model_config(model)
    data_cfg = open_dataset(data)
    run_dir = root / run_label(data_cfg.name, cfg_path.stem, seed)
    what = f"{data_cfg.name} / {cfg_path.stem} / seed {seed}"
    done = run_dir / "done.json"
    if done.is_file():
        log(f"{what}: done, skipped ({done})")
        return json.loads(done.read_text())
    last = run_dir / "weights" / "last.pt"
    if last.is_file() and run_finished(load_checkpoint(last)):  # stopped after training, before done.json
        log(f"{what}: training had finished; validating its best.pt")
    elif last.is_file():
        log(f"{what}: resuming {last}")
        Trainer(load_train_config({"device": device, "workers": workers}), resume=last, log=log).train()
    else:
        shutil.rmtree(run_dir, ignore_errors=True)  # an attempt that died before its first checkpoint
        values = {**plan["settings"], "model": str(cfg_path), "data": data, "epochs": plan["epochs"],
                  "imgsz": plan["imgsz"], "batch": plan["batch"], "seed": seed, "device": device,
                  "workers": workers, "project": str(run_dir.parent), "name": run_dir.name, "exist_ok": True}
        log(f"{what}: training")
        Trainer(load_train_config(values, "experiment settings"), log=log).train()
    best = run_dir / "weights" / "best.pt"
    loaded = load_inference_model(best, select_device(device))
    v = validate_model(loaded, data, "test", None, plan["batch"],
                       load_train_config({"workers": workers}).resolve_workers(), log=log)
    fused = loaded.module  # the fused inference graph just validated
    # the images of one epoch as the run drew them: background folders and its background_ratio included
    n_train = epoch_images(data_cfg, "train", loaded.train_args.get("background_ratio"))
    row = {"data": data_cfg.name, "model": cfg_path.stem, "seed": seed, **v.metrics_dict(), "last": last_epoch(run_dir),
           "params": count_params(fused), "gflops": count_gflops(fused, plan["imgsz"], fused.ch, train=False),
           "epochs": plan["epochs"], "best_epoch": int(load_checkpoint(best)["epoch"]) + 1, "imgsz": plan["imgsz"],
           "device": str(loaded.device), "run": str(run_dir), **timings(run_dir, n_train, v.metrics.images),
           "provenance": provenance(loaded.device), "training_provenance": RunFiles(run_dir).starts()}
    write_json(done, row)
    return row


def run_experiments(models: list[str], datasets: list[str], epochs: int, imgsz: int, batch: int = 16,
                    seeds: list[int] = (0,), settings: dict | None = None, device: str = "auto",
                    workers: int | None = None, project: Path = Path("runs/experiments"), name: str = "exp",
                    baseline: str | None = None, log: Callable[[str], None] = print, report: bool = False) -> list[dict]:
    """Every (dataset, model, seed) run, resumably; writes results.md/json and comparison.svg. ``report``: train
    nothing, tabulate the runs finished so far (an interim table that names the runs still missing)."""
    for m in models:
        model_config(m)
    if baseline is not None and baseline not in models:
        raise UserError(f"--baseline {baseline}: not one of --models ({', '.join(models)})")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {' '.join(map(str, seeds))}: a seed is repeated")
    for d in datasets:
        load_data_config(d)
    load_train_config({**(settings or {}), "epochs": epochs, "imgsz": imgsz, "batch": batch}, "--set settings")
    root = Path(project) / name
    plan = {"epochs": epochs, "imgsz": imgsz, "batch": batch, "seeds": list(seeds), "settings": dict(settings or {}),
            "models": list(models), "data": list(datasets)}
    check_plan(root, plan, record=not report)
    keys = [(d, m, s) for d in datasets for s in seeds for m in models]
    if report:
        labels = [run_label(load_data_config(d).name, model_config(m).stem, s) for d, m, s in keys]
        done = {label: root / label / "done.json" for label in labels}
        rows = [json.loads(p.read_text()) for p in done.values() if p.is_file()]
        missing = [label for label, p in done.items() if not p.is_file()]
        if not rows:
            raise UserError(f"--report: no run of {root} has finished yet (no done.json)")
    else:
        rows, missing = [run_one(root, *k, plan, device, workers, log) for k in keys], []
    log(f"results in {write_report(root, rows, plan, baseline, missing)}")
    return rows
