"""Lesson 2's figures: the σ explorer, the decoder scales, the β sweep, bits/dim.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from vae_tutorial.history import History
from vae_tutorial.lessons.shared.figures import image_mosaic, plain_ticks, plot_image_rows

SELECTED = "selected"  # gid of the vertical line that marks the chosen value in an explorer's figure


def plot_sigma_curves(ax, sigmas: Tensor, recon: Tensor, elbo: Tensor, sigma: float,
                      best_sigma: float, scale_name: str = "σ") -> None:
    """Reconstruction term and ELBO (nats per image) against a fixed decoder's scale (log axis)."""
    ax.plot(sigmas, recon, color="tab:blue", label="log p(x|z): reconstruction")
    ax.plot(sigmas, elbo, color="tab:purple", ls="--", label="ELBO = recon - KL")
    best = "RMS error" if scale_name == "σ" else f"best {scale_name}"
    ax.axvline(best_sigma, color="tab:green", ls=":", label=f"{best} = {best_sigma:.3f}")
    ax.axvline(sigma, color="black", lw=1, label=f"{scale_name} chosen", gid=SELECTED)
    ax.set_xscale("log")
    plain_ticks(ax.xaxis)
    # Below the peak the curve falls like -1/σ²: show the peak and the large-σ end, clip the plunge.
    top = recon.max().item()
    span = top - min(recon[-1].item(), elbo[-1].item())
    ax.set_ylim(top - 1.6 * span, top + 0.15 * span)
    ax.set_xlabel(f"{scale_name} of p(x|z) (log scale)")
    ax.set_ylabel("nats per image")
    # Outside the axes: the explorer redraws the σ line over everything inside them.
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


def sigma_figure(sigmas: Tensor, recon: Tensor, elbo: Tensor, sigma: float, best_sigma: float,
                 rows: Mapping[str, Tensor], figure: Figure | None = None, scale_name: str = "σ") -> Figure:
    """Lesson 2's σ explorer: the terms against σ (left) and images with samples of p(x|z) (right).

    Args:
        sigmas: ``(m,)`` grid of σ; recon, elbo: ``(m,)`` mean nats per image on that grid.
        sigma: the σ chosen now; best_sigma: the RMS error, where recon peaks.
        rows: named rows of images ``(N, 3, H, W)`` (the data, x_hat, a sample of p(x|z)).
        scale_name: "σ" (a Gaussian) or "s" (a discretised logistic).
    """
    figure = figure or Figure(figsize=(11, 3.4))
    figure.clear()
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.4))
    plot_sigma_curves(left, sigmas, recon, elbo, sigma, best_sigma, scale_name)
    peak = "σ = RMS error" if scale_name == "σ" else f"the best {scale_name}"
    left.set_title(f"fixed decoder: the likelihood peaks at {peak}", fontsize=10)
    plot_image_rows(right, rows, sigma_images_title(sigma))
    figure.tight_layout()
    animate_moving_parts(right, left)
    return figure


def sigma_images_title(sigma: float) -> str:
    return f"what p(x|z) says about the image at scale {sigma:.3f}"


def animate_moving_parts(image_ax, *marker_axes) -> None:
    """Mark what an explorer's in-place update changes as ``animated``: the pictures, their
    title and the ``SELECTED`` marker lines. The explorer then redraws only these (blitting,
    see ``widgets.explorer.BlitRenderer``); a saved or displayed figure still shows them."""
    moving = [image_ax.images[0], image_ax.title]
    moving += [line for ax in marker_axes for line in ax.lines if line.get_gid() == SELECTED]
    for artist in moving:
        artist.set_animated(True)


def move_selected(ax, x_value: float) -> None:
    """Move the line marked ``SELECTED`` on ``ax`` to ``x_value``."""
    for line in ax.lines:
        if line.get_gid() == SELECTED:
            line.set_xdata([x_value, x_value])


def replace_image_rows(ax, rows: Mapping[str, Tensor], title: str) -> None:
    """Swap the pictures drawn by ``plot_image_rows`` for new ones of the same size, and the title."""
    ax.images[0].set_data(image_mosaic(list(rows.values())).numpy())
    ax.title.set_text(title)  # not ax.set_title: it would make the whole figure stale


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
    animate_moving_parts(image_ax, kl_ax, recon_ax)
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
