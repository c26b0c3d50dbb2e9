"""Lesson 4's figures: KL per dimension, path norms, factor scores, the IWAE curve, projections.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure
from torch import Tensor

from vae_tutorial.lessons.shared.figures import mosaic


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
    pictures = mosaic(torch.stack(list(images.values())), ncols=len(images))  # (32, 33 n - 1, 3)
    ax.imshow(pictures.numpy(), interpolation="nearest")
    ax.set_xticks([33 * i + 16 for i in range(len(images))], list(images), fontsize=8)
    ax.set_yticks([])
    ax.set_title("what the decoder makes of z: compare the last two", fontsize=10)
    return figure
