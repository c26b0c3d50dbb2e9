"""Figures every lesson uses.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Image grids and mosaics, labelled rows of images, densities of q and p, and the still axes
that let an explorer redraw only what moves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, StrMethodFormatter
from torch import Tensor
from torch.distributions import Distribution


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


def density_curve(distribution: Distribution, z: Tensor) -> Tensor:
    """Density of a 1-D distribution at the points ``z (n,)`` -> ``(n,)``."""
    return distribution.log_prob(z).exp()


def density_grid(q: Distribution, z_range: tuple[float, float]) -> Tensor:
    """Points ``(≤ 480,)`` in ``z_range`` to draw densities at: 400 evenly spaced, 80 more around q.

    q may be far narrower than the range (a posterior late in training): without the extra
    points its peak would fall between two grid points and look lower than it is.
    """
    z = torch.linspace(*z_range, 400)
    z = torch.cat([z, q.mean + q.stddev * torch.linspace(-4.0, 4.0, 80)]).sort().values
    return z[(z >= z_range[0]) & (z <= z_range[1])]


def plot_densities(ax, q: Distribution, p: Distribution, z_range: tuple[float, float] = (-5.0, 10.0),
                   samples: Tensor | None = None, variable: str = "z") -> None:
    """Draw the densities of 1-D ``q`` and ``p`` on ``ax``, with optional samples from q as ticks.

    ``variable`` names the axis and the legend: ``z``, or ``z_d`` for one dimension.
    """
    z = density_grid(q, z_range)  # (≤ 480,)
    for distribution, colour, label in ((p, "tab:blue", f"p({variable}): prior"),
                                        (q, "tab:orange", f"q({variable} | x): posterior")):
        density = density_curve(distribution, z)
        ax.plot(z, density, color=colour, label=label)
        ax.fill_between(z, density, alpha=0.2, color=colour)
    if samples is not None:
        ax.plot(samples, torch.zeros_like(samples), "|", color="black", markersize=12,
                label=f"samples {variable} ~ q")
    ax.set_xlim(*z_range)
    ax.set_xlabel(variable)
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


def z_range_of(*distributions: Distribution, widths: float = 4.0) -> tuple[float, float]:
    """A z interval holding ``widths`` standard deviations either side of every 1-D distribution."""
    lows = [float(d.mean - widths * d.stddev) for d in distributions]
    highs = [float(d.mean + widths * d.stddev) for d in distributions]
    return min(lows), max(highs)


def mosaic(images: Tensor, ncols: int, gap: int = 1) -> Tensor:
    """Images ``(N, 3, H, W)`` (uint8 or float) -> one picture ``(R·(H+gap) - gap, ncols·(W+gap) - gap, 3)``.

    Image i sits in row ``i // ncols``, column ``i % ncols``; white lines of ``gap`` pixels
    separate them. One ``imshow`` of a mosaic draws much faster than one axes per image,
    which keeps live figures and explorers quick.
    """
    pixels = as_display_images(images)  # (N, H, W, 3)
    n, h, w, _ = pixels.shape
    nrows = math.ceil(n / ncols)
    canvas = torch.ones(nrows * (h + gap) - gap, ncols * (w + gap) - gap, 3)
    for i, picture in enumerate(pixels):
        top, left = (i // ncols) * (h + gap), (i % ncols) * (w + gap)
        canvas[top:top + h, left:left + w] = picture
    return canvas


def image_mosaic(rows: Sequence[Tensor], gap: int = 1) -> Tensor:
    """Rows of images, each ``(N, 3, H, W)`` with the same N, as one mosaic: row r holds ``rows[r]``.

    Returns ``(R·(H+gap) - gap, N·(W+gap) - gap, 3)``, as ``mosaic`` does.
    """
    for r, row in enumerate(rows):
        if row.shape != rows[0].shape:
            raise ValueError(f"every row needs {tuple(rows[0].shape)} images, row {r} has {tuple(row.shape)}")
    return mosaic(torch.cat(list(rows)), ncols=len(rows[0]), gap=gap)


# --- still axes for explorers that redraw only what moves (lessons 1 and 3) ---


def widen(low: float, high: float, share: float) -> tuple[float, float]:
    """The interval ``[low, high]`` with ``share`` of its length added on each side."""
    return low - share * (high - low), high + share * (high - low)


def ranges_hold(shown: Sequence[tuple[float, float]], wanted: Sequence[tuple[float, float]],
                fill: float = 0.4) -> bool:
    """True when every ``wanted`` range lies inside its ``shown`` range and fills ``fill`` of it.

    An explorer keeps its axes limits while this holds, so the curves move inside still axes
    and only they are redrawn; when a curve leaves the view or shrinks to a corner of it, the
    figure is drawn anew with new limits.
    """
    return all(low <= wanted_low and wanted_high <= high and wanted_high - wanted_low >= fill * (high - low)
               for (low, high), (wanted_low, wanted_high) in zip(shown, wanted, strict=True))


def plain_ticks(axis) -> None:
    """Label a log or symlog axis's major ticks as plain numbers (1000, not 10³) and hide minor labels.

    Plain labels skip matplotlib's math-text layout, which makes a widget's redraws markedly faster.
    """
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def plot_image_rows(ax, rows: Mapping[str, Tensor], title: str = "") -> None:
    """Named rows of images ``(N, 3, H, W)`` drawn as one labelled picture on ``ax``."""
    mosaic = image_mosaic(list(rows.values()))
    row_height = (mosaic.shape[0] + 1) / len(rows)  # an image and its 1-pixel gap
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
