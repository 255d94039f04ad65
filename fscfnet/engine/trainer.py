"""The training run, read top to bottom: resolve the plan once (:mod:`.plan`), build the model, the loaders and
the training state (:mod:`.state`) from it, then for each epoch train (:mod:`.train_loop`), validate, and commit
results.csv / best.pt / last.pt (:mod:`.run_dir`). Resuming is ``TrainState.load_state_dict(last_pt)``.

Each policy lives in one place: optimizer and parameter groups in :mod:`.optim`, the learning-rate / momentum /
accumulation schedule in :mod:`.schedule`, the checkpoint format in :mod:`.checkpoint`. Under ``torchrun``
rank 0 logs, validates and saves; every process decides alike on stopping.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..cfg.mix import parts_of
from ..cfg.train import TrainConfig
from ..data.dataset import (
    IRSTDDataset,
    build_dataloader,
    build_frame_loader,
    label_stats,
)
from ..data.mix import MixedDataset, remap_classes
from ..data.views import InferenceMode
from ..detection.loss import V10DetectionLoss
from ..errors import UserError
from ..metrics.detection import Curves
from ..nn import build_model
from ..utils.cli import check_imgsz, signals_deferred
from ..utils.ema import ModelEMA
from ..utils.files import atomic_write_text
from ..utils.plots import plot_batch, plot_f1_curve, plot_label_stats, plot_pr_curve
from ..utils.provenance import provenance
from .checkpoint import is_checkpoint, load_checkpoint, load_resume_checkpoint
from .optim import accumulation, build_optimizer
from .plan import Processes, TrainPlan, resolve_plan, start_process, stored_config
from .run_dir import METRIC_COLUMNS, RunFiles, epochs_in, plot_results
from .schedule import Schedule
from .state import MixedPrecision, TrainState, run_finished
from .train_loop import EpochHooks, EpochResult, TrainingError, train_one_epoch
from .validator import validate

__all__ = ["Trainer", "TrainingError", "load_matching"]

COUNTS = ("images", "targets", "megapixels")  # what a mixed validation sums over its datasets, not averages
PER_DATASET = ("conf_threshold",)  # a mixed validation keeps these per dataset only (a mean means nothing)


def load_matching(model: nn.Module, path: Path) -> tuple[int, int]:
    """Copy the tensors of checkpoint ``path`` whose names and shapes match; returns (loaded, model total)."""
    src = load_checkpoint(path)["state_dict"]
    own = model.state_dict()
    match = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(match, strict=False)
    return len(match), len(own)


def fitness(metrics: dict, weights: dict) -> float:
    """The number ``best.pt`` maximises: a weighted sum of metrics (missing ones count 0)."""
    return float(sum(w * (metrics.get(k) or 0.0) for k, w in weights.items()))


def scores(metrics: dict) -> str:
    return (f"AP50 {metrics['ap50'] or 0:.3f} AP50:95 {metrics['ap50_95'] or 0:.3f} P {metrics['precision'] or 0:.3f} "
            f"R {metrics['recall'] or 0:.3f}")


def mean_metrics(runs: dict[str, dict]) -> dict:
    """One validation's metrics as they are; several datasets' as the mean of each number over the datasets that
    have it (what fitness and ``best.pt`` judge; counts are summed; confidence thresholds stay per dataset), with
    each dataset's own under ``datasets``."""
    if len(runs) == 1:
        return next(iter(runs.values()))
    keys = dict.fromkeys(k for m in runs.values() for k, v in m.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in PER_DATASET)
    out = {}
    for k in keys:
        vals = [m[k] for m in runs.values() if m.get(k) is not None]
        out[k] = (sum(vals) if k in COUNTS else float(np.mean(vals))) if vals else None
    return {**out, "datasets": runs}


def build_train_model(plan: TrainPlan, ckpt: dict | None, log: Callable[[str], None]) -> nn.Module:
    """The network: the checkpoint's config when resuming; else ``--model`` (a config, or a checkpoint to
    fine-tune), with ``--weights``' matching tensors loaded."""
    cfg = plan.cfg
    if ckpt is not None:
        model = build_model(ckpt["model_yaml"])
    else:
        src, init = cfg.model, cfg.weights
        if is_checkpoint(cfg.model):  # a checkpoint as --model: fine-tune it
            src, init = load_checkpoint(Path(cfg.model))["model_yaml"], cfg.weights or cfg.model
        model = build_model(src, nc=plan.data.nc)
        if init:
            loaded, total = load_matching(model, Path(init))
            log(f"loaded {loaded}/{total} tensors (matching names and shapes) from {init}")
    if model.nc != plan.data.nc:
        raise UserError(f"{cfg.model}: nc={model.nc} but {plan.data.source or plan.data.name} has {plan.data.nc} classes")
    check_imgsz(cfg.imgsz, int(model.stride.max()))
    return model.to(plan.device)


def build_loaders(plan: TrainPlan, channels: int, log: Callable[[str], None]) -> tuple[DataLoader, dict[str, DataLoader]]:
    """The augmented, shuffled training loader (this process's share; several datasets mixed by their shares) and,
    on rank 0, each dataset's test split as whole frames, twice the batch at a time (no gradients to hold), by
    dataset name; workers persist across epochs."""
    cfg, p, cuda = plan.cfg, plan.processes, plan.device.type == "cuda"
    parts = parts_of(plan.data)
    names = plan.data.names
    train_sets = [remap_classes(IRSTDDataset(part.data, "train", cfg.imgsz, cfg.augment_config(), channels, cfg.cache,
                                             cfg.seed, log, cfg.scale, cfg.norm(), cfg.background_ratio), part.classes,
                                names) for part in parts]
    train_set = train_sets[0] if len(parts) == 1 else MixedDataset(train_sets, [q.share for q in parts], cfg.seed)
    train_set.mosaic_until = cfg.epochs - cfg.close_mosaic
    train = build_dataloader(train_set, plan.batch, plan.workers, True, cfg.seed, p.rank, p.world, persistent=True,
                             pin_memory=cuda)
    if not p.is_main:
        return train, {}
    val_sets = [remap_classes(IRSTDDataset(part.data, "test", cfg.imgsz, None, channels, cfg.cache, cfg.seed, log,
                                           norm=cfg.norm()), part.classes, names) for part in parts]
    return train, {v.cfg.name: build_frame_loader(v, 2 * plan.batch, plan.workers, persistent=True) for v in val_sets}


def build_state(model: nn.Module, plan: TrainPlan) -> TrainState:
    """The optimizer over the model's parameter groups, the gradient scaler, the EMA: a fresh run's state."""
    cfg = plan.cfg
    return TrainState(model, build_optimizer(model, cfg), MixedPrecision.on(plan.device, plan.amp),
                      ModelEMA(model) if cfg.ema else None, cfg.clip_grad, cfg.nonfinite_patience)


class Trainer:
    """``Trainer(cfg).train()`` or ``Trainer(cfg, resume=last_pt).train()``; returns the best epoch's metrics."""

    def __init__(self, cfg: TrainConfig, resume: Path | None = None, log: Callable[[str], None] = print):
        self.processes = processes = Processes.from_env()
        self.log = log if processes.is_main else (lambda s: None)
        ckpt = load_resume_checkpoint(resume) if resume is not None else None
        cfg = stored_config(cfg, ckpt, resume)
        device = start_process(cfg, processes)
        self.plan = plan = resolve_plan(cfg, processes.open_dataset(cfg.data), device, processes, resume, self.log)
        self.model = build_train_model(plan, ckpt, self.log)
        self.train_loader, self.val_loaders = build_loaders(plan, self.model.ch, self.log)
        self.state = build_state(self.model, plan)
        if ckpt is not None:
            self.state.load_state_dict(ckpt)
        self.schedule = Schedule.from_config(plan.cfg, len(self.train_loader))
        self.loss_fn = V10DetectionLoss(self.model, plan.cfg.loss_config())
        self.files = RunFiles(plan.save_dir)
        self.rows = self.files.start_rows(self.state.epoch if plan.resumed else None) if processes.is_main else []
        self.model_ddp = processes.wrap(self.model, plan.cfg.sync_bn)
        self.best_curves: Curves | None = None  # of the best epoch, when validated in this process
        if plan.resumed:
            self.log(f"resuming {plan.save_dir} from epoch {self.state.epoch + 2}/{plan.cfg.epochs}")

    @property
    def wdir(self) -> Path:
        return self.files.weights

    def train(self) -> dict:
        """Run the remaining epochs; returns the best epoch's validation metrics (on rank 0; {} elsewhere)."""
        if self.processes.is_main:
            self._announce()
        try:
            for epoch in range(self.state.epoch + 1, self.plan.cfg.epochs):
                if self._all_agree(self._end_epoch(epoch, self._train_epoch(epoch))):
                    break
            if self.processes.is_main:
                self._plots()
        except TrainingError as e:
            done = self.files.epochs_committed()
            kept = f"{self.files.last} keeps epoch {done}, the last good one" if done else "no checkpoint was written"
            raise TrainingError(f"{e}; {kept}") from None
        except KeyboardInterrupt:
            # last.pt itself says where the run is: the signal may come just after a commit
            last = self.files.last_checkpoint()
            done = epochs_in(last)
            if last and run_finished(last):  # in the final plots: training is complete
                self.log(f"\ninterrupted after the last epoch, drawing the plots: {self.files.last} holds the "
                         f"finished run")
            else:
                self.log(f"\ninterrupted in epoch {done + 1}: {self.files.last} holds the end of epoch {done}; "
                         f"--resume {self.files.last} redoes epoch {done + 1} from there, exactly as an uninterrupted "
                         f"run" if done else "\ninterrupted in epoch 1, before the first checkpoint")
            raise
        finally:
            self.processes.stop()
        return self.state.best.metrics

    def _announce(self) -> None:
        plan, cfg = self.plan, self.plan.cfg
        atomic_write_text(plan.save_dir / "args.yaml", yaml.safe_dump(cfg.as_dict(), sort_keys=False))
        self.files.record_start(self.state.epoch + 2, provenance(plan.device), plan.resumed)
        train_set = self.train_loader.dataset
        if not plan.resumed:
            plot_label_stats(*label_stats(train_set), plan.save_dir / "labels.png", f"{plan.data.name} train")
        world = plan.processes.world
        val_summaries = "".join(f"{v.dataset.dataset.summary}\n" for v in self.val_loaders.values())
        self.log(f"{train_set.summary}\n{val_summaries}"
                 f"training {cfg.model} on {plan.device} ({world} process{'es' if world > 1 else ''}, "
                 f"{plan.workers} loader workers each, amp {plan.amp_name}), {cfg.epochs} epochs at {cfg.imgsz}, "
                 f"batch {cfg.batch} (x{accumulation(cfg.batch, cfg.nbs)} accumulation), {cfg.optimizer} lr0 "
                 f"{cfg.lr0}; results in {plan.save_dir}")

    def _train_epoch(self, epoch: int) -> EpochResult:
        self.train_loader.sampler.set_epoch(epoch)
        is_main = self.processes.is_main
        with signals_deferred():
            bar = tqdm(total=len(self.train_loader), desc=f"epoch {epoch + 1}/{self.plan.cfg.epochs}", leave=False,
                       disable=not is_main, dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 60)

        def on_batch(i: int, images: torch.Tensor, targets: tuple) -> None:
            bar.update(1)
            if is_main and epoch == 0 and i < 3:
                plot_batch(images, targets, self.plan.save_dir / f"train_batch{i}.jpg")

        hooks = EpochHooks((lambda s: bar.set_postfix_str(s, refresh=False)) if is_main else None, on_batch)
        try:
            return train_one_epoch(self.model_ddp, self.loss_fn, self.train_loader, self.state, self.schedule, epoch,
                                   hooks)
        finally:
            bar.close()

    def _all_agree(self, stop: bool) -> bool:
        """Rank 0's decision to stop, broadcast so every process leaves the loop together."""
        if self.processes.world == 1:
            return stop
        flag = torch.tensor([int(stop)], device=self.plan.device)
        dist.broadcast(flag, 0)
        return bool(flag.item())

    def _validate(self, epoch: int) -> tuple[dict, float | None, bool]:
        """Validate the EMA weights when due (every ``val_period`` epochs and at the last): (metrics, seconds,
        whether the epoch is the best so far); ({}, None, False) when not due."""
        cfg, best = self.plan.cfg, self.state.best
        if (epoch + 1) % cfg.val_period and epoch + 1 < cfg.epochs:
            return {}, None, False
        t0 = time.perf_counter()
        runs = {name: validate(self.state.eval_model, loader, 2 * self.plan.batch, device=self.plan.device,
                               mode=InferenceMode.matching(cfg.scale, cfg.imgsz))
                for name, loader in self.val_loaders.items()}
        metrics = mean_metrics({name: v.metrics_dict() for name, v in runs.items()})
        seconds = time.perf_counter() - t0
        fit = fitness(metrics, cfg.fitness)
        is_best = best.fitness is None or fit > best.fitness
        if is_best:
            best.fitness, best.epoch, best.metrics = fit, epoch, {**metrics, "epoch": epoch + 1}
            self.best_curves = next(iter(runs.values())).metrics.curves if len(runs) == 1 else None
        return metrics, seconds, is_best

    def _end_epoch(self, epoch: int, result: EpochResult) -> bool:
        """Rank 0: validate when due, commit results.csv / best.pt / last.pt, log; returns whether to stop.
        Patience counts epochs but is judged at validated ones."""
        if not self.processes.is_main:
            return False
        cfg, state = self.plan.cfg, self.state
        metrics, val_s, is_best = self._validate(epoch)
        stop = bool(metrics) and epoch - state.best.epoch >= cfg.patience
        state.finished = stop or epoch + 1 >= cfg.epochs
        per_dataset = {f"{name}/{k}": metrics.get("datasets", {}).get(name, {}).get(k)
                       for name in self.val_loaders for k in METRIC_COLUMNS} if len(self.val_loaders) > 1 else {}
        self.rows.append({"epoch": epoch + 1, **result.losses, "lr": result.lr,
                          **{k: metrics.get(k) for k in METRIC_COLUMNS}, "train_s": result.seconds, "val_s": val_s,
                          **per_dataset})
        common = dict(model=self.model, names=self.plan.data.names, state_dict=state.eval_model.state_dict(),
                      train_args=cfg.as_dict(), epoch=epoch, best_fitness=state.best.fitness, metrics=metrics)
        self.files.commit_epoch(self.rows, common if is_best else None, {**common, "training": state.state_dict()})
        state.epoch = epoch
        if cfg.plot_every and (epoch + 1) % cfg.plot_every == 0:
            self._plots()
        self._log_epoch(epoch, result, metrics, is_best, stop)
        return stop

    def _log_epoch(self, epoch: int, result: EpochResult, metrics: dict, is_best: bool, stop: bool) -> None:
        cfg = self.plan.cfg
        speed = f"epoch {epoch + 1}/{cfg.epochs}: loss {sum(result.losses.values()):.3f}, " \
                f"{result.images / result.seconds:.1f} img/s"
        if not metrics:
            self.log(f"{speed} (validation every {cfg.val_period} epochs)")
            return
        rows = [(f"  {name}", m) for name, m in metrics.get("datasets", {}).items()]
        self.log(f"{speed}, {'mean of ' + str(len(rows)) + ' datasets ' if rows else ''}{scores(metrics)}"
                 f"{' (best)' if is_best else ''}{f'; no better fitness for {cfg.patience} epochs: stopping' if stop else ''}"
                 + "".join(f"\n{name}: {scores(m)}" for name, m in rows))

    def _plots(self) -> None:
        """results.png and the best epoch's PR and F1 curves (when it was validated in this process)."""
        if self.rows:
            plot_results(self.plan.save_dir / "results.png", self.rows)
        if self.best_curves is not None:
            c, m = self.best_curves, self.state.best.metrics
            plot_pr_curve(c.recall, c.precision, m["ap50"], self.plan.save_dir / "PR_curve.png")
            plot_f1_curve(c.confidence, c.f1, m["conf_threshold"], self.plan.save_dir / "F1_curve.png")
