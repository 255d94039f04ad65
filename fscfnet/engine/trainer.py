"""The training run: set-up (device, data, model, optimizer, schedule, precision), the epoch loop with
validation, checkpoints and early stopping, resume, and DistributedDataParallel under ``torchrun``.

Each policy lives in one place: optimizer and parameter groups in :mod:`.optim`, the learning-rate / momentum /
accumulation schedule in :mod:`.schedule`, one epoch in :mod:`.train_loop`, the checkpoint format and the
commit order in :mod:`.checkpoint`. Rank 0 logs, validates and saves; every process decides alike on stopping.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from tqdm import tqdm

from ..data import open_dataset
from ..data.dataset import IRSTDDataset, build_dataloader, label_stats
from ..errors import UserError
from ..metrics.detection import Curves
from ..nn import build_model
from ..utils.cli import check_imgsz
from ..utils.device import training_device
from ..utils.ema import ModelEMA
from ..utils.files import atomic_write_text, increment_path
from ..detection.loss import V10DetectionLoss
from ..utils.plots import plot_batch, plot_f1_curve, plot_label_stats, plot_pr_curve
from ..utils.provenance import provenance
from .checkpoint import is_checkpoint, load_checkpoint, load_resume_checkpoint, run_finished
from ..cfg.train import TrainConfig, load_train_config
from .optim import accumulation, build_optimizer, optimizer_steps
from .run_dir import METRIC_COLUMNS, RunFiles, plot_results
from .schedule import Schedule
from .train_loop import EpochResult, Precision, StepState, TrainingError, train_one_epoch
from .validator import validate

__all__ = ["Trainer", "TrainingError", "load_matching"]


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


class Trainer:
    """``Trainer(cfg).train()`` or ``Trainer(cfg, resume=last_pt).train()``; returns the best epoch's metrics."""

    def __init__(self, cfg: TrainConfig, resume: Path | None = None, log: Callable[[str], None] = print):
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.is_main = self.rank == 0
        self.log = log if self.is_main else (lambda s: None)
        ckpt = load_resume_checkpoint(resume) if resume is not None else None
        if ckpt is not None:
            if run_finished(ckpt):
                raise UserError(f"{resume}: this run already finished ({int(ckpt['epoch']) + 1} of "
                                f"{ckpt['train_args'].get('epochs')} epochs{', stopped early' if ckpt.get('finished') else ''})")
            cfg = load_train_config({**ckpt["train_args"], "device": cfg.device, "workers": cfg.workers},
                                    f"{resume} train_args")
        self.device = training_device(cfg.device, self.world, int(os.environ.get("LOCAL_RANK", 0)))
        if ckpt is not None:
            cfg, note = cfg.resumable_on(self.device)
            if note:
                self.log(note)
        self._init_distributed(cfg)
        self._seed(cfg)
        self.data = self._load_data(cfg.data)
        self.epochs = cfg.epochs or self.data.epochs or 100
        self.imgsz = cfg.imgsz or self.data.imgsz or 640
        cfg = dataclasses.replace(cfg, epochs=self.epochs, imgsz=self.imgsz)  # checkpoints keep the values used

        self.model = self._build_model(cfg, ckpt)
        self.ema = ModelEMA(self.model) if cfg.ema else None
        self.workers = cfg.resolve_workers(self.world)
        aug = cfg.augment_config()
        self.train_set = IRSTDDataset(self.data, "train", self.imgsz, aug, self.model.ch, cfg.cache, cfg.seed, self.log)
        self.train_set.mosaic_until = self.epochs - cfg.close_mosaic
        self.batch = max(cfg.batch // self.world, 1)
        cuda = self.device.type == "cuda"
        self.train_loader = build_dataloader(self.train_set, self.batch, self.workers, True, cfg.seed, self.rank,
                                             self.world, persistent=True, pin_memory=cuda)
        self.val_loader = None
        if self.is_main:  # rank 0 validates, at twice the training batch (no gradients to hold)
            val_set = IRSTDDataset(self.data, "test", self.imgsz, None, self.model.ch, cfg.cache, cfg.seed, self.log)
            self.val_loader = build_dataloader(val_set, 2 * self.batch, self.workers, False, persistent=True,
                                               pin_memory=cuda)

        steps = optimizer_steps(self.epochs, len(self.train_set), cfg)
        self.optimizer, self.choice = build_optimizer(self.model, cfg, steps)
        self.cfg = cfg = dataclasses.replace(cfg, optimizer=self.choice.name, lr0=self.choice.lr0)  # stored resolved
        self.schedule = Schedule.from_config(cfg, self.choice.lr0, self.epochs, len(self.train_loader))
        dtype = cfg.resolve_amp(self.device)
        self.amp = Precision(dtype, torch.amp.GradScaler(self.device.type, enabled=dtype == torch.float16))
        self.loss_fn = V10DetectionLoss(self.model, cfg.loss_config())
        self.step_state = StepState()
        self.start_epoch, self.best_fitness, self.best_epoch = 0, None, -1
        self.committed_epoch = -1  # the last epoch whose end last.pt holds
        self.best_metrics: dict = {}
        self.best_curves: Curves | None = None
        if ckpt is not None:
            self._restore(ckpt)
            save_dir = RunFiles.of_checkpoint(resume).dir
        else:
            save_dir = Path(cfg.project) / cfg.name
            if self.is_main and not cfg.exist_ok:
                save_dir = increment_path(save_dir)
        self.files = RunFiles(save_dir)
        self.save_dir, self.wdir = self.files.dir, self.files.weights
        self.resumed = ckpt is not None
        self.rows = self.files.start_rows(self.start_epoch - 1 if self.resumed else None) if self.is_main else []
        self.model_ddp = self._wrap_ddp(cfg)
        if self.resumed:
            self.log(f"resuming {self.save_dir} from epoch {self.start_epoch + 1}/{self.epochs}")

    # ---------------------------------------------------------------------------------------------------- set-up
    def _init_distributed(self, cfg: TrainConfig) -> None:
        if self.world > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo",
                                    timeout=datetime.timedelta(seconds=cfg.ddp_timeout))

    def _seed(self, cfg: TrainConfig) -> None:
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        if cfg.resolve_deterministic(self.device):
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        else:
            torch.use_deterministic_algorithms(False)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True

    def _load_data(self, data: str):
        """Rank 0 readies the data first (a missing demo set is generated once), then the others."""
        if self.world == 1:
            return open_dataset(data)
        cfg = open_dataset(data) if self.is_main else None
        dist.barrier()
        return cfg or open_dataset(data)

    def _build_model(self, cfg: TrainConfig, ckpt: dict | None) -> nn.Module:
        if ckpt is not None:
            model = build_model(ckpt["model_yaml"])
        else:
            src, init = cfg.model, cfg.weights
            if is_checkpoint(cfg.model):  # a checkpoint as --model: fine-tune it
                src, init = load_checkpoint(Path(cfg.model))["model_yaml"], cfg.weights or cfg.model
            model = build_model(src, nc=self.data.nc)
            if init:
                loaded, total = load_matching(model, Path(init))
                self.log(f"loaded {loaded}/{total} tensors (matching names and shapes) from {init}")
        if model.nc != self.data.nc:
            raise UserError(f"{cfg.model}: nc={model.nc} but {self.data.source} has {self.data.nc} classes")
        check_imgsz(self.imgsz, int(model.stride.max()))
        return model.to(self.device)

    def _wrap_ddp(self, cfg: TrainConfig) -> nn.Module:
        if self.world == 1:
            return self.model
        if cfg.sync_bn:
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["train_state_dict"])
        if self.ema:
            self.ema.ema.load_state_dict(ckpt["state_dict"])
            self.ema.updates = int(ckpt.get("ema_updates", 0))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler") and self.amp.scaler.is_enabled():  # a CPU run stores none; a GPU run's is dropped on CPU
            self.amp.scaler.load_state_dict(ckpt["scaler"])
        for p, g in zip(self.model.parameters(), ckpt.get("pending_grads") or []):
            if g is not None:  # gradients accumulated after the last optimizer step
                p.grad = g.to(p.device)
        torch.set_rng_state(ckpt["rng"])
        self.step_state = StepState(int(ckpt.get("last_step", -1)))
        self.start_epoch = int(ckpt["epoch"]) + 1
        self.committed_epoch = int(ckpt["epoch"])
        self.best_fitness, self.best_epoch = ckpt.get("best_fitness"), int(ckpt.get("best_epoch", -1))
        self.best_metrics = dict(ckpt.get("best_metrics") or {})

    # ---------------------------------------------------------------------------------------------------- run
    def _announce(self) -> None:
        atomic_write_text(self.save_dir / "args.yaml", yaml.safe_dump(self.cfg.as_dict(), sort_keys=False))
        self.files.record_start(self.start_epoch + 1, provenance(self.device), self.resumed)
        if self.start_epoch == 0:
            plot_label_stats(*label_stats(self.train_set), self.save_dir / "labels.png", f"{self.data.name} train")
        c = self.choice
        amp = {torch.float16: "fp16", torch.bfloat16: "bf16", None: "off"}[self.amp.dtype]
        self.log(f"{self.train_set.summary}\n{self.val_loader.dataset.summary}\n"
                 f"training {self.cfg.model} on {self.device} ({self.world} process{'es' if self.world > 1 else ''}, "
                 f"{self.workers} loader workers each, amp {amp}), {self.epochs} epochs at {self.imgsz}, batch "
                 f"{self.cfg.batch} (x{accumulation(self.cfg.batch, self.cfg.nbs)} accumulation), "
                 f"{c.name}{' (auto)' if c.auto else ''} lr0 {c.lr0}; results in {self.save_dir}")

    def train(self) -> dict:
        """Run the remaining epochs; returns the best epoch's validation metrics (on rank 0; {} elsewhere)."""
        if self.is_main:
            self._announce()
        epoch = self.start_epoch
        try:
            for epoch in range(self.start_epoch, self.epochs):
                self.train_loader.sampler.set_epoch(epoch)
                bar = tqdm(total=len(self.train_loader), desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                           disable=not self.is_main, dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 60)

                def on_batch(i: int, images: torch.Tensor, targets: torch.Tensor, bar: tqdm = bar) -> None:
                    bar.update(1)
                    if self.is_main and epoch == 0 and i < 3:
                        plot_batch(images, targets, self.save_dir / f"train_batch{i}.jpg")

                try:
                    result = train_one_epoch(
                        self.model_ddp, self.loss_fn, self.train_loader, self.optimizer, self.schedule, epoch,
                        self.step_state, device=self.device, amp=self.amp, ema=self.ema, clip_grad=self.cfg.clip_grad,
                        imgsz=self.imgsz, nonfinite_patience=self.cfg.nonfinite_patience, world=self.world,
                        progress=(lambda s, bar=bar: bar.set_postfix_str(s, refresh=False)) if self.is_main else None,
                        on_batch=on_batch)
                finally:
                    bar.close()
                stop = self._end_epoch(epoch, result)
                if self.world > 1:
                    flag = torch.tensor([int(stop)], device=self.device)
                    dist.broadcast(flag, 0)
                    stop = bool(flag.item())
                if stop:
                    break
            if self.is_main:
                self._plots()
        except TrainingError as e:
            done = self.committed_epoch + 1  # epochs whose end last.pt holds (the signal may come after a commit)
            kept = f"{self.files.last} keeps epoch {done}, the last good one" if done else "no checkpoint was written"
            raise TrainingError(f"{e}; {kept}") from None
        except KeyboardInterrupt:
            done = self.committed_epoch + 1
            self.log(f"\ninterrupted in epoch {done + 1}: {self.files.last} holds the end of epoch {done}; "
                     f"--resume {self.files.last} redoes epoch {done + 1} from there, exactly as an uninterrupted run"
                     if done else "\ninterrupted in epoch 1, before the first checkpoint")
            raise
        finally:
            if self.world > 1 and dist.is_initialized():
                dist.destroy_process_group()
        return self.best_metrics

    def _end_epoch(self, epoch: int, result: EpochResult) -> bool:
        """Rank 0: validate the EMA weights (every ``val_period`` epochs and at the last), commit results.csv /
        best.pt / last.pt; returns whether to stop. Patience counts epochs but is judged at validated ones."""
        if not self.is_main:
            return False
        model = self.ema.ema if self.ema else self.model
        validated = (epoch + 1) % self.cfg.val_period == 0 or epoch + 1 >= self.epochs
        metrics, val_s, best, stop = {}, None, False, False
        if validated:
            t0 = time.perf_counter()
            v = validate(model, self.val_loader, device=self.device)
            val_s = time.perf_counter() - t0
            metrics = v.metrics_dict()
            fit = fitness(metrics, self.cfg.fitness)
            best = self.best_fitness is None or fit > self.best_fitness
            if best:
                self.best_fitness, self.best_epoch, self.best_curves = fit, epoch, v.metrics.curves
                self.best_metrics = {**metrics, "epoch": epoch + 1}
            stop = epoch - self.best_epoch >= self.cfg.patience
        finished = stop or epoch + 1 >= self.epochs
        self.rows.append({"epoch": epoch + 1, **result.losses, "lr": result.lr,
                          **{k: metrics.get(k) for k in METRIC_COLUMNS}, "train_s": result.seconds, "val_s": val_s})
        common = dict(model=self.model, names=self.data.names, state_dict=model.state_dict(),
                      train_args=self.cfg.as_dict(), epoch=epoch, best_fitness=self.best_fitness, metrics=metrics)
        self.files.commit_epoch(self.rows, common if best else None, {**common, **self._resume_state(finished)})
        self.committed_epoch = epoch
        if self.cfg.plot_every and (epoch + 1) % self.cfg.plot_every == 0:
            self._plots()
        speed = f"epoch {epoch + 1}/{self.epochs}: loss {sum(result.losses.values()):.3f}, " \
                f"{result.images / result.seconds:.1f} img/s"
        if not validated:
            self.log(f"{speed} (validation every {self.cfg.val_period} epochs)")
            return False
        self.log(f"{speed}, AP50 {metrics['ap50'] or 0:.3f} AP50:95 {metrics['ap50_95'] or 0:.3f} P "
                 f"{metrics['precision'] or 0:.3f} R {metrics['recall'] or 0:.3f}{' (best)' if best else ''}"
                 f"{f'; no better fitness for {self.cfg.patience} epochs: stopping' if stop else ''}")
        return stop

    def _resume_state(self, finished: bool) -> dict:
        """What ``last.pt`` holds besides the weights: everything resuming needs to continue exactly (gradients
        accumulated since the last optimizer step included)."""
        pending = [p.grad for p in self.model.parameters()]
        return dict(train_state_dict=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
                    scaler=self.amp.scaler.state_dict() if self.amp.scaler.is_enabled() else {},
                    ema_updates=self.ema.updates if self.ema else 0, rng=torch.get_rng_state(),
                    best_epoch=self.best_epoch, best_metrics=self.best_metrics, last_step=self.step_state.last_step,
                    pending_grads=pending if any(g is not None for g in pending) else [], finished=finished)

    def _plots(self) -> None:
        """results.png and the best epoch's PR and F1 curves (when it was validated in this process)."""
        if self.rows:
            plot_results(self.save_dir / "results.png", self.rows)
        if self.best_curves is not None:
            c, m = self.best_curves, self.best_metrics
            plot_pr_curve(c.recall, c.precision, m["ap50"], self.save_dir / "PR_curve.png")
            plot_f1_curve(c.confidence, c.f1, m["conf_threshold"], self.save_dir / "F1_curve.png")
