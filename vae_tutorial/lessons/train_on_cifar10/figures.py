"""Lesson 3's figures: the live training dashboard and q against p through training.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor
from torch.distributions import Normal

from vae_tutorial.history import History
from vae_tutorial.lessons.shared.figures import (
    as_display_images,
    density_curve,
    density_grid,
    mosaic,
    plot_densities,
    z_range_of,
)
from vae_tutorial.lessons.train_on_cifar10.tracking import PosteriorTrack


def plot_metric(ax, history: History, name: str, title: str) -> None:
    """One metric per epoch on ``ax``: train solid, validation dashed."""
    ax.plot(range(1, history.epochs + 1), history.train[name], marker="o", ms=3, label="train")
    if history.val[name]:
        ax.plot(range(1, len(history.val[name]) + 1), history.val[name], "--", marker="s", ms=3,
                label="validation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.set_title(title, fontsize=10)
    if history.epochs:
        ax.legend(fontsize=8)


def training_dashboard(history: History, originals: Tensor, reconstructions: Tensor, samples: Tensor,
                       figure: Figure | None = None) -> Figure:
    """Lesson 3's live view of a run, redrawn after every epoch into the same figure.

    Top: ELBO, KL and reconstruction term per epoch. Bottom: fixed test images ``originals
    (n, 3, 32, 32)`` over their ``reconstructions`` (same shape), and ``samples (m, 3, 32, 32)``
    decoded from the same z ~ p(z) every epoch.
    """
    figure = figure or Figure(figsize=(11, 6.2))
    figure.clear()
    grid = figure.add_gridspec(2, 3, height_ratios=(1.0, 1.1))
    for column, (name, title) in enumerate((("elbo", "ELBO: should go up"),
                                            ("kl", "KL(q || p): what the code costs"),
                                            ("recon", "log p(x|z): reconstruction"))):
        plot_metric(figure.add_subplot(grid[0, column]), history, name, title)
    pairs = torch.cat([as_display_images(originals), as_display_images(reconstructions)])  # (2n, H, W, 3)
    images_ax = figure.add_subplot(grid[1, :2])
    images_ax.imshow(mosaic(pairs.permute(0, 3, 1, 2), ncols=len(originals)).numpy(), interpolation="nearest")
    images_ax.set_title("fixed test images (top) and their reconstructions (bottom, mean of q decoded)",
                        fontsize=10)
    samples_ax = figure.add_subplot(grid[1, 2])
    square = math.ceil(math.sqrt(len(samples)))  # columns of the samples' grid
    samples_ax.imshow(mosaic(samples, ncols=square).numpy(), interpolation="nearest")
    samples_ax.set_title("samples: the same z ~ p(z) each epoch", fontsize=10)
    for ax in (images_ax, samples_ax):
        ax.axis("off")
    figure.suptitle(f"after epoch {history.epochs}" if history.epochs else "before training")
    figure.tight_layout()
    return figure


# What changes with the epoch alone: q's curve, the epoch marker, the middle title, and the
# legends (redrawn over the moving curve and marker). An explorer draws these "animated"
# artists on a kept render of the rest (widgets.explorer.BlitRenderer).
EPOCH_PARTS = ("q", "q fill", "epoch", "density title", "density legend", "kl legend")


def posterior_through_training(track: PosteriorTrack, record: int, image: int, dim: int,
                               figure: Figure | None = None) -> Figure:
    """q(z_d|x) against p(z_d) for one tracked image and latent dimension (lesson 3's widget).

    Left: the image. Middle: both densities after epoch ``track.epochs[record]`` and their
    KL. Right: that KL at every recorded epoch, for this image and averaged over all.
    The axes fit every epoch, so ``show_epoch`` can move to another one in place.
    """
    kl = track.kl()[:, :, dim]  # (records, n): KL of dimension dim
    qs = [Normal(loc, scale) for loc, scale in zip(torch.stack(track.locs)[:, image, dim],
                                                     torch.stack(track.scales)[:, image, dim], strict=True)]
    prior = Normal(torch.tensor(0.0), torch.tensor(1.0))
    z_range = z_range_of(prior, *qs)
    figure = figure or Figure(figsize=(11, 3.2))
    figure.clear()
    image_ax, density_ax, kl_ax = figure.subplots(1, 3, width_ratios=(1, 3, 2))
    image_ax.imshow(as_display_images(track.images[image:image + 1])[0].numpy(), interpolation="nearest")
    image_ax.set_title(f"image {image}", fontsize=10)
    image_ax.axis("off")
    plot_densities(density_ax, qs[record], prior, z_range, variable="z_d")
    peaks = [density_curve(d, d.mean.reshape(1)).item() for d in (prior, *qs)]  # the modes
    density_ax.set_ylim(0.0, 1.08 * max(peaks))  # every epoch's q fits
    density_ax.set_title("", fontsize=10)
    plot_kl_through_training(kl_ax, track.epochs, kl, record, image, dim)
    parts = {"density title": density_ax.title, "density legend": density_ax.get_legend(),
             "kl legend": kl_ax.get_legend(), "q": density_ax.lines[1], "q fill": density_ax.collections[1]}
    for gid, artist in parts.items():
        artist.set_gid(gid)
    for artist in figure.findobj(lambda artist: artist.get_gid() in EPOCH_PARTS):
        artist.set_animated(True)
    show_epoch(figure, track, record, image, dim)
    # Fixed margins instead of tight_layout, which would double the time of a widget redraw.
    figure.subplots_adjust(left=0.01, right=0.985, bottom=0.16, top=0.88, wspace=0.28)
    return figure


def plot_kl_through_training(ax, epochs: list[int], kl: Tensor, record: int, image: int, dim: int) -> None:
    """One dimension's KL ``(records, n)`` per epoch: for ``image``, and averaged over the tracked images."""
    ax.plot(epochs, kl[:, image], marker="o", ms=3, label=f"image {image}")
    ax.plot(epochs, kl.mean(dim=1), "--", color="gray", label="mean of tracked images")
    ax.axvline(epochs[record], color="tab:red", lw=1, gid="epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"KL of z[{dim}] (nats)")
    ax.set_title("this dimension's KL through training", fontsize=10)
    ax.legend(fontsize=8)


def show_epoch(figure: Figure, track: PosteriorTrack, record: int, image: int, dim: int) -> None:
    """Move a ``posterior_through_training`` figure of this image and dimension to another epoch."""
    parts = {artist.get_gid(): artist for artist in figure.findobj(lambda a: a.get_gid() in EPOCH_PARTS)}
    q = Normal(track.locs[record][image, dim], track.scales[record][image, dim])
    z = density_grid(q, figure.axes[1].get_xlim())
    parts["q"].set_data(z, density_curve(q, z))
    parts["q fill"].set_data(z, density_curve(q, z), 0)
    parts["epoch"].set_xdata([track.epochs[record]] * 2)
    kl = track.kl()[record, image, dim]
    parts["density title"].set_text(f"z[{dim}] after epoch {track.epochs[record]}: "
                                    f"KL(q || p) = {kl:.2f} nats")


