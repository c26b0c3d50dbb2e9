"""Cures for posterior collapse, measured against the β sweep's own model (lesson 2).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Two options of the training step (``TrainConfig``):

- **KL warm-up** (Bowman et al. 2016, "KL cost annealing"): β grows linearly from 0 over the
  first ``kl_warmup_epochs``, so the reconstruction term shapes the code before the KL weighs
  on it. It changes the road, not the destination: the objective at the end is the same.
- **Free bits** (Kingma et al. 2016): a unit's KL below λ nats (its mean over the batch) costs
  nothing, so the objective itself no longer pays to switch a unit off completely.

Each cure trains the same small VAE at the same β and fixed σ as the sweep's point, and is
measured like it on held-out images (``balance.sweep_point``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from vae_tutorial.checks import check_positive_number
from vae_tutorial.data import to_unit_interval
from vae_tutorial.lessons.reconstruction_term.balance import SweepPoint, sweep_point
from vae_tutorial.lessons.reconstruction_term.explorers import sweep_images
from vae_tutorial.lessons.shared.figures import plot_image_rows
from vae_tutorial.train import TrainConfig

NO_CURE, WARMUP, FREE_BITS = "no cure", "KL warm-up", "free bits"
COLOURS = {NO_CURE: "tab:gray", WARMUP: "tab:blue", FREE_BITS: "tab:green"}


def cure_points(no_cure: SweepPoint, images: Tensor, test_images: Tensor, config: TrainConfig, *,
                warmup_epochs: float, free_bits: float, **train_options) -> dict[str, SweepPoint]:
    """Train the sweep point's model again with each cure; the point itself is the "no cure" entry.

    Args:
        no_cure: a point of ``beta_sweep`` (its β, σ and latent size are reused; it is not retrained).
        images, test_images: ``uint8 (N, 3, 32, 32)`` training and held-out images, as for the sweep.
        config: the sweep's training run, without a cure (its β is replaced by the point's).
        warmup_epochs: epochs over which KL warm-up grows β from 0; free_bits: λ, nats per unit.
        train_options: passed on to ``train_small_vae`` (seed, device, ...).
    Returns:
        ``{"no cure": no_cure, "KL warm-up": ..., "free bits": ...}``, each a ``SweepPoint``.
    """
    if not isinstance(no_cure, SweepPoint):
        raise TypeError(f"no_cure must be a SweepPoint of beta_sweep, got {type(no_cure).__name__}")
    check_positive_number(warmup_epochs, "warmup_epochs")
    check_positive_number(free_bits, "free_bits")
    if config.kl_warmup_epochs or config.free_bits:
        raise ValueError(f"config must be the sweep's run without a cure, got kl_warmup_epochs="
                         f"{config.kl_warmup_epochs}, free_bits={config.free_bits}")
    train_options.setdefault("latent_dim", no_cure.model.latent_dim)
    cured = {WARMUP: replace(config, kl_warmup_epochs=warmup_epochs),
             FREE_BITS: replace(config, free_bits=free_bits)}
    points = {NO_CURE: no_cure}
    for name, cure in cured.items():
        points[name] = sweep_point(no_cure.beta, no_cure.sigma, images, test_images, cure, **train_options)
    return points


def beta_objective(point: SweepPoint) -> float:
    """The held-out objective at the point's β, ``recon - β · KL`` (nats per image): what β asked for."""
    return point.recon - point.beta * point.kl


def cure_table(points: Mapping[str, SweepPoint]) -> str:
    """The cures as a Markdown table: active units, ELBO (β = 1), KL, reconstruction, β-weighted objective."""
    beta = next(iter(points.values())).beta
    lines = [f"| training (β = {beta:g}) | active units | ELBO (nats) | KL (nats) | recon (nats) "
             f"| recon − {beta:g}·KL (nats) |",
             "| :--- | ---: | ---: | ---: | ---: | ---: |"]
    for name, p in points.items():
        lines.append(f"| {name} | {p.active_units} / {p.model.latent_dim} | {p.elbo:.0f} | {p.kl:.2f} "
                     f"| {p.recon:.0f} | {beta_objective(p):.0f} |")
    return "\n".join(lines)


def plot_cure_bars(ax, names: list[str], values: list[float], label: str, title: str) -> None:
    """One bar per cure, labelled with its value."""
    bars = ax.bar(names, values, color=[COLOURS.get(name, "tab:purple") for name in names])
    ax.bar_label(bars, [f"{value:.0f}" for value in values], fontsize=8)
    ax.set_ylabel(label)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.margins(y=0.15)


def cures_figure(points: Mapping[str, SweepPoint], x: Tensor, seed: int = 0,
                 figure: Figure | None = None) -> Figure:
    """Active units and held-out ELBO per cure (bars), and each model's reconstructions and samples.

    Args:
        points: name -> ``SweepPoint`` (``cure_points``); x: ``uint8 (N, 3, 32, 32)`` images to reconstruct.
        seed: the z ~ p(z) of the samples, the same for every model.
    """
    figure = figure or Figure(figsize=(13, 0.55 * (1 + 2 * len(points)) + 1.6))
    figure.clear()
    units_ax, elbo_ax, image_ax = figure.subplots(1, 3, width_ratios=(0.8, 0.8, 1.6))
    names, values = list(points), list(points.values())
    plot_cure_bars(units_ax, names, [p.active_units for p in values], "active units",
                   "units that carry the image")
    units_ax.set_ylim(0, values[0].model.latent_dim + 1)
    units_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    plot_cure_bars(elbo_ax, names, [p.elbo for p in values], "held-out ELBO, β = 1 (nats per image)",
                   "the true bound: higher is better")
    x = to_unit_interval(x, dequantize=False)  # (N, 3, 32, 32) in [0, 1)
    rows = {"x: data": x}
    for name, point in points.items():
        images = sweep_images(point, x, len(x), seed)
        rows[f"{name}: x_hat"] = images["reconstruction"]
        rows[f"{name}: z ~ p(z)"] = images["samples z ~ p(z)"]
    plot_image_rows(image_ax, rows, f"β = {values[0].beta:g}: reconstructions and samples from the prior")
    figure.tight_layout()
    return figure
