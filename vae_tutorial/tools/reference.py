"""Tool: the article's training pipeline, rebuilt as the benchmark's reference (lesson 3).

William Falcon's article trains with lightning-bolts' ``CIFAR10DataModule`` (version 0.2):
torchvision's ``CIFAR10`` dataset hands out one PIL image at a time, each goes through
``ToTensor`` and ``Normalize`` with CIFAR-10's mean and std, and a ``DataLoader`` (batch 32,
shuffled, 16 workers, ``drop_last``, pinned memory) collates them. The step is fp32 with
plain Adam. This module rebuilds that pipeline on our ``VAE``, so ``tools.bench``
can time it against ours on the same model, data and device. Lightning's own per-step
bookkeeping (hooks, logging) is left out, which only makes the reference faster.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from PIL import Image
from torch import Tensor, nn
from torch.distributions import Normal
from torch.utils.data import DataLoader, Dataset

from vae_tutorial.checks import check_positive_int, is_integer
from vae_tutorial.data import CIFAR10_MEAN, CIFAR10_STD
from vae_tutorial.machinery.tensor_checks import check_uint8_images
from vae_tutorial.model import unwrap

ARTICLE_BATCH_SIZE = 32  # CIFAR10DataModule's default batch size
ARTICLE_NUM_WORKERS = 16  # CIFAR10DataModule's default number of loader processes
ARTICLE_LR = 1e-4  # the article's Adam learning rate


def article_transform() -> Callable[[Image.Image], Tensor]:
    """PIL image -> ``float32 (3, 32, 32)``: ``ToTensor`` (to [0, 1]) then ``Normalize``."""
    from torchvision import transforms  # imported here: only the benchmark needs torchvision

    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])


class PILImages(Dataset):
    """``uint8 (N, 3, 32, 32)`` images served the way torchvision's ``CIFAR10`` serves them.

    The pixels are kept as one ``(N, 32, 32, 3)`` numpy array (``CIFAR10.data``'s layout);
    each item becomes a PIL image and goes through ``transform``. Items are
    ``(x (3, 32, 32), 0)``: the VAE ignores labels, so every label is 0.
    """

    def __init__(self, images: Tensor, transform: Callable[[Image.Image], Tensor] | None = None):
        check_uint8_images(images, "images")
        self.data = images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, 32, 32, 3)
        self.transform = transform if transform is not None else article_transform()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image = Image.fromarray(self.data[index])  # as CIFAR10.__getitem__ does
        return self.transform(image), 0


def available_cpus() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def article_num_workers() -> int:
    """The article's 16 loader processes, capped at this machine's CPUs (PyTorch warns above that)."""
    return min(ARTICLE_NUM_WORKERS, available_cpus())


def article_loader(images: Tensor, batch_size: int = ARTICLE_BATCH_SIZE, num_workers: int | None = None,
                   pin_memory: bool = False,
                   transform: Callable[[Image.Image], Tensor] | None = None) -> DataLoader:
    """``CIFAR10DataModule.train_dataloader``'s loader over ``images`` (uint8 ``(N, 3, 32, 32)``).

    Shuffled, ``drop_last``; ``num_workers`` defaults to ``article_num_workers()``.
    Batches are ``(x (batch_size, 3, 32, 32), labels (batch_size,))`` on the CPU.
    """
    check_positive_int(batch_size, "batch_size")
    num_workers = article_num_workers() if num_workers is None else num_workers
    if not is_integer(num_workers) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
    return DataLoader(PILImages(images, transform), batch_size=batch_size, shuffle=True,
                      num_workers=num_workers, drop_last=True, pin_memory=pin_memory)


def article_loss(model: nn.Module, x: Tensor) -> Tensor:
    """The article's ``training_step`` on our ``VAE``'s parts: the mean of ``kl - recon``.

    Written independently of ``vae_tutorial.elbo`` (the article's own formulation), so the
    benchmark's equivalence test compares two implementations of one loss.

    Args:
        model: a ``VAE`` (or a compiled one).
        x: ``(B, 3, 32, 32)`` float images, as the loader made them.
    Returns:
        scalar -ELBO averaged over the batch, in nats.
    """
    vae = unwrap(model)
    features = vae.encoder(x)  # (B, feature_dim)
    mu, log_var = vae.fc_mu(features), vae.fc_var(features)  # (B, latent_dim) each
    std = torch.exp(log_var / 2)
    q = Normal(mu, std)
    z = q.rsample()  # (B, latent_dim)
    x_hat = vae.decoder(z)  # (B, 3, 32, 32)
    # Reconstruction: log N(x; x_hat, exp(log_scale)^2), summed over C, H, W -> (B,)
    recon = Normal(x_hat, torch.exp(vae.log_scale)).log_prob(x).sum(dim=(1, 2, 3))
    # KL: one-sample Monte-Carlo estimate log q(z|x) - log p(z), summed over the latent -> (B,)
    p = Normal(torch.zeros_like(mu), torch.ones_like(std))
    kl = (q.log_prob(z) - p.log_prob(z)).sum(-1)
    return (kl - recon).mean()


def article_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor,
                 loss_fn: Callable[[nn.Module, Tensor], Tensor] = article_loss) -> Tensor:
    """One step as Lightning runs it: loss, zero the gradients, backward, optimiser step.

    ``loss_fn`` is ``article_loss`` or a ``torch.compile``-d version of it. Returns the loss.
    """
    loss = loss_fn(model, x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()
