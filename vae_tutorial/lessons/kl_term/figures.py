"""Lesson 1's figures: the KL estimate, moving q onto p, KL per dimension, the batch-size study.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.distributions import Distribution, Normal, kl_divergence

from vae_tutorial.lessons.kl_term.experiments import BatchStudy
from vae_tutorial.lessons.shared.figures import (
    density_curve,
    density_grid,
    plot_densities,
    ranges_hold,
    widen,
    z_range_of,
)


@dataclass(frozen=True)
class KLView:
    """The axes limits of lesson 1's KL explorer figure."""

    z_range: tuple[float, float]  # the z axis of both panels
    density_top: float  # upper limit of the densities (top panel)
    ratio_range: tuple[float, float]  # limits of log q(z) - log p(z) (bottom panel)

    def holds(self, wanted: KLView) -> bool:
        """True while the explorer may keep this view for ``wanted`` (see ``ranges_hold``)."""
        return ranges_hold([self.z_range, (0.0, self.density_top), self.ratio_range],
                           [wanted.z_range, (0.0, wanted.density_top), wanted.ratio_range])


def kl_view(q: Distribution, p: Distribution, log_ratio: Tensor, estimate: float, exact: float,
            margin: float = 0.0) -> KLView:
    """Limits that show q, p, the log-ratios of the samples and both KL values, plus ``margin``
    (a share of each axis added on both sides: room for the next moves of a slider)."""
    z_range = widen(*z_range_of(q, p), margin)
    peak = max(density_curve(d, d.mean.reshape(1)).item() for d in (q, p))  # the modes of the Normals
    values = torch.cat([log_ratio, torch.tensor([exact, estimate])])
    low, high = values.min().item(), values.max().item()
    pad = 0.15 * (high - low) + 0.5
    return KLView(z_range, 1.1 * peak * (1 + 2 * margin), widen(low - pad, high + pad, margin))


def plot_log_ratio(ax, q: Distribution, p: Distribution, z_range: tuple[float, float], samples: Tensor,
                   log_ratio: Tensor, estimate: float, standard_error: float, exact: float) -> None:
    """The curve log q(z) - log p(z), its value at the samples, the MC average and the closed form."""
    z = torch.linspace(*z_range, 400)
    ax.plot(z, q.log_prob(z) - p.log_prob(z), color="gray", lw=1, label="log q(z) - log p(z)",
            gid="log ratio")
    ax.plot(samples, log_ratio, ".", color="black", ms=4, alpha=0.6, label="at the samples",
            gid="at samples")
    ax.axhline(estimate, color="tab:red", label="Monte-Carlo average", gid="estimate")
    ax.axhspan(0.0, 1.0, color="tab:red", alpha=0.2, gid="standard error")  # placed by show_standard_error
    show_standard_error(ax, estimate, standard_error)
    ax.axhline(exact, color="tab:green", ls="--", label="closed-form KL", gid="exact")
    ax.set_xlim(*z_range)
    ax.set_xlabel("z")
    ax.set_ylabel("log q(z) - log p(z)  (nats)")
    # Below the axes, where no curve can run over it (the explorer draws the curves last).
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), fontsize=8, ncol=4, frameon=False)


def show_standard_error(ax, estimate: float, standard_error: float) -> None:
    """Place the band estimate ± standard error drawn by ``plot_log_ratio`` (hidden when undefined)."""
    (band,) = ax.findobj(lambda artist: artist.get_gid() == "standard error")
    band.set_visible(math.isfinite(standard_error))
    if math.isfinite(standard_error):
        band.set_y(estimate - standard_error)
        band.set_height(2 * standard_error)


def estimate_title(estimate: float, standard_error: float, exact: float) -> str:
    se_text = f" ± {standard_error:.3f}" if math.isfinite(standard_error) else ""
    return f"average of the dots = MC KL {estimate:.3f}{se_text} nats; closed form {exact:.3f}"


# What update_kl_estimate_figure moves: the curves, the samples, the KL lines, the bottom title.
# They are "animated": an explorer draws them on top of a kept render of everything else,
# legends included (widgets.explorer.BlitRenderer), so the legends sit outside the axes.
MOVING = ("p", "q", "p fill", "q fill", "samples", "log ratio", "at samples", "estimate",
          "standard error", "exact", "estimate title")


def kl_estimate_figure(q: Distribution, p: Distribution, samples: Tensor, log_ratio: Tensor,
                       estimate: float, standard_error: float, exact: float,
                       figure: Figure | None = None, view: KLView | None = None) -> Figure:
    """Lesson 1's KL explorer: densities and samples (top), per-sample log-ratio and its average (bottom).

    Args:
        q, p: 1-D distributions; samples: ``(n,)`` draws from q; log_ratio: ``(n,)`` their
        log q - log p; estimate, standard_error: the Monte-Carlo KL; exact: the closed form.
        view: the axes limits; default ``kl_view``, just wide enough.
    ``update_kl_estimate_figure`` moves everything but the axes for new q, p and samples.
    """
    view = view or kl_view(q, p, log_ratio, estimate, exact)
    figure = figure or Figure(figsize=(7, 5.6))
    figure.clear()
    top, bottom = figure.subplots(2, 1, sharex=True)
    plot_densities(top, q, p, view.z_range, samples)
    names = ("p", "q", "samples", "p fill", "q fill")
    for artist, gid in zip([*top.lines, *top.collections], names, strict=True):
        artist.set_gid(gid)
    top.set_ylim(0.0, view.density_top)
    top.set_xlabel("")
    top.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=9, ncol=3, frameon=False)
    plot_log_ratio(bottom, q, p, view.z_range, samples, log_ratio, estimate, standard_error, exact)
    bottom.set_ylim(*view.ratio_range)
    bottom.set_title(estimate_title(estimate, standard_error, exact), fontsize=10, gid="estimate title")
    for artist in figure.findobj(lambda artist: artist.get_gid() in MOVING):
        artist.set_animated(True)
    # Fixed margins: tight_layout would measure every label again on each widget redraw.
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.15, top=0.94, hspace=0.22)
    return figure


def update_kl_estimate_figure(figure: Figure, q: Distribution, p: Distribution, samples: Tensor,
                              log_ratio: Tensor, estimate: float, standard_error: float,
                              exact: float) -> None:
    """Redraw a ``kl_estimate_figure`` for new q, p and samples in place, keeping its axes."""
    top, bottom = figure.axes
    artists = {artist.get_gid(): artist for artist in figure.findobj(lambda a: a.get_gid() in MOVING)}
    z_range = top.get_xlim()
    z, z_fine = torch.linspace(*z_range, 400), density_grid(q, z_range)  # as plot_log_ratio, plot_densities
    for name, distribution in (("p", p), ("q", q)):
        density = density_curve(distribution, z_fine)
        artists[name].set_data(z_fine, density)
        artists[f"{name} fill"].set_data(z_fine, density, 0)
    artists["samples"].set_data(samples, torch.zeros_like(samples))
    artists["log ratio"].set_data(z, q.log_prob(z) - p.log_prob(z))
    artists["at samples"].set_data(samples, log_ratio)
    artists["estimate"].set_ydata([estimate, estimate])
    artists["exact"].set_ydata([exact, exact])
    show_standard_error(bottom, estimate, standard_error)
    artists["estimate title"].set_text(estimate_title(estimate, standard_error, exact))


def kl_landscape(p: Distribution, locs: Tensor, scales: Tensor) -> Tensor:
    """Closed-form KL(N(loc, scale) || p) on a grid: ``locs (m,)``, ``scales (s,)`` -> ``(s, m)``."""
    grid_loc, grid_scale = torch.meshgrid(locs, scales, indexing="xy")  # (s, m) each
    return kl_divergence(Normal(grid_loc, grid_scale), p)


FADED = 5  # earlier qs drawn faded in the descent figure


@dataclass(frozen=True)
class DescentView:
    """The axes limits of lesson 1's descent figure that follow the descent."""

    z_range: tuple[float, float]  # the densities' z axis (left)
    density_top: float  # the densities' upper limit (left)
    last_step: float  # the right end of the KL-per-step axis (right)
    kl_range: tuple[float, float]  # the KL-per-step axis (right)

    def holds(self, wanted: DescentView) -> bool:
        """True while the explorer may keep this view for ``wanted`` (see ``ranges_hold``)."""
        return ranges_hold([self.z_range, (0.0, self.density_top), (0.0, self.last_step), self.kl_range],
                           [wanted.z_range, (0.0, wanted.density_top), (0.0, wanted.last_step),
                            wanted.kl_range])


def shown_qs(locs: Sequence[float], scales: Sequence[float]) -> list[Normal]:
    """Up to ``FADED + 1`` visited qs, evenly spread from the start to the current one (last)."""
    shown = sorted(set(torch.linspace(0, len(locs) - 1, FADED + 1).round().long().tolist()))
    return [Normal(locs[i], scales[i]) for i in shown]


def descent_view(locs: Sequence[float], scales: Sequence[float], mc_kls: Sequence[float],
                 exact_kls: Sequence[float], p: Normal, margin: float = 0.0) -> DescentView:
    """Limits that show the descent so far; ``margin`` adds room for the steps to come: the
    upper limits of the densities, the steps and the KL grow by ``1 + 2·margin``. The z axis
    needs none: it only widens (to at most ±15) when q travels far."""
    z_range = (min(-5.0, max(-15.0, min(locs) - 3.0)), max(5.0, min(15.0, max(locs) + 3.0)))
    modes = [density_curve(d, d.mean.reshape(1)).item() for d in (p, *shown_qs(locs, scales))]
    peak = max(mode for mode in modes if math.isfinite(mode))  # a diverged q has no finite density
    kls = [kl for kl in (*mc_kls, *exact_kls) if math.isfinite(kl)]
    low, high = min(0.0, *kls), max(1.0, *kls)
    room = 1 + 2 * margin
    return DescentView(z_range, 1.1 * peak * room, max(len(locs) - 1, 5) * room,
                       (room * low, 1.1 * room * high))


def plot_descent_path(ax, p: Normal) -> None:
    """Contours of KL(q || p) in q's (mean, std) plane, std on a log axis, and where p sits.

    The path of q and its start and end are empty lines here, filled by ``update_descent_figure``.
    """
    grid_locs, grid_scales = torch.linspace(-6, 6, 121), torch.logspace(-1.7, 1.3, 121)
    ax.contour(grid_locs, grid_scales, kl_landscape(p, grid_locs, grid_scales), levels=[0.1, 1, 10],
               colors="gray", linewidths=[0.6, 1.0, 1.4])
    ax.plot([], [], "-", color="tab:orange", lw=1, gid="path")
    ax.plot([], [], "o", color="black", ms=5, gid="start")
    ax.plot([], [], "o", color="tab:orange", ms=6, gid="q now")
    ax.plot(float(p.mean), float(p.stddev), "*", color="tab:blue", ms=12, gid="p star")  # over q's path
    ax.set_yscale("log")
    # Plain tick labels: the default 10^x labels are typeset, which slows every redraw.
    ax.set_yticks([0.03, 0.1, 0.3, 1, 3, 10], ["0.03", "0.1", "0.3", "1", "3", "10"])
    ax.minorticks_off()
    ax.set_xlim(-6, 6)
    ax.set_ylim(0.02, 20)
    ax.set_xlabel("mean of q")
    ax.set_ylabel("std of q (log scale)")
    ax.set_title("path of q (black: start, star: p)\ncontours: KL(q || p) = 0.1, 1, 10 nats", fontsize=9)


def plot_kl_per_step(ax) -> None:
    """Axes for the closed-form KL of every visited q (line) and each step's Monte-Carlo KL (dots)."""
    ax.plot([], [], color="tab:green", gid="exact KLs")
    ax.plot([], [], ".", color="tab:red", ms=3, alpha=0.5, gid="MC KLs")
    ax.set_xlabel("step")
    ax.set_ylabel("KL(q || p)  (nats)")
    ax.set_title("KL(q || p) per step, should fall to 0\nline: closed form, dots: the step's MC estimate",
                 fontsize=9)


# What update_descent_figure moves; an explorer redraws only these (widgets.explorer.BlitRenderer).
DESCENT_PARTS = ("q", "q fill", "densities legend", "densities title", "path", "start", "q now", "p star",
                 "exact KLs", "MC KLs", *(f"q then {i}" for i in range(FADED)))


def descent_figure(locs: Sequence[float], scales: Sequence[float], mc_kls: Sequence[float],
                   exact_kls: Sequence[float], p: Normal, figure: Figure | None = None,
                   view: DescentView | None = None) -> Figure:
    """Lesson 1's "move q toward p": q's densities along the way, its path, and the KL per step.

    Args: the trajectory of a ``kl_lab.QDescent`` (``locs``, ``scales``: one entry per
    visited q; ``mc_kls``: one per step; ``exact_kls``: one per visited q), the target p,
    and the axes limits (default ``descent_view``, just wide enough).
    ``update_descent_figure`` redraws the descent in the same axes as it goes on.
    """
    view = view or descent_view(locs, scales, mc_kls, exact_kls, p)
    figure = figure or Figure(figsize=(12, 3.6))
    figure.clear()
    left, middle, right = figure.subplots(1, 3)
    for i in range(FADED):  # earlier qs, fainter the earlier
        left.plot([], [], color="tab:orange", alpha=0.15 + 0.1 * i, lw=1, gid=f"q then {i}")
    plot_densities(left, Normal(locs[-1], scales[-1]), p, view.z_range)
    parts = {"q": left.lines[-1], "q fill": left.collections[-1], "densities legend": left.get_legend(),
             "densities title": left.set_title("", fontsize=10)}
    for gid, artist in parts.items():
        artist.set_gid(gid)
    left.set_ylim(0.0, view.density_top)
    plot_descent_path(middle, p)
    plot_kl_per_step(right)
    right.set_xlim(0, view.last_step)
    right.set_ylim(*view.kl_range)
    for artist in figure.findobj(lambda artist: artist.get_gid() in DESCENT_PARTS):
        artist.set_animated(True)
    update_descent_figure(figure, locs, scales, mc_kls, exact_kls)
    figure.subplots_adjust(left=0.05, right=0.99, bottom=0.14, top=0.87, wspace=0.3)  # fixed: fast redraws
    return figure


def update_descent_figure(figure: Figure, locs: Sequence[float], scales: Sequence[float],
                          mc_kls: Sequence[float], exact_kls: Sequence[float]) -> None:
    """Draw the descent so far into a ``descent_figure``, keeping its axes."""
    parts = {artist.get_gid(): artist for artist in figure.findobj(lambda a: a.get_gid() in DESCENT_PARTS)}
    *earlier, q = shown_qs(locs, scales)
    z_range = figure.axes[0].get_xlim()
    z = torch.linspace(*z_range, 400)
    for i in range(FADED):  # the oldest q in the faintest line
        parts[f"q then {i}"].set_data(*((z, density_curve(earlier[i], z)) if i < len(earlier) else ([], [])))
    z = density_grid(q, z_range)
    parts["q"].set_data(z, density_curve(q, z))
    parts["q fill"].set_data(z, density_curve(q, z), 0)
    parts["densities title"].set_text(f"step {len(locs) - 1}: q (faded: earlier q) and p")
    parts["path"].set_data(locs, scales)
    parts["start"].set_data(locs[:1], scales[:1])
    parts["q now"].set_data(locs[-1:], scales[-1:])
    parts["exact KLs"].set_data(range(len(exact_kls)), exact_kls)
    parts["MC KLs"].set_data(range(len(mc_kls)), mc_kls)


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
