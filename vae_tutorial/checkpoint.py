"""Checkpoints: the model, the optimiser, the history and the run's settings, written atomically.

A checkpoint is written to a temporary file in the same folder and renamed over the old
one, so a save that fails (or is killed) never leaves a half-written checkpoint behind.
It is read back with ``weights_only=True``: tensors and plain data only, never code.
Introduced in lesson 3; lesson 4 starts from lesson 3's checkpoint.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from vae_tutorial.history import History
from vae_tutorial.model import VAE, VAEConfig, unwrap

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, model: nn.Module, history: History | None = None,
                    optimizer: torch.optim.Optimizer | None = None, config: object | None = None) -> None:
    """Write the model's config and weights, the optimiser state, the history and the training
    config (a ``TrainConfig``) to ``path``, atomically; Ctrl-C waits until the file is in place."""
    vae = unwrap(model)
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": asdict(vae.config),
        "model": {k: v.detach().cpu() for k, v in vae.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "history": history.to_dict() if history is not None else None,
        "train_config": asdict(config) if config is not None else None,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with ctrl_c_held():  # a Ctrl-C arriving now takes effect once the checkpoint is in place
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                torch.save(state, file)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; use the usual mode
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, then act on it as Python would have.

    A KeyboardInterrupt inside ``torch.save`` would break its zip writer and lose the file.
    Only the main thread handles signals; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):  # Python's own handler raises KeyboardInterrupt
            previous(signal.SIGINT, received[0])


def current_umask() -> int:
    """The process's file-creation mask (reading it means setting it, so set it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict, loaded safely (``weights_only=True``: tensors and plain data)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated file, another program's pickle, ...
        raise ValueError(f"{path} is not a readable checkpoint: {error}") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a vae_tutorial checkpoint (format {CHECKPOINT_FORMAT})")
    return state


def load_checkpoint(path: str | Path, model: VAE | None = None,
                    optimizer: torch.optim.Optimizer | None = None) -> tuple[VAE, History]:
    """Load a checkpoint written by ``save_checkpoint``; returns ``(model, history)``.

    Without ``model`` a new ``VAE`` is built from the stored config. With one, its config
    must match the checkpoint's (else ``ValueError`` naming both). A given ``optimizer``
    gets the stored optimiser state.
    """
    state = read_checkpoint(path)
    stored = VAEConfig(**state["config"])
    if model is None:
        model = VAE(**state["config"])
    elif unwrap(model).config != stored:
        raise ValueError(f"checkpoint {path} holds a VAE with {stored}, "
                         f"but the model given has {unwrap(model).config}")
    unwrap(model).load_state_dict(state["model"])
    if optimizer is not None:
        if state["optimizer"] is None:
            raise ValueError(f"checkpoint {path} holds no optimiser state to resume from")
        optimizer.load_state_dict(state["optimizer"])
    history = History.from_dict(state["history"]) if state["history"] else History()
    return model, history
