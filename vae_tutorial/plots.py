"""Matplotlib figures used by the lessons. Every function returns a ``Figure``.

Figures are made with ``matplotlib.figure.Figure`` directly (not ``pyplot``), so they
never pile up in pyplot's state and widgets can redraw them safely. In a notebook, a
returned figure is shown by ``display(fig)`` or by being the cell's last value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter, StrMethodFormatter
from torch import Tensor
from torch.distributions import Distribution, Normal, kl_divergence

from vae_tutorial.kl_lab import BatchStudy
from vae_tutorial.tracking import PosteriorTrack
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


# --- Lesson 1 ---


def z_range_of(*distributions: Distribution, widths: float = 4.0) -> tuple[float, float]:
    """A z interval holding ``widths`` standard deviations either side of every 1-D distribution."""
    lows = [float(d.mean - widths * d.stddev) for d in distributions]
    highs = [float(d.mean + widths * d.stddev) for d in distributions]
    return min(lows), max(highs)


def plot_log_ratio(ax, q: Distribution, p: Distribution, z_range: tuple[float, float], samples: Tensor,
                   log_ratio: Tensor, estimate: float, standard_error: float, exact: float) -> None:
    """The curve log q(z) - log p(z), its value at the samples, the MC average and the closed form."""
    z = torch.linspace(*z_range, 400)
    ax.plot(z, q.log_prob(z) - p.log_prob(z), color="gray", lw=1, label="log q(z) - log p(z)")
    ax.plot(samples, log_ratio, ".", color="black", ms=4, alpha=0.6, label="at the samples")
    ax.axhline(estimate, color="tab:red", label="Monte-Carlo average")
    if math.isfinite(standard_error):
        ax.axhspan(estimate - standard_error, estimate + standard_error, color="tab:red", alpha=0.2)
    ax.axhline(exact, color="tab:green", ls="--", label="closed-form KL")
    values = torch.cat([log_ratio, torch.tensor([exact, estimate])])
    low, high = values.min().item(), values.max().item()
    margin = 0.15 * (high - low) + 0.5
    ax.set_ylim(low - margin, high + margin)
    ax.set_xlim(*z_range)
    ax.set_xlabel("z")
    ax.set_ylabel("log q(z) - log p(z)  (nats)")
    ax.legend(loc="upper right", fontsize=7, ncol=2)


def kl_estimate_figure(q: Distribution, p: Distribution, samples: Tensor, log_ratio: Tensor,
                       estimate: float, standard_error: float, exact: float,
                       figure: Figure | None = None) -> Figure:
    """Lesson 1's KL explorer: densities and samples (top), per-sample log-ratio and its average (bottom).

    Args:
        q, p: 1-D distributions; samples: ``(n,)`` draws from q; log_ratio: ``(n,)`` their
        log q - log p; estimate, standard_error: the Monte-Carlo KL; exact: the closed form.
    """
    figure = figure or Figure(figsize=(7, 5.6))
    figure.clear()
    top, bottom = figure.subplots(2, 1, sharex=True)
    z_range = z_range_of(q, p)
    plot_densities(top, q, p, z_range, samples)
    top.set_xlabel("")
    top.set_title("q and p; ticks: the samples z ~ q", fontsize=10)
    plot_log_ratio(bottom, q, p, z_range, samples, log_ratio, estimate, standard_error, exact)
    se_text = f" ± {standard_error:.3f}" if math.isfinite(standard_error) else ""
    bottom.set_title(f"average of the dots = MC KL {estimate:.3f}{se_text} nats; "
                     f"closed form {exact:.3f}", fontsize=10)
    # Fixed margins: tight_layout would measure every label again on each widget redraw.
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.09, top=0.94, hspace=0.22)
    return figure


def kl_landscape(p: Distribution, locs: Tensor, scales: Tensor) -> Tensor:
    """Closed-form KL(N(loc, scale) || p) on a grid: ``locs (m,)``, ``scales (s,)`` -> ``(s, m)``."""
    grid_loc, grid_scale = torch.meshgrid(locs, scales, indexing="xy")  # (s, m) each
    return kl_divergence(Normal(grid_loc, grid_scale), p)


def plot_descent_path(ax, locs: Sequence[float], scales: Sequence[float], p: Normal) -> None:
    """q's path in the (mean, std) plane over contours of KL(q || p); std on a log axis."""
    grid_locs, grid_scales = torch.linspace(-6, 6, 121), torch.logspace(-1.7, 1.3, 121)
    ax.contour(grid_locs, grid_scales, kl_landscape(p, grid_locs, grid_scales), levels=[0.1, 1, 10],
               colors="gray", linewidths=[0.6, 1.0, 1.4])
    ax.plot(locs, scales, "-", color="tab:orange", lw=1)
    ax.plot(locs[0], scales[0], "o", color="black", ms=5)  # the start
    ax.plot(locs[-1], scales[-1], "o", color="tab:orange", ms=6)  # q now
    ax.plot(float(p.mean), float(p.stddev), "*", color="tab:blue", ms=12)  # p
    ax.set_yscale("log")
    # Plain tick labels: the default 10^x labels are typeset, which slows every redraw.
    ax.set_yticks([0.03, 0.1, 0.3, 1, 3, 10], ["0.03", "0.1", "0.3", "1", "3", "10"])
    ax.minorticks_off()
    ax.set_xlim(-6, 6)
    ax.set_ylim(0.02, 20)
    ax.set_xlabel("mean of q")
    ax.set_ylabel("std of q (log scale)")
    ax.set_title("path of q (black: start, star: p)\ncontours: KL(q || p) = 0.1, 1, 10 nats", fontsize=9)


def plot_kl_per_step(ax, mc_kls: Sequence[float], exact_kls: Sequence[float]) -> None:
    """The closed-form KL of every visited q and the Monte-Carlo KL each step measured."""
    ax.plot(range(len(exact_kls)), exact_kls, color="tab:green")
    ax.plot(range(len(mc_kls)), mc_kls, ".", color="tab:red", ms=3, alpha=0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("KL(q || p)  (nats)")
    ax.set_title("KL(q || p) per step, should fall to 0\nline: closed form, dots: the step's MC estimate",
                 fontsize=9)


def descent_figure(locs: Sequence[float], scales: Sequence[float], mc_kls: Sequence[float],
                   exact_kls: Sequence[float], p: Normal, figure: Figure | None = None) -> Figure:
    """Lesson 1's "move q toward p": q's densities along the way, its path, and the KL per step.

    Args: the trajectory of a ``kl_lab.QDescent`` (``locs``, ``scales``: one entry per
    visited q; ``mc_kls``: one per step; ``exact_kls``: one per visited q) and the target p.
    """
    figure = figure or Figure(figsize=(12, 3.6))
    figure.clear()
    left, middle, right = figure.subplots(1, 3)
    z_range = (min(-5.0, max(-15.0, min(locs) - 3.0)), max(5.0, min(15.0, max(locs) + 3.0)))
    shown = sorted(set(torch.linspace(0, len(locs) - 1, 6).round().long().tolist()))  # up to 6 visited qs
    z = torch.linspace(*z_range, 400)
    for rank, i in enumerate(shown[:-1]):
        q_then = Normal(locs[i], scales[i])
        left.plot(z, density_curve(q_then, z), color="tab:orange", alpha=0.15 + 0.1 * rank, lw=1)
    plot_densities(left, Normal(locs[-1], scales[-1]), p, z_range)
    left.set_title(f"step {len(locs) - 1}: q (faded: earlier q) and p", fontsize=10)
    plot_descent_path(middle, locs, scales, p)
    plot_kl_per_step(right, mc_kls, exact_kls)
    figure.subplots_adjust(left=0.05, right=0.99, bottom=0.14, top=0.87, wspace=0.3)  # fixed: fast redraws
    return figure


def compare_densities(qs: Mapping[str, Distribution], p: Distribution, z_range: tuple[float, float],
                      figure: Figure | None = None) -> Figure:
    """One panel per named 1-D q, each drawn against the same p (lesson 1: q beyond Normals)."""
    figure = figure or Figure(figsize=(4.2 * len(qs), 3.2))
    figure.clear()
    axes = figure.subplots(1, len(qs), squeeze=False)[0]
    for ax, (name, q) in zip(axes, qs.items(), strict=True):
        plot_densities(ax, q, p, z_range)
        ax.set_title(f"q = {name} against p = N(0, 1)", fontsize=10)
    figure.tight_layout()
    return figure


def per_dimension_kl_figure(kl_per_dim: Tensor, mc_per_dim: Tensor | None = None,
                            figure: Figure | None = None) -> Figure:
    """Per-dimension KL terms ``(latent_dim,)``: closed form (bars) and one sample's (dots)."""
    figure = figure or Figure(figsize=(9, 3.2))
    figure.clear()
    ax = figure.subplots()
    dims = torch.arange(len(kl_per_dim)).numpy()
    ax.bar(dims, kl_per_dim.detach().cpu().numpy(), width=1.0, color="tab:green", alpha=0.6,
           label="closed form per dimension")
    if mc_per_dim is not None:
        ax.plot(dims, mc_per_dim.detach().cpu().numpy(), ".", color="black", ms=3,
                label="one sample: log q(z_d) - log p(z_d)")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("latent dimension d")
    ax.set_ylabel("KL term (nats)")
    ax.set_title(f"{len(kl_per_dim)} per-dimension terms; KL(q || p) is their SUM = "
                 f"{kl_per_dim.sum().item():.1f} nats", fontsize=10)
    ax.legend(loc="upper right", fontsize=7)
    figure.tight_layout()
    return figure


def plot_spread(ax, batch_sizes: Sequence[int], spread: Sequence[float], bias: Sequence[float],
                bias_noise: Sequence[float], labels: tuple[str, str]) -> None:
    """Spread and |bias| against batch size (log-log), a 1/sqrt(batch) line and the bias' noise level.

    ``bias_noise``: how large a measured |bias| can be from the finite number of repeats alone.
    """
    sizes = torch.tensor(batch_sizes, dtype=torch.float64)
    scaled = torch.tensor(spread, dtype=torch.float64) * sizes.sqrt()  # constant if spread ∝ 1/√batch
    ax.plot(sizes, scaled.log().mean().exp() / sizes.sqrt(), "--", color="gray", label="∝ 1/√batch")
    ax.plot(sizes, spread, "o-", color="tab:red", label=labels[0])
    ax.plot(sizes, [abs(b) for b in bias], "s", color="tab:blue", ms=4, label=labels[1])
    ax.plot(sizes, bias_noise, ":", color="tab:blue", label="noise level of the measured bias")
    ax.set_xscale("log")
    ax.set_xticks(batch_sizes[::2], [str(b) for b in batch_sizes[::2]])
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel("batch size (one z per example)")
    ax.legend(fontsize=7)


def batch_study_figure(study: BatchStudy, figure: Figure | None = None) -> Figure:
    """Lesson 1's batch-size study: the KL estimate (left) and its gradient (right)."""
    figure = figure or Figure(figsize=(11, 3.8))
    figure.clear()
    left, right = figure.subplots(1, 2)
    plot_spread(left, study.batch_sizes, study.kl_std, study.kl_bias, [2 * e for e in study.kl_bias_error],
                ("std of the batch-mean MC KL", "|bias| = |mean - closed form|"))
    left.set_ylabel("nats")
    left.set_title(f"batch-mean MC KL (closed form {study.analytic_kl:.1f} nats):\n"
                   "spread falls as 1/√batch, |bias| stays at its noise level", fontsize=9)
    noise = [e / math.sqrt(study.repeats) for e in study.grad_error]  # |mean of R noisy gradients - exact|
    plot_spread(right, study.batch_sizes, study.grad_error, study.grad_bias, noise,
                ("typical |g - g_exact| / |g_exact|", "|mean g - g_exact| / |g_exact|"))
    right.set_ylabel("relative to the exact gradient's norm")
    right.set_title("its gradient w.r.t. q's parameters:\nthe same 1/√batch, and much larger relative errors",
                    fontsize=9)
    figure.tight_layout()
    return figure


# --- Lesson 3 ---


def mosaic(images: Tensor, ncols: int, gap: int = 1) -> Tensor:
    """Images ``(N, 3, H, W)`` (uint8 or float) -> one white-gapped picture ``(rows·H, cols·W, 3)``.

    One ``imshow`` of a mosaic draws much faster than one axes per image (live figures).
    """
    pixels = as_display_images(images)  # (N, H, W, 3)
    n, h, w, _ = pixels.shape
    nrows = math.ceil(n / ncols)
    canvas = torch.ones(nrows * (h + gap) - gap, ncols * (w + gap) - gap, 3)
    for i, picture in enumerate(pixels):
        top, left = (i // ncols) * (h + gap), (i % ncols) * (w + gap)
        canvas[top:top + h, left:left + w] = picture
    return canvas


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


def plot_q_and_p(ax, q: Normal, p: Normal, z_range: tuple[float, float]) -> None:
    """Densities of 1-D ``q`` and ``p``; the grid is refined around q, which may be very narrow."""
    z = torch.linspace(*z_range, 200)
    z = torch.cat([z, q.mean + q.stddev * torch.linspace(-4.0, 4.0, 80)]).sort().values
    for distribution, colour, label in ((p, "tab:blue", "p(z_d) = N(0, 1): prior"),
                                        (q, "tab:orange", "q(z_d | x): posterior")):
        density = distribution.log_prob(z).exp()
        ax.plot(z, density, color=colour, label=label)
        ax.fill_between(z, density, alpha=0.2, color=colour)
    ax.set_xlim(*z_range)
    ax.set_xlabel("z_d")
    ax.set_ylabel("density")
    ax.legend(loc="upper right", fontsize=8)


def posterior_through_training(track: PosteriorTrack, record: int, image: int, dim: int,
                               figure: Figure | None = None) -> Figure:
    """q(z_d|x) against p(z_d) for one tracked image and latent dimension (lesson 3's widget).

    Left: the image. Middle: both densities after epoch ``track.epochs[record]`` and their
    KL. Right: that KL at every recorded epoch, for this image and averaged over all.
    """
    kl = track.kl()[:, :, dim]  # (records, n): KL of dimension dim
    locs = torch.stack(track.locs)[:, image, dim]  # (records,)
    scales = torch.stack(track.scales)[:, image, dim]
    prior = Normal(torch.tensor(0.0), torch.tensor(1.0))
    z_range = z_range_of(prior, *[Normal(loc, scale) for loc, scale in zip(locs, scales, strict=True)])
    figure = figure or Figure(figsize=(11, 3.2))
    figure.clear()
    image_ax, density_ax, kl_ax = figure.subplots(1, 3, width_ratios=(1, 3, 2))
    image_ax.imshow(as_display_images(track.images[image:image + 1])[0].numpy(), interpolation="nearest")
    image_ax.set_title(f"image {image}", fontsize=10)
    image_ax.axis("off")
    plot_q_and_p(density_ax, Normal(locs[record], scales[record]), prior, z_range)
    density_ax.set_title(f"z[{dim}] after epoch {track.epochs[record]}: "
                         f"KL(q || p) = {kl[record, image]:.2f} nats", fontsize=10)
    kl_ax.plot(track.epochs, kl[:, image], marker="o", ms=3, label=f"image {image}")
    kl_ax.plot(track.epochs, kl.mean(dim=1), "--", color="gray", label="mean of tracked images")
    kl_ax.axvline(track.epochs[record], color="tab:red", lw=1)
    kl_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    kl_ax.set_xlabel("epoch")
    kl_ax.set_ylabel(f"KL of z[{dim}] (nats)")
    kl_ax.set_title("this dimension's KL through training", fontsize=10)
    kl_ax.legend(fontsize=8)
    # Fixed margins instead of tight_layout, which would double the time of a widget redraw.
    figure.subplots_adjust(left=0.01, right=0.985, bottom=0.16, top=0.88, wspace=0.28)
    return figure


# --- Lesson 2 ---

SELECTED = "selected"  # gid of the vertical line that marks the chosen value in an explorer's figure


def plain_ticks(axis) -> None:
    """Label a log or symlog axis's major ticks as plain numbers (1000, not 10³) and hide minor labels.

    Plain labels skip matplotlib's math-text layout, which makes a widget's redraws markedly faster.
    """
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def image_mosaic(rows: Sequence[Tensor], pad: int = 1) -> Tensor:
    """Rows of images, each ``(N, 3, H, W)`` with the same N, as one ``(R*(H+pad), N*(W+pad), 3)`` picture.

    One picture drawn with one ``imshow`` redraws far faster than a grid of small axes.
    White lines of ``pad`` pixels separate the images.
    """
    pictures = [as_display_images(row) for row in rows]  # each (N, H, W, 3)
    n, height, width, _ = pictures[0].shape
    mosaic = torch.ones(len(pictures) * (height + pad), n * (width + pad), 3)
    for r, picture in enumerate(pictures):
        if picture.shape != pictures[0].shape:
            raise ValueError(f"every row needs {tuple(pictures[0].shape)} images, "
                             f"row {r} has {tuple(picture.shape)}")
        for i in range(n):
            top, left = r * (height + pad), i * (width + pad)
            mosaic[top:top + height, left:left + width] = picture[i]
    return mosaic


def plot_image_rows(ax, rows: Mapping[str, Tensor], title: str = "") -> None:
    """Named rows of images ``(N, 3, H, W)`` drawn as one labelled picture on ``ax``."""
    mosaic = image_mosaic(list(rows.values()))
    row_height = mosaic.shape[0] / len(rows)
    ax.imshow(mosaic.numpy(), interpolation="nearest")
    ax.set_yticks([(r + 0.5) * row_height for r in range(len(rows))], list(rows), fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)


def image_rows_figure(rows: Mapping[str, Tensor], title: str, figure: Figure | None = None) -> Figure:
    """Named rows of images ``(N, 3, H, W)`` (same N) as one labelled picture (lesson 2)."""
    n = len(next(iter(rows.values())))
    figure = figure or Figure(figsize=(0.9 * n + 1.5, 0.9 * len(rows) + 0.6))
    figure.clear()
    plot_image_rows(figure.subplots(), rows, title)
    figure.tight_layout()
    return figure


def plot_sigma_curves(ax, sigmas: Tensor, recon: Tensor, elbo: Tensor, sigma: float,
                      best_sigma: float) -> None:
    """Reconstruction term and ELBO (nats per image) against a fixed decoder's σ (log axis)."""
    ax.plot(sigmas, recon, color="tab:blue", label="log p(x|z): reconstruction")
    ax.plot(sigmas, elbo, color="tab:purple", ls="--", label="ELBO = recon - KL")
    ax.axvline(best_sigma, color="tab:green", ls=":", label=f"RMS error = {best_sigma:.3f}")
    ax.axvline(sigma, color="black", lw=1, label="σ chosen", gid=SELECTED)
    ax.set_xscale("log")
    plain_ticks(ax.xaxis)
    # Below the peak the curve falls like -1/σ²: show the peak and the large-σ end, clip the plunge.
    top = recon.max().item()
    span = top - min(recon[-1].item(), elbo[-1].item())
    ax.set_ylim(top - 1.6 * span, top + 0.15 * span)
    ax.set_xlabel("σ of p(x|z) (log scale)")
    ax.set_ylabel("nats per image")
    ax.legend(loc="lower right", fontsize=7)


def sigma_figure(sigmas: Tensor, recon: Tensor, elbo: Tensor, sigma: float, best_sigma: float,
                 rows: Mapping[str, Tensor], figure: Figure | None = None) -> Figure:
    """Lesson 2's σ explorer: the terms against σ (left) and images with samples of p(x|z) (right).

    Args:
        sigmas: ``(m,)`` grid of σ; recon, elbo: ``(m,)`` mean nats per image on that grid.
        sigma: the σ chosen now; best_sigma: the RMS error, where recon peaks.
        rows: named rows of images ``(N, 3, H, W)`` (the data, x_hat, a sample of p(x|z)).
    """
    figure = figure or Figure(figsize=(11, 3.4))
    figure.clear()
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.4))
    plot_sigma_curves(left, sigmas, recon, elbo, sigma, best_sigma)
    left.set_title("fixed decoder: the likelihood peaks at σ = RMS error", fontsize=10)
    plot_image_rows(right, rows, sigma_images_title(sigma))
    figure.tight_layout()
    return figure


def sigma_images_title(sigma: float) -> str:
    return f"what p(x|z) says about the image at σ = {sigma:.3f}"


def move_selected(ax, x_value: float) -> None:
    """Move the line marked ``SELECTED`` on ``ax`` to ``x_value``."""
    for line in ax.lines:
        if line.get_gid() == SELECTED:
            line.set_xdata([x_value, x_value])


def replace_image_rows(ax, rows: Mapping[str, Tensor], title: str) -> None:
    """Swap the pictures drawn by ``plot_image_rows`` for new ones of the same size, and the title."""
    ax.images[0].set_data(image_mosaic(list(rows.values())).numpy())
    ax.set_title(title, fontsize=10)


def update_sigma_figure(figure: Figure, sigma: float, rows: Mapping[str, Tensor]) -> None:
    """Redraw a ``sigma_figure`` for a new σ in place: move the marker, swap the images.

    Only what changes is touched (no new axes, ticks or layout), so a widget redraws fast.
    """
    curves, pictures = figure.axes
    move_selected(curves, sigma)
    replace_image_rows(pictures, rows, sigma_images_title(sigma))


def scale_comparison_figure(histories: Mapping[str, History], rows: Mapping[str, Tensor],
                            figure: Figure | None = None) -> Figure:
    """Lesson 2's decoder scales: training ELBO per epoch (left), reconstructions (right).

    Args:
        histories: model name -> its ``History``; rows: named rows of images ``(N, 3, H, W)``.
    """
    figure = figure or Figure(figsize=(11, 3.4))
    figure.clear()
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.4))
    for name, history in histories.items():
        left.plot(range(1, history.epochs + 1), history.train["elbo"], marker="o", label=name)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("epoch")
    left.set_ylabel("training ELBO (nats per image)")
    left.set_title("ELBO while training: higher is better", fontsize=10)
    left.legend(fontsize=8)
    plot_image_rows(right, rows, "data, then each model's x_hat (mean of p(x|z))")
    figure.tight_layout()
    return figure


def sigma_summary(log_scale: Tensor) -> str:
    """A learned σ in a few numbers: the value, the three channels' values, or the range over pixels."""
    sigma = log_scale.detach().cpu().exp()
    if sigma.numel() == 1:
        return f"{sigma.item():.3f}"
    if sigma.numel() == 3:
        return " ".join(f"{c} {v:.3f}" for c, v in zip("RGB", sigma.flatten().tolist(), strict=True))
    return f"{sigma.min().item():.3f} to {sigma.max().item():.3f}"


def scale_maps_figure(log_scales: Mapping[str, Tensor], figure: Figure | None = None) -> Figure:
    """Each model's learned σ at every pixel (averaged over R, G, B), on one shared colour scale.

    Args:
        log_scales: name -> ``VAE.log_scale`` (``()``, ``(3, 1, 1)`` or ``(3, 32, 32)``).
    """
    figure = figure or Figure(figsize=(3.3 * len(log_scales) + 0.8, 3.2))
    figure.clear()
    axes = figure.subplots(1, len(log_scales), squeeze=False)[0]
    maps = {name: log_scale.detach().cpu().exp().expand(3, 32, 32).mean(dim=0)  # (32, 32) σ per pixel
            for name, log_scale in log_scales.items()}
    low = min(m.min().item() for m in maps.values())
    high = max(m.max().item() for m in maps.values())
    for ax, (name, sigma_map) in zip(axes, maps.items(), strict=True):
        image = ax.imshow(sigma_map.numpy(), vmin=low, vmax=high, cmap="viridis")
        ax.set_title(f"{name}: {sigma_summary(log_scales[name])}", fontsize=9)
        ax.set_xlabel("pixel column")
    axes[0].set_ylabel("pixel row")
    figure.colorbar(image, ax=list(axes), label="learned σ (mean over R, G, B)")
    figure.suptitle("where each model expects its reconstructions to be wrong (bright = unsure)", fontsize=10)
    return figure


def plot_sweep_terms(kl_ax, recon_ax, betas: Sequence[float], kls: Sequence[float], recons: Sequence[float],
                     units: Sequence[int], selected: int) -> None:
    """KL and active units (left axes) and reconstruction (right axes) against β, the chosen β marked."""
    units_ax = kl_ax.twinx()
    units_ax.step(betas, units, where="mid", color="tab:orange", alpha=0.7, label="active units")
    units_ax.set_ylabel("active units", color="tab:orange")
    units_ax.set_ylim(-0.5, max(max(units), 1) + 0.5)
    units_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    kl_ax.plot(betas, kls, "o-", color="tab:red", label="KL(q || p)")
    kl_ax.set_yscale("symlog", linthresh=1.0)  # KL can reach 0: symlog keeps it on the axes
    plain_ticks(kl_ax.yaxis)
    kl_ax.set_ylabel("KL (nats per image)", color="tab:red")
    recon_ax.plot(betas, recons, "o-", color="tab:blue")
    recon_ax.set_ylabel("log p(x|z) (nats per image)", color="tab:blue")
    for ax in (kl_ax, recon_ax):
        ax.set_xscale("log")
        plain_ticks(ax.xaxis)
        ax.set_xlabel("β (weight of the KL term)")
        ax.axvline(betas[selected], color="black", lw=1, gid=SELECTED)
    kl_ax.set_title("the price of the code, and how many units carry it", fontsize=9)
    recon_ax.set_title("reconstruction: what the code buys", fontsize=9)


def beta_sweep_figure(betas: Sequence[float], kls: Sequence[float], recons: Sequence[float],
                      units: Sequence[int], selected: int, rows: Mapping[str, Tensor],
                      figure: Figure | None = None) -> Figure:
    """Lesson 2's β explorer: KL, active units and reconstruction against β; the chosen β's images.

    Args:
        betas, kls, recons, units: one entry per trained β (held-out nats per image, active units).
        selected: index of the β whose images ``rows`` shows (named rows of ``(N, 3, H, W)``).
    """
    figure = figure or Figure(figsize=(13, 3.4))
    figure.clear()
    kl_ax, recon_ax, image_ax = figure.subplots(1, 3, width_ratios=(1, 1, 1.6))
    plot_sweep_terms(kl_ax, recon_ax, betas, kls, recons, units, selected)
    plot_image_rows(image_ax, rows, sweep_images_title(betas[selected], units[selected]))
    figure.tight_layout()
    return figure


def sweep_images_title(beta: float, units: int) -> str:
    return f"β = {beta:g}: {units} active units"


def update_beta_sweep_figure(figure: Figure, beta: float, units: int, rows: Mapping[str, Tensor]) -> None:
    """Redraw a ``beta_sweep_figure`` for another β in place: move the markers, swap the images."""
    kl_ax, recon_ax, image_ax = figure.axes[:3]  # the fourth axes is kl_ax's twin (active units)
    move_selected(kl_ax, beta)
    move_selected(recon_ax, beta)
    replace_image_rows(image_ax, rows, sweep_images_title(beta, units))


def bits_per_dim_ladder(rows: Sequence[tuple[str, float]], ours: Mapping[str, float] | None = None,
                        figure: Figure | None = None) -> Figure:
    """Negative log-likelihoods in bits/dim as horizontal bars, lowest (best) at the top.

    Args:
        rows: (model, bits/dim) pairs, e.g. the CIFAR-10 literature table.
        ours: (label -> bits/dim) of our own models, drawn in orange.
    """
    entries = [(name, value, "tab:blue") for name, value in rows]
    entries += [(name, value, "tab:orange") for name, value in (ours or {}).items()]
    entries.sort(key=lambda entry: entry[1])
    figure = figure or Figure(figsize=(8, 0.35 * len(entries) + 1.2))
    figure.clear()
    ax = figure.subplots()
    positions = range(len(entries))
    ax.barh(positions, [value for _, value, _ in entries], color=[colour for _, _, colour in entries])
    for y, (_, value, _) in zip(positions, entries, strict=True):
        ax.text(value + 0.05, y, f"{value:.2f}", va="center", fontsize=8)
    ax.set_yticks(list(positions), [name for name, _, _ in entries], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(8.0, color="gray", ls="--", lw=1)
    ax.set_xlim(0, max(9.0, max(value for _, value, _ in entries) + 1))
    ax.set_xlabel("negative log-likelihood (bits per dimension): lower is better")
    ax.set_title("where models sit; the dashed line is a uniform model (8 bits/dim)", fontsize=10)
    figure.tight_layout()
    return figure


# --- Lesson 4 ---


def kl_per_dimension_bars(kl: Tensor, active: Tensor | None = None, figure: Figure | None = None) -> Figure:
    """Per-dimension KL ``(latent_dim,)`` sorted largest first, and its cumulative share (lesson 4).

    Args:
        kl: KL(q(z_d|x) || p(z_d)) averaged over images, nats.
        active: ``(latent_dim,)`` booleans; active dimensions are drawn orange, others grey.
    """
    kl = kl.detach().cpu()
    order = torch.argsort(kl, descending=True)
    active = torch.ones_like(kl, dtype=torch.bool) if active is None else active.cpu()
    figure = figure or Figure(figsize=(11, 3.4))
    figure.clear()
    bars_ax, share_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    ranks = torch.arange(1, len(kl) + 1).numpy()
    colours = ["tab:orange" if a else "tab:gray" for a in active[order].tolist()]
    bars_ax.bar(ranks, kl[order].clamp_min(1e-4).numpy(), width=1.0, color=colours)
    bars_ax.set_yscale("log")
    bars_ax.set_xlabel("latent dimensions, sorted by KL (rank)")
    bars_ax.set_ylabel("mean KL per dimension (nats, log scale)")
    resting = "; the grey ones sit on the prior" if not active.all() else ""
    bars_ax.set_title(f"{int(active.sum())} of {len(kl)} dimensions are active (orange){resting}",
                      fontsize=10)
    share = torch.cumsum(kl[order], 0) / kl.sum()
    needed = int((share < 0.9).sum()) + 1  # fewest dimensions that reach 90 % of the KL
    share_ax.plot(ranks, share.numpy(), color="tab:blue")
    share_ax.axhline(0.9, color="gray", ls=":", lw=1)
    share_ax.axvline(needed, color="gray", ls=":", lw=1)
    share_ax.set_xscale("log")
    share_ax.set_xlabel("number of dimensions (most used first)")
    share_ax.set_ylabel("share of the total KL")
    share_ax.set_title(f"{needed} of {len(kl)} dimensions carry 90 % of the KL", fontsize=10)
    figure.tight_layout()
    return figure


def path_norms_figure(norms: Mapping[str, Tensor], band: tuple[float, float],
                      figure: Figure | None = None) -> Figure:
    """Norm ``||z_t||`` along interpolation paths against t, with the prior's typical band (lesson 4).

    Args:
        norms: path name -> ``(pairs, steps)`` norms of many paths; the median is drawn
            with the 5-95 % range shaded.
        band: ``(low, high)``: the central 99 % of ``||z||`` for z drawn from the prior.
    """
    figure = figure or Figure(figsize=(6.5, 3.4))
    figure.clear()
    ax = figure.subplots()
    ax.axhspan(*band, color="tab:green", alpha=0.15, label="where 99 % of prior samples lie")
    for name, values in norms.items():
        t = torch.linspace(0, 1, values.shape[1]).numpy()
        low, middle, high = torch.quantile(values.float(), torch.tensor([0.05, 0.5, 0.95]), dim=0)
        ax.plot(t, middle.numpy(), marker=".", label=name)
        ax.fill_between(t, low.numpy(), high.numpy(), alpha=0.2)
    ax.set_xlabel("position t along the path (0 = first image, 1 = second)")
    ax.set_ylabel("norm of z")
    ax.set_title("the straight line leaves the shell where the prior's samples live", fontsize=10)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def factor_heatmap(tables: Mapping[str, Tensor], factor_names: Sequence[str], dims: Sequence[int],
                   figure: Figure | None = None) -> Figure:
    """Scores in [0, 1] between factors (rows) and latent dimensions (columns), one panel per table.

    Args:
        tables: panel title -> ``(len(factor_names), len(dims))`` scores, e.g. correlation
            and normalised mutual information (lesson 4).
        dims: the latent dimensions the columns show (their indices label the columns).
    """
    figure = figure or Figure(figsize=(0.55 * len(dims) * len(tables) + 3, 0.45 * len(factor_names) + 1.6),
                              layout="constrained")
    figure.clear()
    axes = figure.subplots(1, len(tables), squeeze=False)[0]
    for ax, (title, table) in zip(axes, tables.items(), strict=True):
        image = ax.imshow(table.detach().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        for (row, column), value in zip(torch.cartesian_prod(torch.arange(table.shape[0]),
                                                             torch.arange(table.shape[1])).tolist(),
                                        table.flatten().tolist(), strict=True):
            ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if value > 0.5 else "white")
        ax.set_xticks(range(len(dims)), [str(d) for d in dims], fontsize=7)
        ax.set_yticks(range(len(factor_names)), list(factor_names))
        ax.set_xlabel("latent dimension (most used first)")
        ax.set_title(title, fontsize=10)
    figure.colorbar(image, ax=list(axes), shrink=0.8)
    return figure


def iwae_curve_figure(ks: Sequence[int], bits: Tensor, figure: Figure | None = None) -> Figure:
    """Importance-weighted bound in bits/dim against the number of samples k (log axis, lesson 4)."""
    figure = figure or Figure(figsize=(6.5, 3.4))
    figure.clear()
    ax = figure.subplots()
    bits = torch.as_tensor(bits).detach().cpu()
    ax.plot(list(ks), bits.numpy(), marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ks), [str(k) for k in ks])
    ax.set_xlabel("k: importance samples per image (k = 1 is the ELBO)")
    ax.set_ylabel("bound on -log p(x) (bits/dim)")
    ax.set_title(f"the bound tightens with k: {bits[0]:.3f} -> {bits[-1]:.3f} bits/dim "
                 "(lower is better)", fontsize=10)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def projection_scatter(points: Tensor, colour_by: Tensor, explained: Tensor, colour_name: str,
                       categories: Sequence[str] | None = None, cyclic: bool = False,
                       figure: Figure | None = None) -> Figure:
    """Posterior means projected to 2-D ``(N, 2)``, each point coloured by a label or a factor (lesson 4).

    Args:
        colour_by: ``(N,)`` class indices (with ``categories``, their names) or values.
        explained: ``(2,)`` share of the variance each axis explains.
        cyclic: colour values with a cyclic map (hue: 0 and 1 are the same colour).
    """
    points, colour_by = points.detach().cpu(), colour_by.detach().cpu()
    figure = figure or Figure(figsize=(6.5, 5))
    figure.clear()
    ax = figure.subplots()
    if categories is not None:
        for index, name in enumerate(categories):
            chosen = colour_by == index
            ax.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.7, label=name)
        ax.legend(fontsize=7, markerscale=2, loc="best")
    else:
        dots = ax.scatter(points[:, 0], points[:, 1], c=colour_by.numpy(), s=6, alpha=0.8,
                          cmap="hsv" if cyclic else "viridis")
        figure.colorbar(dots, ax=ax, label=colour_name)
    ax.set_xlabel(f"first principal component ({100 * explained[0]:.0f} % of the variance)")
    ax.set_ylabel(f"second principal component ({100 * explained[1]:.0f} % of the variance)")
    ax.set_title(f"posterior means in 2-D, coloured by {colour_name}", fontsize=10)
    figure.tight_layout()
    return figure


def latent_explorer_figure(images: Mapping[str, Tensor], figure: Figure | None = None) -> Figure:
    """The latent explorer's picture (lesson 4): labelled images ``(3, 32, 32)`` side by side.

    One ``imshow`` and fixed margins (no ``tight_layout``) keep a redraw cheap: about
    40 ms of CPU for the figure and its PNG.
    """
    figure = figure or Figure(figsize=(6, 2.4))
    figure.clear()
    ax = figure.add_axes((0.02, 0.14, 0.96, 0.74))
    mosaic = image_mosaic([torch.stack(list(images.values()))])  # (33, 33 n, 3): one row, 1-pixel gaps
    ax.imshow(mosaic.numpy(), interpolation="nearest")
    ax.set_xticks([33 * i + 16 for i in range(len(images))], list(images), fontsize=8)
    ax.set_yticks([])
    ax.set_title("what the decoder makes of z: compare the last two", fontsize=10)
    return figure
