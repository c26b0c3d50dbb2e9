"""Lesson 5's figures: the gap explorer's two panels, the VAE's gaps, the IWAE curve, the aggregate posterior.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Every function returns a ``Figure``. The explorer's figure marks what moves as animated
(the two bars, the text on them, q's curve), so the explorer redraws only those
(``lessons.shared.explorer.BlitRenderer``); a new bar scale redraws it whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.distributions import Distribution

from vae_tutorial.lessons.shared.figures import density_curve

BAR_VIEWS = (2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 1e5, 1e6)
ELBO_COLOUR, GAP_COLOUR, Q_COLOUR = "tab:blue", "tab:red", "tab:green"


def bar_view(gap: float) -> float:
    """How many nats below log p(x) the bar panel shows: the smallest view holding the gap with room."""
    return next((view for view in BAR_VIEWS if 1.25 * gap <= view), BAR_VIEWS[-1])


def gap_explorer_figure(log_px: float, posterior: Distribution, prior: Distribution,
                        z: Tensor, figure: Figure | None = None) -> Figure:
    """The explorer's still parts: log p(x)'s line; p(z|x) and p(z) on the points ``z (n,)``.

    The moving parts (gids "elbo bar", "gap bar", "bar text", "q") are made here and set by
    ``update_gap_explorer_figure``.
    """
    figure = figure or Figure(figsize=(8.5, 3.2))
    figure.clear()
    bars, curves = figure.subplots(1, 2, width_ratios=(1, 3.2))
    bars.axhline(log_px, color="black", linestyle="--", linewidth=1)
    bars.set_xticks([])
    bars.set_ylabel("nats")
    bars.set_title("log p(x) = ELBO + gap", fontsize=10)
    for gid, colour, label in (("elbo bar", ELBO_COLOUR, "ELBO"),
                               ("gap bar", GAP_COLOUR, "gap = KL(q ‖ p(z|x))")):
        (bar,) = bars.bar([0.0], [0.0], width=0.6, color=colour, label=label)
        bar.set_gid(gid)
        bar.set_animated(True)
    text = bars.text(0.5, 0.03, "", ha="center", va="bottom", fontsize=8, color="white", weight="bold",
                     transform=bars.transAxes, gid="bar text")
    text.set_animated(True)
    bars.set_xlim(-0.6, 0.6)
    for distribution, colour, label in ((prior, "tab:blue", "p(z): prior"),
                                        (posterior, "tab:orange", "p(z|x): true posterior")):
        curves.plot(z, density_curve(distribution, z), color=colour, label=label, linewidth=3.5, alpha=0.7)
    (q_line,) = curves.plot(z, torch.zeros_like(z), color=Q_COLOUR, linewidth=2, label="q(z): yours", gid="q")
    q_line.set_animated(True)
    peak = float(density_curve(posterior, posterior.mean.reshape(1)).max())
    curves.set_ylim(0.0, 1.3 * peak)
    curves.set_xlim(float(z[0]), float(z[-1]))
    curves.set_xlabel("z")
    curves.set_ylabel("density")
    curves.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    figure.tight_layout()
    return figure


def update_gap_explorer_figure(figure: Figure, log_px: float, elbo: float, q_density: Tensor) -> None:
    """Move the bars to ``elbo`` and the gap up to ``log_px``; draw q's density (on the figure's points)."""
    bars, curves = figure.axes
    floor = log_px - bar_view(log_px - elbo)
    if bars.get_ylim() != (floor, log_px + 0.06 * (log_px - floor)):  # a new scale: the figure redraws whole
        bars.set_ylim(floor, log_px + 0.06 * (log_px - floor))
        figure.tight_layout()  # room for the new tick labels
    shown_elbo = max(elbo, floor)
    (elbo_bar,) = bars.findobj(lambda artist: artist.get_gid() == "elbo bar")
    (gap_bar,) = bars.findobj(lambda artist: artist.get_gid() == "gap bar")
    elbo_bar.set_y(floor)
    elbo_bar.set_height(shown_elbo - floor)
    gap_bar.set_y(shown_elbo)
    gap_bar.set_height(log_px - shown_elbo)
    (text,) = bars.findobj(lambda artist: artist.get_gid() == "bar text")
    text.set_text(f"ELBO {elbo:.2f}\ngap {log_px - elbo:.2f}")
    (q_line,) = curves.findobj(lambda artist: artist.get_gid() == "q")
    q_line.set_ydata(q_density)


def inference_gaps_figure(approximation: Tensor, amortisation: Tensor, dims: int,
                          figure: Figure | None = None) -> Figure:
    """Per image, the two gaps stacked (sorted by their sum), and their histograms, in nats and bits/dim.

    ``approximation``, ``amortisation``: ``(B,)`` nats; ``dims``: the data's dimension (3,072).
    """
    figure = figure or Figure(figsize=(10, 3.4))
    figure.clear()
    stacked, histogram = figure.subplots(1, 2, width_ratios=(1.6, 1))
    order = torch.argsort(approximation + amortisation, descending=True)
    index = torch.arange(len(order))
    stacked.bar(index, approximation[order], width=1.0, color="tab:purple", label="approximation gap")
    stacked.bar(index, amortisation[order], width=1.0, bottom=approximation[order], color="tab:olive",
                label="amortisation gap")
    stacked.set_xlabel("image (sorted by log p(x) - encoder's ELBO)")
    stacked.set_ylabel("nats")
    stacked.legend(fontsize=8)
    to_bits = 1.0 / (dims * torch.log(torch.tensor(2.0)).item())
    for values, colour, label in ((approximation, "tab:purple", "approximation"),
                                  (amortisation, "tab:olive", "amortisation")):
        histogram.hist((values * to_bits).numpy(), bins=20, alpha=0.6, color=colour, label=label)
    histogram.set_xlabel("gap in bits/dim")
    histogram.set_ylabel("images")
    histogram.legend(fontsize=8)
    figure.tight_layout()
    return figure


def iwae_closing_in_figure(ks: Sequence[int], bounds: Tensor, levels: Mapping[str, float],
                           figure: Figure | None = None) -> Figure:
    """The IWAE bound (mean nats per image) against k (log axis), with flat ``levels`` (name -> nats)."""
    figure = figure or Figure(figsize=(6, 3.4))
    figure.clear()
    ax = figure.subplots()
    ax.plot(list(ks), bounds.tolist(), "o-", color="black", label="IWAE bound, encoder's q, k samples")
    for (name, value), colour in zip(levels.items(), ("tab:olive", "tab:purple", "tab:red"), strict=False):
        ax.axhline(value, color=colour, linestyle="--", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (importance samples)")
    ax.set_ylabel("nats per image")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def aggregate_posterior_figure(z_aggregate: Tensor, z_prior: Tensor, dims: Sequence[int],
                               holes: Tensor, figure: Figure | None = None) -> Figure:
    """Histograms of ``z ~ q(z)`` on ``dims`` against N(0, 1), and both clouds on the first two dims.

    ``z_aggregate (N, L)``: one draw from each image's q(z|x); ``z_prior (M, L)``: draws from
    p(z); ``holes (H, L)``: prior draws where q(z) is thinnest, ringed on the scatter.
    """
    figure = figure or Figure(figsize=(3.0 * len(dims) + 3.6, 3.0))
    figure.clear()
    axes = figure.subplots(1, len(dims) + 1)
    grid = torch.linspace(-4, 4, 200)
    for ax, d in zip(axes, dims, strict=False):
        ax.hist(z_aggregate[:, d].numpy(), bins=40, range=(-4, 4), density=True, color="tab:orange",
                alpha=0.6, label="q(z_d): all images")
        ax.plot(grid, torch.distributions.Normal(0.0, 1.0).log_prob(grid).exp(), color="tab:blue",
                label="p(z_d) = N(0, 1)")
        ax.set_title(f"z[{d}]", fontsize=9)
    axes[0].legend(fontsize=7, loc="upper left")
    scatter = axes[-1]
    scatter.scatter(z_prior[:, dims[0]], z_prior[:, dims[1]], s=3, color="tab:blue", alpha=0.3, label="p(z)")
    scatter.scatter(z_aggregate[:, dims[0]], z_aggregate[:, dims[1]], s=3, color="tab:orange", alpha=0.5,
                    label="q(z)")
    scatter.scatter(holes[:, dims[0]], holes[:, dims[1]], s=40, facecolors="none", edgecolors="black",
                    label="holes")
    scatter.set_xlabel(f"z[{dims[0]}]")
    scatter.set_ylabel(f"z[{dims[1]}]")
    scatter.legend(fontsize=7, markerscale=2)
    figure.tight_layout()
    return figure
