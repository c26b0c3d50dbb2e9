"""Devices, their random generators and ranks: is a device usable here, the generators' state a resumed
run needs; under ``torchrun``, the sums over all ranks, and did any rank see Ctrl-C."""

from __future__ import annotations

import torch
from torch import Tensor

from vae_tutorial.machinery.interrupts import Presses


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, refused clearly when it is not one this machine can use."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from None
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device.type == "cuda" and (device.index or 0) >= gpus:
        raise ValueError(f"device {str(device)!r} asked for, but this machine has {gpus} CUDA GPU(s) that "
                         "PyTorch can use; use 'cpu', or leave the device out (a GPU when there is one)")
    return device


def random_state() -> dict:
    """The generators a resumed run needs: PyTorch's CPU one (batch order) and the current GPU's."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {"torch": torch.get_rng_state(), "cuda": [torch.cuda.get_rng_state()] if cuda else []}


def set_random_state(state: dict | None) -> None:
    """Put back what ``random_state`` stored (on a machine without a GPU, the CPU's part)."""
    if state:
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"][0])


def distributed_run() -> bool:
    """True under ``torchrun`` (DDP), once the process group is joined."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def stop_requested(presses: Presses, device: torch.device) -> bool:
    """Was Ctrl-C pressed? Under ``torchrun``: on any rank, so that all ranks stop at the same step."""
    if not distributed_run():
        return presses.count > 0
    pressed = torch.tensor([float(presses.count > 0)], device=device)
    torch.distributed.all_reduce(pressed, op=torch.distributed.ReduceOp.MAX)
    return bool(pressed.item())


def sum_over_ranks(sums: Tensor, count: int) -> tuple[Tensor, int]:
    """Under ``torchrun`` (DDP) each rank saw only its shard: add up all ranks' sums and counts."""
    if not distributed_run():
        return sums, count
    totals = torch.cat([sums, sums.new_tensor([count])])  # (4,): sums of elbo, kl, recon; images
    torch.distributed.all_reduce(totals)
    return totals[:3], int(totals[3].item())
