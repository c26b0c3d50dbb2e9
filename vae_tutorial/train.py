"""Training: ``fit``, ``evaluate``, and atomic checkpoints.

Introduced in lesson 2 (a short run on shapes) and used at full size in lesson 3.
On CUDA the loop uses bf16 autocast, channels-last memory and fused Adam; on the CPU it
stays plain fp32. The data stays on the training device as ``uint8``.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from vae_tutorial.data import batches, check_uint8_images, num_batches, to_unit_interval
from vae_tutorial.elbo import (
    ELBO,
    bits_per_dim,
    elbo_terms,
    evaluating,
    gaussian_log_likelihood,
    kl_monte_carlo,
    unwrap,
)
from vae_tutorial.model import VAE, VAEConfig

METRICS = ("elbo", "kl", "recon", "bits_per_dim")  # per-epoch means, in nats (bits/dim for the last)
CHECKPOINT_FORMAT = 1


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the model keeps its last good parameters."""


def empty_metrics() -> dict[str, list[float]]:
    return {name: [] for name in METRICS}


@dataclass
class History:
    """Per-epoch means of the ELBO terms (lists indexed by epoch)."""

    train: dict[str, list[float]] = field(default_factory=empty_metrics)
    val: dict[str, list[float]] = field(default_factory=empty_metrics)  # empty without val_images
    epoch_seconds: list[float] = field(default_factory=list)  # wall time of each epoch's training
    steps: int = 0  # optimiser steps taken in total
    interrupted: bool = False  # True when the last fit was stopped with Ctrl-C

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train["elbo"])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> History:
        return cls(**values)


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """``"auto"`` is bf16 on CUDA and fp32 elsewhere. Returns the autocast dtype, or None for fp32."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return torch.bfloat16 if precision == "bf16" else None


def make_optimizer(model: nn.Module, lr: float, scale_lr: float | None = None) -> torch.optim.Adam:
    """Adam, as in the article; the fused kernel on CUDA (one launch for all parameters).

    With ``scale_lr`` the decoder's ``log_scale`` gets a step size of its own (a second
    parameter group): Adam moves a parameter by about ``lr`` per step, so at the article's
    1e-4 taking log σ from 0 (σ = 1) to -2.3 (σ = 0.1) needs over 20,000 steps, and until
    then σ is far too large and the KL term wins (lessons 2 and 3). Frozen parameters
    (``requires_grad=False``, e.g. a fixed σ) are then left out.
    """
    if not (lr > 0 and (scale_lr is None or scale_lr > 0)):
        raise ValueError(f"lr and scale_lr must be positive, got {lr!r} and {scale_lr!r}")
    on_cuda = next(model.parameters()).is_cuda
    if scale_lr is None:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=on_cuda or None)
    vae = unwrap(model)
    others = [p for name, p in vae.named_parameters() if name != "log_scale" and p.requires_grad]
    groups = [{"params": others}]
    if vae.log_scale.requires_grad:
        groups.append({"params": [vae.log_scale], "lr": scale_lr})
    return torch.optim.Adam(groups, lr=lr, fused=on_cuda or None)


def compile_networks(model: VAE) -> None:
    """``torch.compile`` the encoder and decoder in place (tensors in, tensors out).

    The distributions around them stay eager, and the state dict keeps its names, so
    checkpoints of compiled and plain models are interchangeable.
    """
    model.encoder.compile()
    model.decoder.compile()


def check_fit_arguments(images: Tensor, epochs: int, batch_size: int, lr: float) -> None:
    check_uint8_images(images, "images")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")


def means_of(sums: Tensor, count: int) -> dict[str, float]:
    """``sums`` of (elbo, kl, recon) over ``count`` images -> the per-epoch metrics dict."""
    elbo_mean, kl_mean, recon_mean = (sums / count).tolist()
    # bits/dim always from the true bound recon - kl, whatever beta was used for training.
    return {"elbo": elbo_mean, "kl": kl_mean, "recon": recon_mean,
            "bits_per_dim": bits_per_dim(kl_mean - recon_mean)}


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, beta: float = 1.0,
               autocast_dtype: torch.dtype | None = None, channels_last: bool = False) -> ELBO:
    """One optimiser step on a float batch ``x (B, 3, 32, 32)`` in ``[0, 1]``; returns its ELBO terms.

    The step ``fit`` takes (lesson 3); ``vae_tutorial.bench`` checks it against the article's.
    Raises ``NonFiniteLossError`` before the update when the loss is NaN or infinite.
    """
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x.device.type, dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
        terms = elbo_terms(model, x, beta)
    if not torch.isfinite(terms.loss):
        raise NonFiniteLossError(f"the loss became {terms.loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    terms.loss.backward()
    optimizer.step()
    return terms


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, batch_size: int,
                beta: float, autocast_dtype: torch.dtype | None, channels_last: bool,
                epoch: int, history: History, progress: bool) -> dict[str, float]:
    """One pass over ``images`` (uint8, on the device). Returns the epoch's metrics."""
    model.train()
    sums = torch.zeros(3, device=images.device)  # running sums of elbo, kl, recon
    bar = tqdm(batches(images, batch_size), total=num_batches(len(images), batch_size),
               desc=f"epoch {epoch + 1}", disable=not progress, leave=False)
    for step, x in enumerate(bar):
        try:
            terms = train_step(model, optimizer, x, beta, autocast_dtype, channels_last)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(
                f"{error} at epoch {epoch + 1}, step {step + 1}; "
                "the model keeps the parameters of the last good step (try a smaller lr)") from None
        history.steps += 1
        sums += torch.stack([terms.elbo.sum(), terms.kl.sum(), terms.recon.sum()]).detach()
        if progress and step % 20 == 0:
            bar.set_postfix(loss=f"{terms.loss.item():.1f}")
    return means_of(*sum_over_ranks(sums, len(images)))


def sum_over_ranks(sums: Tensor, count: int) -> tuple[Tensor, int]:
    """Under ``torchrun`` (DDP, lesson 3) each rank saw only its shard: add up all ranks' sums.

    Outside ``torchrun`` (no process group) ``sums`` and ``count`` come back unchanged.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return sums, count
    totals = torch.cat([sums, sums.new_tensor([count])])  # (4,): sums of elbo, kl, recon; images
    torch.distributed.all_reduce(totals)  # sum over ranks
    return totals[:3], int(totals[3].item())


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, batch_size: int = 256, beta: float = 1.0,
             seed: int = 0) -> dict[str, float]:
    """Mean ELBO, KL, reconstruction (nats) and bits/dim of ``images`` (uint8), in eval mode.

    Dequantisation noise and z come from a generator seeded with ``seed``, so repeated
    calls on the same model give the same numbers.
    """
    check_uint8_images(images, "images")
    with evaluating(model) as vae:
        device = vae.prior_loc.device
        generator = torch.Generator(device=device).manual_seed(seed)
        sums = torch.zeros(3, device=device)
        for start in range(0, len(images), batch_size):
            x = to_unit_interval(images[start:start + batch_size].to(device), generator=generator)
            q = vae.encode(x)  # Normal over (B, latent_dim)
            z = q.loc + q.scale * torch.randn(q.loc.shape, device=device, generator=generator)
            recon = gaussian_log_likelihood(vae.decode(z), vae.log_scale, x)  # (B,)
            kl = kl_monte_carlo(z, q, vae.prior)  # (B,)
            sums += torch.stack([recon - beta * kl, kl, recon]).sum(dim=1)
    return means_of(sums, len(images))


def fit(model: nn.Module, images: Tensor, epochs: int, batch_size: int = 128, lr: float = 1e-4,
        device: str | torch.device | None = None, *, val_images: Tensor | None = None,
        beta: float = 1.0, optimizer: torch.optim.Optimizer | None = None,
        history: History | None = None, precision: str = "auto", channels_last: bool | None = None,
        compile: bool = False, progress: bool = True,
        on_epoch_end: Callable[[History], None] | None = None) -> History:
    """Train ``model`` on ``images`` for ``epochs`` more epochs; returns the ``History``.

    Args:
        model: a ``VAE``; trained in place and moved to ``device``.
        images: ``uint8 (N, 3, 32, 32)`` training images (moved to ``device`` once).
        epochs: epochs to run now (a given ``history`` continues its numbering).
        batch_size, lr: as in the article (which used 32 and 1e-4).
        device: where to train; default the GPU when there is one.
        val_images: optional ``uint8`` validation images, evaluated after each epoch.
        beta: weight of the KL term (1 = the ELBO).
        optimizer, history: pass the ones from a checkpoint to resume.
        precision: ``"auto"`` (bf16 on CUDA, fp32 on CPU), ``"fp32"`` or ``"bf16"``.
        channels_last: NHWC memory layout; default on CUDA only.
        compile: ``torch.compile`` the encoder and decoder (worth it for long GPU runs).
        progress: show a tqdm progress bar.
        on_epoch_end: called with the history after each epoch (live plots, checkpoints).
    Ctrl-C stops after the current step and returns the history so far with
    ``interrupted=True``; the model keeps what it learned. A NaN or infinite loss raises
    ``NonFiniteLossError`` naming the epoch and step, before the bad step is applied.
    """
    check_fit_arguments(images, epochs, batch_size, lr)
    device = torch.device(device) if device is not None else default_device()
    autocast_dtype = resolve_precision(precision, device)
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    optimizer = optimizer or make_optimizer(model, lr)
    history = history or History()
    history.interrupted = False
    if compile:
        compile_networks(unwrap(model))
    images = images.to(device)
    if val_images is not None:
        check_uint8_images(val_images, "val_images")
        val_images = val_images.to(device)
    for epoch in range(history.epochs, history.epochs + epochs):
        try:
            start = time.perf_counter()
            metrics = train_epoch(model, optimizer, images, batch_size, beta, autocast_dtype,
                                  channels_last, epoch, history, progress)
        except KeyboardInterrupt:
            history.interrupted = True
            break
        record_epoch(history, metrics, time.perf_counter() - start)
        if val_images is not None:
            for name, value in evaluate(model, val_images, beta=beta).items():
                history.val[name].append(value)
        if progress:
            tqdm.write(epoch_summary(history))
        if on_epoch_end is not None:
            on_epoch_end(history)
    return history


def record_epoch(history: History, metrics: dict[str, float], seconds: float) -> None:
    for name, value in metrics.items():
        history.train[name].append(value)
    history.epoch_seconds.append(seconds)


def epoch_summary(history: History) -> str:
    """One line: epoch, train ELBO/KL/recon and bits/dim, and validation when present."""
    e = history.epochs - 1
    t = history.train
    line = (f"epoch {e + 1}: elbo {t['elbo'][e]:.1f}  kl {t['kl'][e]:.1f}  "
            f"recon {t['recon'][e]:.1f}  bits/dim {t['bits_per_dim'][e]:.3f}  "
            f"({history.epoch_seconds[e]:.1f} s)")
    if len(history.val["elbo"]) > e:
        line += f"  | val elbo {history.val['elbo'][e]:.1f}  bits/dim {history.val['bits_per_dim'][e]:.3f}"
    return line


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------

def save_checkpoint(path: str | Path, model: nn.Module, history: History | None = None,
                    optimizer: torch.optim.Optimizer | None = None, extra: dict | None = None) -> None:
    """Write model config and weights, optimiser state and history to ``path`` atomically.

    The file is written to a temporary name in the same folder and renamed, so a failed
    save never leaves a half-written checkpoint behind; Ctrl-C waits until the file is in
    place, then interrupts as usual.
    """
    vae = unwrap(model)
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": vae.config_dict(),
        "model": {k: v.detach().cpu() for k, v in vae.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "history": history.to_dict() if history is not None else None,
        "extra": extra or {},
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

    A KeyboardInterrupt raised inside ``torch.save`` leaves its zip writer in a state that
    fails with a RuntimeError instead, and the checkpoint is lost. Signals are only
    handled in the main thread; elsewhere the block runs as it is.
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


if __name__ == "__main__":  # python -m vae_tutorial.train: the command line (lesson 3)
    from vae_tutorial.cli import main

    raise SystemExit(main())
