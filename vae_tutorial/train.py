"""Training: the run's settings (``TrainConfig``), the training step, ``fit`` and ``evaluate``.

Lesson 2 trains short runs, lesson 3 the article's model (and writes ``train_step`` by hand).
The data stays on the device as ``uint8``; on CUDA the loop uses bf16 autocast, channels-last
memory and fused Adam, on the CPU plain fp32.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from vae_tutorial import checks
from vae_tutorial.checkpoint import save_checkpoint
from vae_tutorial.data import batches, num_batches, to_unit_interval
from vae_tutorial.elbo import ELBO, bits_per_dim, elbo_terms, kl_monte_carlo
from vae_tutorial.history import History
from vae_tutorial.machinery.devices import check_device, stop_requested, sum_over_ranks
from vae_tutorial.machinery.files import check_writable
from vae_tutorial.machinery.interrupts import Presses, deferred_interrupts
from vae_tutorial.machinery.reports import check_optimizer_of, epoch_summary, non_finite_advice
from vae_tutorial.machinery.tensor_checks import check_uint8_images
from vae_tutorial.model import VAE, evaluating, unwrap

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """The settings of a training run: ``fit``, the command line, the benchmark and lesson 3 read these.

    The article trained at batch 32 with Adam at 1e-4 for everything; a batch of 128 keeps
    a GPU busy, and the larger step sizes make up for the fewer steps. log σ gets a step of its
    own: Adam moves a parameter by about its step size per step, and ours starts at 0, σ = 1 on
    [0, 1] pixels (the article's σ = 1 was on pixels divided by CIFAR-10's std: about 0.25 here,
    log σ ≈ -1.4); at 1e-4 it would need thousands of steps to reach where the data puts it.
    """

    epochs: int = 18  # epochs to train now; the article shows its model after 18
    batch_size: int = 128  # images per optimiser step
    lr: float = 1e-3  # Adam's step size for the encoder and decoder
    scale_lr: float = 1e-2  # Adam's step size for log σ, the decoder's scale
    beta: float = 1.0  # weight of the KL term; 1 is the ELBO (lesson 2 varies it)
    kl_warmup_epochs: float = 0.0  # β grows linearly from 0 over these first epochs (lesson 2)
    free_bits: float = 0.0  # nats of KL per latent unit that cost nothing (Kingma et al. 2016; lesson 2)
    precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 elsewhere), "fp32" or "bf16"
    channels_last: bool | None = None  # NHWC memory layout; None: on CUDA only
    compile: bool = False  # torch.compile the encoder and decoder (worth it for long GPU runs)

    def validate(self) -> None:
        checks.check_non_negative_int(self.epochs, "epochs")
        checks.check_positive_int(self.batch_size, "batch_size")
        checks.check_positive_number(self.lr, "lr")
        checks.check_positive_number(self.scale_lr, "scale_lr")
        checks.check_non_negative_number(self.beta, "beta")
        checks.check_non_negative_number(self.kl_warmup_epochs, "kl_warmup_epochs")
        checks.check_non_negative_number(self.free_bits, "free_bits")
        checks.check_choice(self.precision, PRECISIONS, "precision")


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the step that caused it was not applied."""


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32; ``"auto"``: bf16 on GPUs built for it (not a T4), else fp32."""
    checks.check_choice(precision, PRECISIONS, "precision")
    if precision == "auto":
        native = device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
        precision = "bf16" if native else "fp32"
    return torch.bfloat16 if precision == "bf16" else None


def make_optimizer(model: nn.Module, config: TrainConfig | None = None) -> torch.optim.Adam:
    """Adam with two parameter groups: the networks at ``config.lr``, log σ at ``config.scale_lr``.

    log σ starts at 0, σ = 1 on [0, 1] pixels (``TrainConfig`` says why it needs its own step size).
    The fused kernel on CUDA (one launch for all parameters). A frozen log σ (a fixed σ,
    ``requires_grad=False``) is left out of the second group.
    """
    config = config or TrainConfig()
    config.validate()
    vae = unwrap(model)
    networks = [p for name, p in vae.named_parameters() if name != "log_scale" and p.requires_grad]
    scale = [vae.log_scale] if vae.log_scale.requires_grad else []
    groups = [{"params": networks}, {"params": scale, "lr": config.scale_lr}]
    return torch.optim.Adam(groups, lr=config.lr, fused=vae.log_scale.is_cuda or None)


def compile_networks(model: VAE) -> None:
    """``torch.compile`` the encoder and decoder in place; the distributions stay eager and the
    state dict keeps its names, so compiled and plain models share checkpoints."""
    model.encoder.compile()
    model.decoder.compile()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, beta: float = 1.0,
               dtype: torch.dtype | None = None, free_bits: float = 0.0) -> ELBO:
    """One optimiser step on a float batch ``x (B, 3, 32, 32)`` in ``[0, 1]``; returns its ELBO terms.

    encode -> rsample -> decode -> log p(x|z) - beta * KL -> loss = -ELBO -> backward -> step:
    lesson 3 writes these lines out and checks them against this function. ``dtype``
    (e.g. ``torch.bfloat16``) runs the networks under autocast; ``free_bits``: see ``elbo_terms``. Raises
    ``NonFiniteLossError`` before the update when the loss is NaN or infinite.
    """
    with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        terms = elbo_terms(model, x, beta, free_bits)
    if not torch.isfinite(terms.loss):
        raise NonFiniteLossError(f"the loss became {terms.loss.item()} (mean log p(x|z) "
                                 f"{terms.recon.mean().item():.4g}, mean KL {terms.kl.mean().item():.4g})")
    optimizer.zero_grad(set_to_none=True)
    terms.loss.backward()
    optimizer.step()
    return terms


def means_of(sums: Tensor, count: int) -> dict[str, float]:
    """``sums`` of (elbo, kl, recon) over ``count`` images -> the per-epoch metrics dict."""
    elbo_mean, kl_mean, recon_mean = (sums / count).tolist()
    # bits/dim always from the true bound recon - kl, whatever beta was used for training.
    return {"elbo": elbo_mean, "kl": kl_mean, "recon": recon_mean,
            "bits_per_dim": bits_per_dim(kl_mean - recon_mean)}


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, config: TrainConfig,
                history: History, progress: bool, presses: Presses | None = None) -> dict[str, float] | None:
    """One pass over ``images`` (uint8, on the device). Returns the epoch's metrics, or None when
    Ctrl-C (``presses``, recorded by ``fit``) stopped it between two steps."""
    presses = presses or Presses()
    model.train()
    dtype = autocast_dtype(config.precision, images.device)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    sums = torch.zeros(3, device=images.device)  # running sums of elbo, kl, recon
    bar = tqdm(batches(images, config.batch_size), total=num_batches(len(images), config.batch_size),
               desc=f"epoch {history.epochs + 1}", disable=not progress, leave=False)
    warmup_steps = config.kl_warmup_epochs * num_batches(len(images), config.batch_size)
    for step, x in enumerate(bar):
        if stop_requested(presses, images.device):
            bar.close()
            return None
        beta = config.beta * min(1.0, (history.steps + 1) / warmup_steps) if warmup_steps else config.beta
        x = x.contiguous(memory_format=layout)
        try:
            terms = train_step(model, optimizer, x, beta, dtype, config.free_bits)
        except NonFiniteLossError as error:
            where = f"at epoch {history.epochs + 1}, step {step + 1}"
            advice = non_finite_advice(unwrap(model), config.lr, config.scale_lr)
            raise NonFiniteLossError(f"{error} {where}. {advice}") from None
        history.steps += 1
        sums += torch.stack([terms.elbo.sum(), terms.kl.sum(), terms.recon.sum()]).detach()
        if progress and step % 20 == 0:
            bar.set_postfix(loss=f"{terms.loss.item():.1f}")
    return means_of(*sum_over_ranks(sums, len(images)))


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
        for batch in images.split(batch_size):
            x = to_unit_interval(batch.to(device), generator=generator)
            q = vae.encode(x)  # Normal over (B, latent_dim)
            z = q.loc + q.scale * torch.randn(q.loc.shape, device=device, generator=generator)
            recon = vae.log_likelihood(vae.decode(z), x)  # (B,)
            kl = kl_monte_carlo(z, q, vae.prior)  # (B,)
            sums += torch.stack([recon - beta * kl, kl, recon]).sum(dim=1)
    return means_of(sums, len(images))


def fit(model: nn.Module, images: Tensor, config: TrainConfig | None = None, *,
        val_images: Tensor | None = None, device: str | torch.device | None = None,
        optimizer: torch.optim.Optimizer | None = None, history: History | None = None,
        checkpoint: str | Path | None = None, on_epoch_end: Callable[[History], None] | None = None,
        progress: bool = True) -> History:
    """Train ``model`` (a float32 ``VAE``, in place) on ``images`` for ``config.epochs`` more epochs.

    ``images`` and ``val_images`` are ``uint8 (N, 3, 32, 32)``, moved to ``device`` (default:
    the GPU when there is one) once; validation is measured after every epoch. Pass the
    ``optimizer`` and ``history`` of a checkpoint to resume (default: new ones); the optimiser
    used is kept as ``history.optimizer``. With ``checkpoint`` (a path, probed before training)
    the model, optimiser, history, config and random state are saved after every epoch and when
    interrupted. ``on_epoch_end(history)`` runs after each epoch (live plots). Ctrl-C stops
    between two steps, never inside one; the unfinished epoch is not recorded, and the history
    comes back with ``interrupted=True``. A NaN or infinite loss raises ``NonFiniteLossError``.
    """
    config, device = prepare_run(model, images, val_images, config, device)
    checkpoint = check_writable(checkpoint) if checkpoint is not None else None
    optimizer = optimizer or make_optimizer(model, config)
    check_optimizer_of(optimizer, model)
    history = history or History()
    history.interrupted, history.optimizer = False, optimizer
    images, val_images = images.to(device), val_images if val_images is None else val_images.to(device)
    with deferred_interrupts() as presses:  # Ctrl-C is recorded, and acted on between two steps
        for _ in range(config.epochs):
            try:
                history.interrupted = not run_epoch(model, optimizer, images, val_images, config, history,
                                                    progress, presses)
            except KeyboardInterrupt:  # raised where Ctrl-C is not deferred (outside the main thread)
                history.interrupted = True
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, history, optimizer, config)
            if history.interrupted:
                break
            if on_epoch_end is not None:
                on_epoch_end(history)
    return history


def prepare_run(model: nn.Module, images: Tensor, val_images: Tensor | None, config: TrainConfig | None,
                device: str | torch.device | None) -> tuple[TrainConfig, torch.device]:
    """Check the run's settings, settle the device and memory layout, move (and compile) the model."""
    config = config or TrainConfig()
    config.validate()
    check_uint8_images(images, "images")
    if val_images is not None:
        check_uint8_images(val_images, "val_images")
    device = check_device(device) if device is not None else default_device()
    if unwrap(model).log_scale.dtype != torch.float32:
        raise TypeError(f"fit trains float32 models (bf16 comes from autocast: precision='bf16'); this one "
                        f"is {unwrap(model).log_scale.dtype}: call model.float() first")
    channels_last = device.type == "cuda" if config.channels_last is None else config.channels_last
    config = replace(config, channels_last=channels_last)
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    if config.compile:
        compile_networks(unwrap(model))
    return config, device


def run_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, val_images: Tensor | None,
              config: TrainConfig, history: History, progress: bool, presses: Presses) -> bool:
    """Train one epoch, measure the validation images, then record both: an epoch is recorded whole.
    Returns False (nothing recorded) when Ctrl-C stopped the training."""
    start = time.perf_counter()
    metrics = train_epoch(model, optimizer, images, config, history, progress, presses)
    if metrics is None:
        return False
    seconds = time.perf_counter() - start
    val_metrics = evaluate(model, val_images, beta=config.beta) if val_images is not None else {}
    for record, values in ((history.train, metrics), (history.val, val_metrics)):
        for name, value in values.items():
            record[name].append(value)
    history.epoch_seconds.append(seconds)
    if progress:
        tqdm.write(epoch_summary(history))
    return True
