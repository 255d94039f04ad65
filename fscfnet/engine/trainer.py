"""The training loop (explicit, torchvision-reference style).

SGD/AdamW with three parameter groups, warmup, linear/cosine decay, gradient accumulation to a nominal batch,
EMA, gradient clipping, AMP on CUDA, close-mosaic, validation each epoch, best checkpoint by fitness, early
stop, resume, and DistributedDataParallel under ``torchrun``. Rank 0 logs, validates and saves.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from tqdm import tqdm

from ..data.config import load_data_config
from ..data.dataset import IRSTDDataset, build_dataloader, label_stats
from ..engine.config import TrainConfig, load_train_config
from ..engine.results import METRIC_COLUMNS, plot_results, read_rows, write_rows
from ..engine.validator import validate
from ..errors import UserError
from ..nn import build_model
from ..utils.checkpoint import load_checkpoint, save_checkpoint
from ..utils.device import parse_devices
from ..utils.ema import ModelEMA
from ..utils.files import atomic_write_text, increment_path
from ..utils.loss import COMPONENTS, V10DetectionLoss
from ..utils.plots import plot_batch, plot_f1_curve, plot_label_stats, plot_pr_curve


class TrainingError(UserError):
    """Training cannot go on (e.g. a non-finite loss); the message says where and what is kept."""


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Biases (no decay), normalisation weights (no decay), other weights (decay) — biases first for warmup."""
    biases, norms, weights = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                biases.append(p)
            elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
                norms.append(p)
            else:
                weights.append(p)
    return [{"params": biases, "weight_decay": 0.0}, {"params": norms, "weight_decay": 0.0},
            {"params": weights, "weight_decay": weight_decay}]


def lr_lambda(cfg: TrainConfig, epochs: int) -> Callable[[int], float]:
    if cfg.schedule == "cosine":
        return lambda e: ((1 - math.cos(e * math.pi / epochs)) / 2) * (cfg.lrf - 1) + 1
    return lambda e: (1 - e / epochs) * (1 - cfg.lrf) + cfg.lrf


def load_matching(model: nn.Module, path: Path) -> tuple[int, int]:
    """Copy the tensors of checkpoint ``path`` whose names and shapes match; returns (loaded, model total)."""
    src = load_checkpoint(path)["state_dict"]
    own = model.state_dict()
    match = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(match, strict=False)
    return len(match), len(own)


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: Path | None = None, log: Callable[[str], None] = print):
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.main = self.rank == 0
        self.log = log if self.main else (lambda s: None)
        ckpt = None
        if resume is not None:
            ckpt = load_checkpoint(resume)
            if "optimizer" not in ckpt:
                raise UserError(f"{resume}: holds no training state (a best.pt?); resume from weights/last.pt")
            cfg = load_train_config({**ckpt["train_args"], "device": cfg.device, "workers": cfg.workers},
                                    f"{resume} train_args")
        self.cfg = cfg
        self._setup_device()
        self._seed(cfg.seed)
        self.data = load_data_config(cfg.data)
        self.epochs = cfg.epochs or self.data.epochs or 100
        self.imgsz = cfg.imgsz or self.data.imgsz or 640
        self.cfg = cfg = dataclasses.replace(cfg, epochs=self.epochs, imgsz=self.imgsz)  # checkpoints keep the values used
        model_src, init_weights = cfg.model, cfg.weights
        if not ckpt and Path(cfg.model).is_file() and zipfile.is_zipfile(cfg.model):  # a checkpoint: fine-tune it
            model_src, init_weights = load_checkpoint(Path(cfg.model))["model_yaml"], cfg.weights or cfg.model
        self.model = build_model(ckpt["model_yaml"] if ckpt else model_src, nc=None if ckpt else self.data.nc)
        if self.model.nc != self.data.nc:
            raise UserError(f"{cfg.model}: nc={self.model.nc} but {self.data.source} has {self.data.nc} classes")
        stride = int(self.model.stride.max())
        if self.imgsz % stride:
            raise UserError(f"imgsz {self.imgsz} must be a multiple of the model stride {stride}")
        if init_weights and not ckpt:
            loaded, total = load_matching(self.model, Path(init_weights))
            self.log(f"loaded {loaded}/{total} tensors (matching names and shapes) from {init_weights}")
        self.model.to(self.device)
        self.ema = ModelEMA(self.model) if cfg.ema else None
        aug = cfg.augment_config()
        self.train_set = IRSTDDataset(self.data, "train", self.imgsz, aug, self.model.ch, cfg.cache, cfg.seed, self.log)
        len_train = len(self.train_set)
        self.batch = max(cfg.batch // self.world, 1)
        self.accumulate = max(round(cfg.nbs / cfg.batch), 1)
        decay = cfg.weight_decay * cfg.batch * self.accumulate / cfg.nbs
        groups = param_groups(self.model, decay)
        steps = self.epochs * math.ceil(len_train / max(cfg.batch, cfg.nbs))
        self.optimizer_name, lr0 = cfg.resolve_optimizer(steps)
        self.auto_optimizer = cfg.optimizer == "auto"
        self.cfg = cfg = dataclasses.replace(cfg, optimizer=self.optimizer_name, lr0=lr0)  # stored as resolved
        if self.optimizer_name == "SGD":
            self.optimizer = torch.optim.SGD(groups, lr=lr0, momentum=cfg.momentum, nesterov=True)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=lr0, betas=(cfg.momentum, 0.999))
        self.lr0 = lr0
        self.lf = lr_lambda(cfg, self.epochs)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lf)
        self.amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)
        self.loss_fn = V10DetectionLoss(self.model, cfg.loss_config())
        self.val_set = IRSTDDataset(self.data, "test", self.imgsz, None, self.model.ch, cfg.cache, cfg.seed, self.log) \
            if self.main else None
        self.start_epoch, self.best_fitness, self.best_epoch = 0, None, -1
        if ckpt:
            self._restore(ckpt, Path(resume))
        else:
            self.save_dir = Path(cfg.project) / cfg.name
            if self.main:
                self.save_dir = self.save_dir if cfg.exist_ok else increment_path(self.save_dir)
        self.wdir = self.save_dir / "weights"
        self.model_ddp = self._wrap_ddp()

    # ----------------------------------------------------------------------------------------------------------------
    def _setup_device(self) -> None:
        devices = parse_devices(self.cfg.device)
        if self.world > 1:
            local = int(os.environ.get("LOCAL_RANK", 0))
            cuda = devices[0].type == "cuda"
            self.device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
            if cuda:
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if cuda else "gloo")
        else:
            self.device = devices[0]

    def _seed(self, seed: int) -> None:
        torch.manual_seed(seed)
        np.random.seed(seed)
        if self.cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        else:
            torch.backends.cudnn.benchmark = True

    def _wrap_ddp(self) -> nn.Module:
        if self.world == 1:
            return self.model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _restore(self, ckpt: dict, path: Path) -> None:
        self.model.load_state_dict(ckpt["train_state_dict"])
        if self.ema:
            self.ema.ema.load_state_dict(ckpt["state_dict"])
            self.ema.updates = int(ckpt.get("ema_updates", 0))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"])
        self.start_epoch = int(ckpt["epoch"]) + 1
        self.best_fitness, self.best_epoch = ckpt.get("best_fitness"), int(ckpt.get("best_epoch", -1))
        self.save_dir = path.resolve().parent.parent
        if self.start_epoch >= self.epochs:
            raise UserError(f"{path}: this run already finished its {self.epochs} epochs")
        if self.main:  # rows written after the checkpoint (a crash between the two) are dropped
            done = int(ckpt["epoch"]) + 1  # checkpoints count epochs from 0, results.csv from 1
            rows = [r for r in read_rows(self.save_dir / "results.csv") if int(r["epoch"]) <= done]
            write_rows(self.save_dir / "results.csv", rows)
        self.log(f"resuming {self.save_dir} from epoch {self.start_epoch + 1}/{self.epochs}")

    # ----------------------------------------------------------------------------------------------------------------
    def fitness(self, metrics: dict) -> float:
        return float(sum(w * (metrics.get(k) or 0.0) for k, w in self.cfg.fitness.items()))

    def _save(self, epoch: int, metrics: dict, best: bool) -> None:
        weights = (self.ema.ema if self.ema else self.model).state_dict()
        common = dict(state_dict=weights, train_args=self.cfg.as_dict(), epoch=epoch, best_fitness=self.best_fitness,
                      metrics=metrics)
        if best:  # before last.pt, the commit point: a last.pt naming this best epoch implies its best.pt exists
            save_checkpoint(self.wdir / "best.pt", self.model, self.data.names, **common)
        save_checkpoint(self.wdir / "last.pt", self.model, self.data.names, **common, best_epoch=self.best_epoch,
                        train_state_dict=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
                        scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict(),
                        ema_updates=self.ema.updates if self.ema else 0, rng=torch.get_rng_state())

    def _loader(self, epoch: int):
        sampler = None
        if self.world > 1:
            sampler = torch.utils.data.distributed.DistributedSampler(self.train_set, shuffle=True, seed=self.cfg.seed)
            sampler.set_epoch(epoch)
        return build_dataloader(self.train_set, self.batch, self.cfg.workers, shuffle=True, seed=self.cfg.seed + epoch,
                                sampler=sampler)

    def _start(self) -> None:
        if not self.main:
            return
        self.wdir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.save_dir / "args.yaml", yaml.safe_dump(self.cfg.as_dict(), sort_keys=False))
        if self.start_epoch == 0:
            plot_label_stats(*label_stats(self.train_set), self.save_dir / "labels.png", f"{self.data.name} train")
        self.log(f"{self.train_set.summary}\n{self.val_set.summary}\n"
                 f"training {self.cfg.model} on {self.device} ({self.world} process{'es' if self.world > 1 else ''}), "
                 f"{self.epochs} epochs at {self.imgsz}, batch {self.cfg.batch} (x{self.accumulate} accumulation), "
                 f"{self.optimizer_name}{' (auto)' if self.auto_optimizer else ''} lr0 {self.lr0}; results in {self.save_dir}")

    def train(self) -> dict:
        """Run the remaining epochs; returns the best epoch's validation metrics (rank 0)."""
        self._start()
        cfg, nb = self.cfg, math.ceil(len(self.train_set) / (self.batch * self.world))
        warmup = max(round(cfg.warmup_epochs * nb), 100) if cfg.warmup_epochs > 0 else -1
        last_step = -1
        rows = read_rows(self.save_dir / "results.csv") if self.main else []
        best_metrics: dict = {}
        epoch = self.start_epoch
        try:
            for epoch in range(self.start_epoch, self.epochs):
                self.train_set.mosaic_enabled = self.train_set.augment.mosaic > 0 and epoch < self.epochs - cfg.close_mosaic
                self.train_set.set_epoch(epoch)
                self.model_ddp.train()
                sums, seen, t0 = torch.zeros(len(COMPONENTS)), 0, time.perf_counter()
                bar = tqdm(self._loader(epoch), total=nb, desc=f"epoch {epoch + 1}/{self.epochs}", disable=not self.main,
                           leave=False, dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 60)
                for i, (images, targets, _) in enumerate(bar):
                    ni = i + nb * epoch
                    if ni <= warmup:
                        self.accumulate = max(1, int(np.interp(ni, [0, warmup], [1, cfg.nbs / cfg.batch]).round()))
                        for j, g in enumerate(self.optimizer.param_groups):
                            g["lr"] = float(np.interp(ni, [0, warmup], [cfg.warmup_bias_lr if j == 0 else 0.0,
                                                                        g["initial_lr"] * self.lf(epoch)]))
                            if "momentum" in g:
                                g["momentum"] = float(np.interp(ni, [0, warmup], [cfg.warmup_momentum, cfg.momentum]))
                    x = images.to(self.device, non_blocking=True).float().div_(255)
                    with torch.autocast(self.device.type, enabled=self.amp):
                        out = self.model_ddp(x)
                    loss, parts = self.loss_fn(out, targets, (self.imgsz, self.imgsz))
                    if not torch.isfinite(loss):
                        raise TrainingError(
                            f"non-finite loss at epoch {epoch + 1}, batch {i} ({', '.join(f'{k}={v:.4g}' for k, v in zip(COMPONENTS, parts.tolist()))}); "
                            + (f"{self.wdir / 'last.pt'} keeps epoch {epoch}, the last good one" if epoch > self.start_epoch
                               else "no checkpoint of this run was written"))
                    self.scaler.scale(loss * self.world).backward()
                    if ni - last_step >= self.accumulate:
                        self._step()
                        last_step = ni
                    sums += parts.cpu() * len(images)
                    seen += len(images)
                    if self.main and epoch == 0 and i < 3:
                        plot_batch(images, targets, self.save_dir / f"train_batch{i}.jpg")
                    bar.set_postfix_str(" ".join(f"{k}={v:.3f}" for k, v in zip(COMPONENTS, (sums / seen).tolist())) +
                                        f" {seen * self.world / (time.perf_counter() - t0):.1f} img/s", refresh=False)
                lr = self.optimizer.param_groups[2]["lr"]
                self.scheduler.step()
                stop = self._end_epoch(epoch, sums / max(seen, 1), lr, seen * self.world / (time.perf_counter() - t0),
                                       rows, best_metrics)
                if self.world > 1:
                    flag = torch.tensor([int(stop)], device=self.device if self.device.type == "cuda" else "cpu")
                    dist.broadcast(flag, 0)
                    stop = bool(flag.item())
                if stop:
                    break
        except KeyboardInterrupt:
            if self.main:  # keep what this epoch learnt; resuming restarts the interrupted epoch from it
                self._save(epoch - 1, {}, best=False)
                self.log(f"\ninterrupted in epoch {epoch + 1}: saved the current weights and optimizer state to "
                         f"{self.wdir / 'last.pt'}; --resume {self.wdir / 'last.pt'} restarts epoch {epoch + 1} from them")
            raise
        return best_metrics

    def _step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=self.cfg.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema:
            self.ema.update(self.model)

    def _end_epoch(self, epoch: int, losses: torch.Tensor, lr: float, rate: float, rows: list, best_metrics: dict) -> bool:
        if not self.main:
            return False
        model = self.ema.ema if self.ema else self.model
        v = validate(model, self.val_set, self.batch, self.cfg.workers, device=self.device)
        metrics = v.metrics_dict()
        fit = self.fitness(metrics)
        best = self.best_fitness is None or fit > self.best_fitness
        if best:
            self.best_fitness, self.best_epoch = fit, epoch
            best_metrics.clear()
            best_metrics.update({**metrics, "epoch": epoch + 1})
            c = v.metrics.curves
            plot_pr_curve(c.recall, c.precision, metrics["ap50"], self.save_dir / "PR_curve.png")
            plot_f1_curve(c.confidence, c.f1, metrics["conf_threshold"], self.save_dir / "F1_curve.png")
        rows.append({"epoch": epoch + 1, **dict(zip(COMPONENTS, losses.tolist())), "lr": lr,
                     **{k: metrics[k] for k in METRIC_COLUMNS}})
        write_rows(self.save_dir / "results.csv", rows)  # before last.pt: resume drops rows past its epoch
        self._save(epoch, metrics, best)
        plot_results(self.save_dir / "results.png", rows)
        self.log(f"epoch {epoch + 1}/{self.epochs}: loss {losses.sum():.3f}, {rate:.1f} img/s, AP50 {metrics['ap50'] or 0:.3f} "
                 f"AP50:95 {metrics['ap50_95'] or 0:.3f} P {metrics['precision'] or 0:.3f} R {metrics['recall'] or 0:.3f}"
                 f"{' (best)' if best else ''}")
        return epoch - self.best_epoch >= self.cfg.patience
