"""Matplotlib figures used by the lessons. Every function returns a ``Figure``.

Figures are made with ``matplotlib.figure.Figure`` directly (not ``pyplot``), so they
never pile up in pyplot's state and widgets can redraw them safely. In a notebook, a
returned figure is shown by ``display(fig)`` or by being the cell's last value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.distributions import Distribution

from vae_tutorial.train import History


def as_display_images(images: Tensor) -> Tensor:
    """``uint8`` or float ``(N, 3, H, W)`` -> float ``(N, H, W, 3)`` in ``[0, 1]`` on the CPU."""
    images = images.detach().cpu()
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    return images.float().clamp(0.0, 1.0).permute(0, 2, 3, 1)


def image_grid(images: Tensor, title: str = "", ncols: int = 8,
               labels: Sequence[str] | None = None, figure: Figure | None = None) -> Figure:
    """A grid of images ``(N, 3, H, W)`` (uint8 or float in [0, 1]), optionally labelled."""
    pixels = as_display_images(images)
    n = len(pixels)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    figure = figure or Figure(figsize=(1.2 * ncols, 1.2 * nrows + (0.4 if title else 0)))
    figure.clear()
    axes = figure.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(pixels[i].numpy(), interpolation="nearest")
            if labels is not None:
                ax.set_title(labels[i], fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def training_curves(history: History, figure: Figure | None = None) -> Figure:
    """ELBO, KL and reconstruction per epoch (train solid, validation dashed)."""
    figure = figure or Figure(figsize=(11, 3.2))
    figure.clear()
    axes = figure.subplots(1, 3)
    epochs = range(1, history.epochs + 1)
    for ax, name in zip(axes, ("elbo", "kl", "recon"), strict=True):
        ax.plot(epochs, history.train[name], marker="o", label="train")
        if history.val[name]:
            ax.plot(range(1, len(history.val[name]) + 1), history.val[name], "--", marker="s",
                    label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{name} (nats per image)")
        ax.legend()
    axes[0].set_title("ELBO: should go up")
    axes[1].set_title("KL(q || p): the price of the code")
    axes[2].set_title("log p(x|z): reconstruction")
    figure.tight_layout()
    return figure


def density_curve(distribution: Distribution, z: Tensor) -> Tensor:
    """Density of a 1-D distribution at the points ``z (n,)`` -> ``(n,)``."""
    return distribution.log_prob(z).exp()


def plot_densities(ax, q: Distribution, p: Distribution, z_range: tuple[float, float] = (-5.0, 10.0),
                   samples: Tensor | None = None) -> None:
    """Draw the densities of 1-D ``q`` and ``p`` on ``ax``, with optional samples from q as ticks."""
    z = torch.linspace(*z_range, 400)
    ax.plot(z, density_curve(p, z), color="tab:blue", label="p(z): prior")
    ax.fill_between(z, density_curve(p, z), alpha=0.2, color="tab:blue")
    ax.plot(z, density_curve(q, z), color="tab:orange", label="q(z|x): posterior")
    ax.fill_between(z, density_curve(q, z), alpha=0.2, color="tab:orange")
    if samples is not None:
        ax.plot(samples, torch.zeros_like(samples), "|", color="black", markersize=12,
                label=f"{len(samples)} samples z ~ q")
    ax.set_xlim(*z_range)
    ax.set_xlabel("z")
    ax.set_ylabel("density")
    ax.legend(loc="upper right", fontsize=8)


def densities(q: Distribution, p: Distribution, z_range: tuple[float, float] = (-5.0, 10.0),
              samples: Tensor | None = None, title: str = "q and p",
              figure: Figure | None = None) -> Figure:
    """A figure of the densities of 1-D distributions q and p (every lesson's basic picture)."""
    figure = figure or Figure(figsize=(6, 3.2))
    figure.clear()
    ax = figure.subplots()
    plot_densities(ax, q, p, z_range, samples)
    ax.set_title(title)
    figure.tight_layout()
    return figure
