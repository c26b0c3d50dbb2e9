"""Checkpoints: the model, the optimiser, the history, the run's settings and random state.

A checkpoint is written to a temporary file in the same folder and renamed over the old
one, so a save that fails (or is killed) never leaves a half-written checkpoint behind.
It is read back with ``weights_only=True``: tensors and plain data only, never code.
Introduced in lesson 3; lesson 4 starts from lesson 3's checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from vae_tutorial.history import History
from vae_tutorial.machinery.devices import random_state, set_random_state
from vae_tutorial.machinery.files import CHECKPOINT_FORMAT, check_writable, read_checkpoint, write_atomically
from vae_tutorial.machinery.interrupts import ctrl_c_held
from vae_tutorial.machinery.reports import check_optimizer_of
from vae_tutorial.model import VAE, VAEConfig, unwrap


def save_checkpoint(path: str | Path, model: nn.Module, history: History | None = None,
                    optimizer: torch.optim.Optimizer | None = None, config: object | None = None) -> None:
    """Write the model's config and weights, the optimiser state (default: ``history.optimizer``,
    the one ``fit`` used), the history, the training config (a ``TrainConfig``) and the random
    generators' state to ``path``, atomically; Ctrl-C waits until the file is in place."""
    if not isinstance(path, (str, Path)) or not isinstance(model, nn.Module):
        raise TypeError(f"save_checkpoint takes the path first, then the model (torch.save's order is the "
                        f"reverse); got {type(path).__name__}, {type(model).__name__}")
    optimizer = optimizer or getattr(history, "optimizer", None)
    state = {"format": CHECKPOINT_FORMAT, "config": asdict(unwrap(model).config),
             "model": {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()},
             "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "history": history.to_dict() if history is not None else None,
             "train_config": asdict(config) if config is not None else None, "rng": random_state()}
    path = check_writable(path)  # also removes the temporary files of killed saves
    with ctrl_c_held():  # a Ctrl-C arriving now takes effect once the checkpoint is in place
        write_atomically(path, lambda file: torch.save(state, file))


def load_checkpoint(path: str | Path, model: VAE | None = None,
                    optimizer: torch.optim.Optimizer | None = None) -> tuple[VAE, History]:
    """Load a checkpoint written by ``save_checkpoint``; returns ``(model, history)``.

    Without ``model`` a new ``VAE`` is built from the stored config. With one, its config
    must match the checkpoint's (else ``ValueError`` naming both). A given ``optimizer`` (of
    ``model``) gets the stored optimiser state, and the random generators theirs: that is a
    resume, and ``fit`` then goes on exactly as an uninterrupted run would have.
    """
    state = read_checkpoint(path)
    try:
        stored = VAEConfig(**state["config"])
        stored.validate()
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {path} holds a model config that is not valid: {error}") from None
    if model is not None and unwrap(model).config != stored:
        raise ValueError(f"checkpoint {path} holds a VAE with {stored}, "
                         f"but the model given has {unwrap(model).config}")
    model = model if model is not None else VAE(**asdict(stored))
    unwrap(model).load_state_dict(state["model"])
    history = History.from_dict(state["history"]) if state.get("history") else History()
    if optimizer is not None:
        check_optimizer_of(optimizer, model)
        if state.get("optimizer") is None:
            raise ValueError(f"checkpoint {path} holds no optimiser state to resume from")
        optimizer.load_state_dict(state["optimizer"])
        set_random_state(state.get("rng"))
        history.optimizer = optimizer
    return model, history
