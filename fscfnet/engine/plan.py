"""A training run's plan, resolved once before anything is built: the settings with every default filled in (what
``args.yaml`` and the checkpoints store), the dataset, the device and process layout, the precision and the run
folder. Then the trainer builds, in order, the model, the loaders and the training state from it.

The process layout (:class:`Processes`) comes from ``torchrun``'s environment: one process, or ``world`` of them
under DistributedDataParallel, where rank 0 logs, validates and saves.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..cfg.data import DataConfig
from ..cfg.mix import DataMix, parts_of
from ..cfg.train import TrainConfig, load_train_config
from ..data import open_training_data
from ..data.dataset import epoch_images
from ..errors import UserError
from ..utils.device import training_device
from ..utils.files import increment_path
from .optim import optimizer_steps
from .run_dir import RunFiles
from .state import run_finished


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Processes":
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self, device: torch.device, timeout_s: float) -> None:
        """Join the process group (NCCL on GPUs, gloo on CPUs) when there are several processes."""
        if self.world > 1 and not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                    timeout=datetime.timedelta(seconds=timeout_s))

    def open_dataset(self, data: str | list) -> DataConfig | DataMix:
        """The dataset(s), readied by rank 0 first (a missing demo set is generated once), then by the others."""
        if self.world == 1:
            return open_training_data(data)
        cfg = open_training_data(data) if self.is_main else None
        dist.barrier()
        return cfg or open_training_data(data)

    def wrap(self, model: nn.Module, sync_bn: bool) -> nn.Module:
        """``model`` itself for one process, else its DistributedDataParallel wrapper."""
        if self.world == 1:
            return model
        if sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        device = next(model.parameters()).device
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def stop(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


@dataclass(frozen=True)
class TrainPlan:
    cfg: TrainConfig  # every default resolved: epochs, imgsz, optimizer, lr0 (args.yaml, train_args)
    data: DataConfig | DataMix
    device: torch.device
    processes: Processes
    amp: torch.dtype | None  # autocast dtype; None: full precision
    workers: int  # loader processes per training process
    batch: int  # images per process and step
    save_dir: Path
    resumed: bool

    @property
    def amp_name(self) -> str:
        return {torch.float16: "fp16", torch.bfloat16: "bf16", None: "off"}[self.amp]


def stored_config(cfg: TrainConfig, ckpt: dict | None, resume: Path | None) -> TrainConfig:
    """The settings to run with: ``cfg``, or when resuming the checkpoint's own (its device and workers as given
    now); a run that already finished is refused."""
    if ckpt is None:
        return cfg
    if run_finished(ckpt):
        raise UserError(f"{resume}: this run already finished ({int(ckpt['epoch']) + 1} of "
                        f"{ckpt['train_args'].get('epochs')} epochs{', stopped early' if ckpt.get('finished') else ''})")
    return load_train_config({**ckpt["train_args"], "device": cfg.device, "workers": cfg.workers},
                             f"{resume} train_args")


def start_process(cfg: TrainConfig, processes: Processes) -> torch.device:
    """This process's device, in the process group, seeded, with deterministic kernels where chosen."""
    device = training_device(cfg.device, processes.world, processes.local_rank)
    processes.start(device, cfg.ddp_timeout)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    deterministic = cfg.resolve_deterministic(device)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, not deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return device


def resolve_plan(cfg: TrainConfig, data: DataConfig | DataMix, device: torch.device, processes: Processes,
                 resume: Path | None, log: Callable[[str], None]) -> TrainPlan:
    """Every default filled from the dataset and the device: epochs and imgsz (the dataset's suggestion, else 100
    and 640), the optimizer and its learning rate (``auto``: by the run's optimizer steps), a stored AMP mode
    the device cannot run (resuming), workers, the batch per process and the run folder."""
    if resume is not None:
        cfg, note = cfg.resumable_on(device)
        if note:
            log(note)
    epochs, imgsz = cfg.epochs or data.epochs or 100, cfg.imgsz or data.imgsz or 640
    # background folders and ratio included; a mix's epoch is its datasets' epochs together, whatever the shares
    images = sum(epoch_images(p.data, "train", cfg.background_ratio) for p in parts_of(data))
    optimizer, lr0 = dataclasses.replace(cfg, epochs=epochs).resolve_optimizer(optimizer_steps(epochs, images, cfg))
    cfg = dataclasses.replace(cfg, epochs=epochs, imgsz=imgsz, optimizer=optimizer, lr0=lr0)
    if resume is not None:
        save_dir = RunFiles.of_checkpoint(resume).dir
    else:
        save_dir = Path(cfg.project) / cfg.name
        save_dir = increment_path(save_dir) if processes.is_main and not cfg.exist_ok else save_dir
    return TrainPlan(cfg, data, device, processes, cfg.resolve_amp(device), cfg.resolve_workers(processes.world),
                     max(cfg.batch // processes.world, 1), save_dir, resume is not None)
