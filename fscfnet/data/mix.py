"""Several datasets' training splits as one epoch-mixed dataset (:class:`MixedDataset`), each dataset taking its
share of every epoch (:func:`epoch_quotas`); the config side is :mod:`fscfnet.cfg.mix`."""

from __future__ import annotations

import bisect
import dataclasses
import math
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DatasetError
from .dataset import IRSTDDataset


def epoch_quotas(sizes: Sequence[int], shares: Sequence[float | None]) -> list[int]:
    """Images each dataset contributes to an epoch of ``sum(sizes)`` images: a dataset with a share takes that
    fraction of the epoch, the others split what is left in proportion to their sizes (so with no shares each
    contributes its own size). Rounded by largest remainder, so the quotas add up to the epoch."""
    total = sum(sizes)
    fixed = sum(s for s in shares if s is not None)
    rest = sum(n for n, s in zip(sizes, shares) if s is None)
    exact = [s * total if s is not None else (total - fixed * total) * n / rest if rest else 0.0
             for n, s in zip(sizes, shares)]
    quotas = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda k: quotas[k] - exact[k])
    for k in by_remainder[:max(0, total - sum(quotas))]:
        quotas[k] += 1
    return quotas


def remap_classes(dataset: IRSTDDataset, classes: Sequence[int], names: Sequence[str]) -> IRSTDDataset:
    """``dataset``'s labels in a mix's class indices (its class k becomes ``classes[k]``) and its config naming
    the mix's classes ``names`` (what validation reports them as); in place."""
    dataset.cfg = dataclasses.replace(dataset.cfg, names=list(names))
    if list(classes) != list(range(len(classes))):
        table = np.asarray(classes, np.float32)
        for lab in dataset.labels:
            lab[:, 0] = table[lab[:, 0].astype(np.int64)]
    return dataset


class MixedDataset(Dataset):
    """The training splits of several datasets, sampled by :class:`~fscfnet.data.dataset.EpochSampler` keys
    ``(epoch, index)``. An epoch holds ``quotas[k]`` images of dataset k, drawn from that dataset's own epoch
    (:meth:`IRSTDDataset.epoch_indices`: its background ratio applies) without repeats while the quota allows
    and in whole extra passes beyond it, each copy of an image augmented differently. Every draw depends only on
    (seed, epoch, dataset), so resuming and any worker order give the same epoch."""

    def __init__(self, parts: Sequence[IRSTDDataset], shares: Sequence[float | None], seed: int = 0):
        self.parts, self.seed = list(parts), seed
        self.pool_sizes = [len(self._pool(p, 0)) for p in self.parts]
        self.quotas = epoch_quotas(self.pool_sizes, shares)
        empty = [p.cfg.name for p, q in zip(self.parts, self.quotas) if q == 0]
        if empty:
            raise DatasetError(f"{empty[0]}: its share of each {sum(self.quotas)}-image epoch rounds to no image; "
                               f"give it a larger share")
        self.copies = [max(1, math.ceil(q / n)) for q, n in zip(self.quotas, self.pool_sizes)]
        self.starts = np.cumsum([0] + [len(p) * c for p, c in zip(self.parts, self.copies)]).tolist()
        self._epochs: dict[int, list[int]] = {}

    @staticmethod
    def _pool(part: IRSTDDataset, epoch: int) -> list[int]:
        pool = part.epoch_indices(epoch)
        return list(range(len(part))) if pool is None else pool

    def __len__(self) -> int:
        """The index space: each dataset's images times the copies its quota needs (an epoch uses part of it)."""
        return self.starts[-1]

    def epoch_indices(self, epoch: int) -> list[int]:
        """The epoch's ``sum(quotas)`` indices; index ``starts[k] + c * len(part k) + i`` is copy c of image i."""
        if epoch not in self._epochs:
            out: list[int] = []
            for k, (part, quota) in enumerate(zip(self.parts, self.quotas)):
                pool = self._pool(part, epoch)
                passes, extra = divmod(quota, len(pool))
                rng = np.random.default_rng([self.seed, epoch, k, 2])  # not a sample's stream
                chosen = [pool[j] for j in sorted(rng.choice(len(pool), extra, replace=False))]
                picks = [(c, i) for c in range(passes) for i in pool] + [(passes, i) for i in chosen]
                out += [self.starts[k] + c * len(part) + i for c, i in picks]
            self._epochs = {e: v for e, v in self._epochs.items() if e >= epoch - 1}  # the sampler's and workers' epochs
            self._epochs[epoch] = out
        return self._epochs[epoch]

    def locate(self, index: int) -> tuple[int, int, int]:
        """(dataset k, copy c, image i) of a mixed index."""
        k = bisect.bisect_right(self.starts, index) - 1
        c, i = divmod(index - self.starts[k], len(self.parts[k]))
        return k, c, i

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, str]:
        epoch, index = key
        k, c, i = self.locate(index)
        return self.parts[k][(epoch, i, k, c)]

    def set_epoch(self, epoch: int) -> None:
        for p in self.parts:
            p.set_epoch(epoch)

    @property
    def mosaic_until(self) -> int | None:
        return self.parts[0].mosaic_until

    @mosaic_until.setter
    def mosaic_until(self, epoch: int | None) -> None:
        for p in self.parts:
            p.mosaic_until = epoch  # mosaic tiles come from the sample's own dataset

    @property
    def labels(self) -> list[np.ndarray]:
        return [lab for p in self.parts for lab in p.labels]

    @property
    def shapes(self) -> list:
        return [s for p in self.parts for s in p.shapes]

    @property
    def summary(self) -> str:
        total = sum(self.quotas)
        shares = ", ".join(f"{p.cfg.name} {q} ({q / total:.0%}{f', x{q / n:.2f}' if q > n else ''})"
                           for p, q, n in zip(self.parts, self.quotas, self.pool_sizes))
        return "\n".join(p.summary for p in self.parts) + f"\nmixed: {total} images an epoch: {shares}"
