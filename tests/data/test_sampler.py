"""EpochSampler against PyTorch's own samplers: the shuffled order of DataLoader(shuffle=True) with the epoch's
generator, and DistributedSampler's split of an order among processes (the only check of how DDP divides an epoch)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from fscfnet.data.dataset import EpochSampler


@pytest.mark.parametrize("epoch", [0, 3])
def test_the_shuffled_order_is_dataloaders_with_the_epochs_generator(epoch):
    s = EpochSampler(37, shuffle=True, seed=5)
    s.set_epoch(epoch)
    loader = DataLoader(range(37), batch_size=1, shuffle=True, generator=torch.Generator().manual_seed(5 + epoch))
    assert s.order() == [int(b) for b in loader]
    assert [k for k, _ in s] == [epoch] * 37 and [i for _, i in s] == s.order()


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (11, 3), (2, 3)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_ddp_processes_split_the_single_process_order_as_distributed_sampler_does(n, world, shuffle):
    whole = EpochSampler(n, shuffle, seed=1)
    whole.set_epoch(2)
    base = whole.order()
    parts = []
    for rank in range(world):
        s = EpochSampler(n, shuffle, seed=1, rank=rank, world=world)
        s.set_epoch(2)
        # DistributedSampler without its own shuffle: positions in the single-process order, wrapped to even length
        ref = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False)
        assert s.order() == [base[j] for j in ref] and len(s) == len(ref)
        parts.append(s.order())
    assert len({len(p) for p in parts}) == 1  # every process takes as many steps
    assert set().union(*parts) == set(range(n))  # together they see the whole epoch
    if n % world == 0:
        assert sorted(sum(parts, [])) == list(range(n))  # and nothing twice when it divides evenly


def test_an_epoch_subset_is_drawn_from_and_split_like_the_whole():
    def subset(epoch: int) -> list[int]:  # 6 of 20 indices, different each epoch
        return [(3 * epoch + 2 * k) % 20 for k in range(6)]

    whole = EpochSampler(20, True, seed=0, subset=subset)
    whole.set_epoch(1)
    assert len(whole) == 6 and sorted(whole.order()) == sorted(subset(1))
    halves = []
    for rank in range(2):
        s = EpochSampler(20, True, seed=0, rank=rank, world=2, subset=subset)
        s.set_epoch(1)
        halves += s.order()
    assert sorted(halves) == sorted(whole.order())
