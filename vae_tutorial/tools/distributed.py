"""Tool: training on several GPUs with DistributedDataParallel (DDP), started by ``torchrun``.

Introduced at the end of lesson 3. ``torchrun --nproc-per-node 4 -m vae_tutorial ...``
starts one process (a *rank*) per GPU and tells each, through environment variables,
who it is. Every rank holds a full copy of the model and its own shard of the data;
after each backward pass DDP averages the gradients over the ranks, so all copies take
the same optimiser step. Rank 0 alone writes checkpoints and prints.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) nothing here does anything:
one process is rank 0 of a world of size 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from vae_tutorial.machinery.devices import check_device
from vae_tutorial.train import default_device


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the processes that train together."""

    rank: int = 0  # this process's index, 0 .. world_size - 1
    world_size: int = 1  # how many processes train together
    local_rank: int = 0  # index on this machine: which GPU this process uses

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and prints; the others only train."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def ranks_from_env(env: dict[str, str] | None = None) -> Ranks:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as ``torchrun`` sets them."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return Ranks()
    ranks = Ranks(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", env["RANK"])))
    if not 0 <= ranks.rank < ranks.world_size:
        raise ValueError(f"RANK must be in 0 .. WORLD_SIZE - 1, got RANK={ranks.rank}, "
                         f"WORLD_SIZE={ranks.world_size}")
    return ranks


def setup(device: str | None = None) -> tuple[Ranks, torch.device]:
    """Join the process group when started by ``torchrun``; returns ``(ranks, device)``.

    ``device`` is what the user asked for (``None``: a GPU when there is one). Under
    ``torchrun`` each rank takes GPU ``LOCAL_RANK`` and talks over NCCL; on the CPU the
    ranks talk over gloo (what the tests use).
    """
    ranks = ranks_from_env()
    device = check_device(device) if device is not None else default_device()
    if not ranks.is_distributed:
        return ranks, device
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ranks, device


def wait_for_all(ranks: Ranks) -> None:
    """Under ``torchrun``, wait until every rank is here (one process: return at once).

    At the end of a run rank 0 still validates and saves while the others are done: a rank
    that left the process group then was seen, once, to abort in gloo's teardown (SIGABRT).
    """
    if ranks.is_distributed:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (when one was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(images: Tensor, ranks: Ranks) -> Tensor:
    """This rank's share of ``images (N, ...)``: every ``world_size``-th image from ``rank``.

    All shards have the same length (the last ``N % world_size`` images are dropped), so
    every rank takes the same number of steps per epoch: DDP needs that, because each
    step waits for the gradients of all ranks. Returns ``(N // world_size, ...)``.
    """
    usable = len(images) // ranks.world_size * ranks.world_size
    return images[ranks.rank:usable:ranks.world_size]


def wrap(model: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """The model wrapped in ``DistributedDataParallel`` when there are several ranks, else as is.

    DDP copies rank 0's parameters to every rank here, and from then on averages the
    gradients during ``backward``. Batch norm (ResNet backbone) keeps per-rank batch
    statistics, as is usual with DDP; the small backbone has none.
    """
    if not ranks.is_distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


@contextmanager
def main_first(ranks: Ranks) -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks (e.g. download data once)."""
    if ranks.is_distributed and not ranks.is_main:
        dist.barrier()  # wait until rank 0 has run the block
    try:
        yield
    finally:  # even when the block failed on rank 0: the others then fail on their own
        if ranks.is_distributed and ranks.is_main:
            dist.barrier()  # let the other ranks go
