"""Lesson 2's widgets: the σ explorer and the β-sweep explorer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from vae_tutorial import plots
from vae_tutorial.balance import SweepPoint
from vae_tutorial.data import to_unit_interval
from vae_tutorial.elbo import gaussian_log_likelihood
from vae_tutorial.scales import optimal_log_scale
from vae_tutorial.widgets.explorer import WIDE, Explorer


def sigma_explorer(x: Tensor, x_hat: Tensor, kl: Tensor, sigma: float = 1.0,
                   sigma_range: tuple[float, float] = (0.01, 3.0), seed: int = 0) -> Explorer:
    """Lesson 2: one fixed decoder, a σ slider: reconstruction term, ELBO and samples of p(x|z).

    Args:
        x: ``(B, 3, 32, 32)`` images in [0, 1]; x_hat: ``(B, 3, 32, 32)`` the decoder's means
        for them; kl: ``(B,)`` their KL terms (nats; σ does not change them).
        sigma: the starting σ (1.0 is the article's initial ``log_scale = 0``).
        sigma_range: the slider's ends; seed: the noise of the samples x ~ N(x_hat, σ²).
    The "σ = RMS error" button moves the slider to the best σ for this decoder.
    Readouts (``explorer.values``): "σ", "log p(x|z)", "ELBO", "best σ (RMS error)",
    "log p(x|z) at best σ".
    """
    low, high = sigma_range
    if not 0 < low < sigma < high:
        raise ValueError(f"need 0 < sigma_range[0] < sigma < sigma_range[1], "
                         f"got sigma={sigma!r} and sigma_range={sigma_range!r}")
    x, x_hat, kl = x.detach().cpu().float(), x_hat.detach().cpu().float(), kl.detach().cpu().float()
    sigmas = torch.logspace(math.log10(low), math.log10(high), 200)  # (200,)
    recon_curve = torch.stack([gaussian_log_likelihood(x_hat, s.log(), x).mean() for s in sigmas])  # (200,)
    best_log_scale = optimal_log_scale(x_hat, x)  # log RMS error
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))  # fixed noise

    def draw(explorer: Explorer) -> dict:
        s = explorer.controls["sigma"].value
        recon = gaussian_log_likelihood(x_hat, torch.tensor(s).log(), x).mean().item()
        rows = {"x: data": x, "x_hat: mean": x_hat, "x ~ p(x|z)": x_hat + s * eps}
        if explorer.redraws == 0:  # the curves never change: draw them once, then update in place
            plots.sigma_figure(sigmas, recon_curve, recon_curve - kl.mean(), s, best_log_scale.exp().item(),
                               rows, explorer.figure)
        else:
            plots.update_sigma_figure(explorer.figure, s, rows)
        best = gaussian_log_likelihood(x_hat, best_log_scale, x).mean().item()
        return {"σ": s, "log p(x|z)": recon, "ELBO": recon - kl.mean().item(),
                "best σ (RMS error)": best_log_scale.exp().item(), "log p(x|z) at best σ": best}

    slider = widgets.FloatLogSlider(value=sigma, base=10, min=math.log10(low), max=math.log10(high),
                                    step=0.01, description="σ of p(x|z)", style=WIDE)
    to_best = widgets.Button(description="σ = RMS error")
    explorer = Explorer({"sigma": slider}, draw, Figure(figsize=(11, 3.4)), buttons={"best": to_best},
                        title="<b>One decoder, many σ: the reconstruction term is a likelihood</b>")
    to_best.on_click(lambda _button: setattr(slider, "value", best_log_scale.exp().item()))
    return explorer


@torch.no_grad()
def sweep_images(point: SweepPoint, x: Tensor, num_samples: int, seed: int) -> dict[str, Tensor]:
    """Images of one β: x, its reconstructions (decoded posterior means) and samples z ~ p(z)."""
    model = point.model
    device = model.prior_loc.device
    x_hat = model.decode(model.encode(x.to(device)).loc).clamp(0, 1).cpu()  # (N, 3, 32, 32)
    generator = torch.Generator(device=device).manual_seed(seed)
    samples = model.sample(num_samples, generator=generator).cpu()  # (num_samples, 3, 32, 32)
    return {"x: data": x, "reconstruction": x_hat, "samples z ~ p(z)": samples}


def beta_explorer(points: Sequence[SweepPoint], images: Tensor, seed: int = 0) -> Explorer:
    """Lesson 2: a β slider over a trained sweep: KL, reconstruction, active units and images.

    Args:
        points: ``balance.beta_sweep``'s results, in increasing β.
        images: ``uint8 (N, 3, 32, 32)`` held-out images to reconstruct (N about 8).
        seed: the z ~ p(z) of the samples, the same for every β.
    The images of every β are made once here, so moving the slider only redraws.
    Readouts (``explorer.values``): "β", "same optimum as σ", "KL (nats)", "log p(x|z) (nats)",
    "ELBO (nats)", "active units", "posterior collapse".
    """
    if len(points) == 0:
        raise ValueError("points must hold at least one SweepPoint, got none")
    x = to_unit_interval(images, dequantize=False)  # (N, 3, 32, 32)
    rows = [sweep_images(point, x, len(x), seed) for point in points]
    betas = [point.beta for point in points]

    def draw(explorer: Explorer) -> dict:
        i = explorer.controls["beta"].value
        point = points[i]
        if explorer.redraws == 0:  # the curves never change: draw them once, then update in place
            plots.beta_sweep_figure(betas, [p.kl for p in points], [p.recon for p in points],
                                    [p.active_units for p in points], i, rows[i], explorer.figure)
        else:
            plots.update_beta_sweep_figure(explorer.figure, point.beta, point.active_units, rows[i])
        return {"β": point.beta, "same optimum as σ": point.equivalent_sigma, "KL (nats)": point.kl,
                "log p(x|z) (nats)": point.recon, "ELBO (nats)": point.elbo,
                "active units": f"{point.active_units} of {point.model.latent_dim}",
                "posterior collapse": "yes" if point.collapsed else "no"}

    slider = widgets.SelectionSlider(options=[(f"{beta:g}", i) for i, beta in enumerate(betas)], value=0,
                                     description="β (KL weight)", style=WIDE)
    return Explorer({"beta": slider}, draw, Figure(figsize=(13, 3.4)),
                    title="<b>The balance: β weighs the KL against the reconstruction</b>")
