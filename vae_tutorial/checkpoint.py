"""Checkpoints: the model, the optimiser, the history, the run's settings and random state.

A checkpoint is written to a temporary file in the same folder and renamed over the old
one, so a save that fails (or is killed) never leaves a half-written checkpoint behind.
It is read back with ``weights_only=True``: tensors and plain data only, never code.
Introduced in lesson 3; lesson 4 starts from lesson 3's checkpoint.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from vae_tutorial.history import History
from vae_tutorial.machinery.devices import random_state, set_random_state
from vae_tutorial.machinery.files import check_writable, write_atomically
from vae_tutorial.machinery.interrupts import ctrl_c_held
from vae_tutorial.model import VAE, VAEConfig, unwrap

CHECKPOINT_FORMAT = 1


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


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict, loaded safely (``weights_only=True``: tensors and plain data)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}" + (" (that is a folder)" if path.is_dir() else ""))
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable checkpoint: not a file torch.save writes (cut short, "
                         "or another kind of file); give a file that save_checkpoint or fit wrote")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # never pass on torch's advice here: weights_only=False would run code
        raise ValueError(f"{path} was refused unread: it holds Python objects other than tensors and plain "
                         "data, which a vae_tutorial checkpoint never does (they could run code)") from None
    except Exception as error:  # a damaged archive, ...
        raise ValueError(f"{path} is not a readable checkpoint ({type(error).__name__}): it is damaged; "
                         "use an earlier copy, or train again") from None
    keys = state.keys() if isinstance(state, dict) else ()
    missing = [key for key in ("format", "config", "model") if key not in keys]
    if missing or state["format"] != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a vae_tutorial checkpoint (format {CHECKPOINT_FORMAT}, with a "
                         f"config and a model); missing: {', '.join(missing) or 'format 1'}")
    return state


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


def check_optimizer_of(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """Raise ``ValueError`` unless ``optimizer`` updates ``model``'s parameters and no others."""
    own = {id(p) for p in model.parameters()}
    foreign = sum(id(p) not in own for group in optimizer.param_groups for p in group["params"])
    if foreign or not optimizer.param_groups:
        raise ValueError(f"the optimizer does not update this model: {foreign} of its parameters belong to "
                         "another model; make one with make_optimizer(model, config), or let fit make it")
