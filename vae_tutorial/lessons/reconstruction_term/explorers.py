"""Lesson 2's widgets: the σ explorer and the β-sweep explorer.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from vae_tutorial.data import to_unit_interval
from vae_tutorial.lessons.reconstruction_term import figures as plots
from vae_tutorial.lessons.reconstruction_term.balance import SweepPoint
from vae_tutorial.lessons.reconstruction_term.families import draw_from_likelihood
from vae_tutorial.lessons.reconstruction_term.scales import optimal_log_scale
from vae_tutorial.lessons.shared.explorer import WIDE, Explorer
from vae_tutorial.likelihoods import log_likelihood

FAMILIES = {"Gaussian: σ": "scalar", "discretised logistic: s": "logistic"}  # the toggle's choices


class SigmaExplorer(Explorer):
    """Lesson 2: one fixed decoder, a scale slider: reconstruction term, ELBO and samples of p(x|z).

    A toggle switches p(x|z) between a Gaussian N(x_hat, σ²) and a discretised logistic of location
    x_hat and scale s (one scale for every value, both): the same decoder, two likelihoods.
    Args:
        x: ``(B, 3, 32, 32)`` images in [0, 1]; x_hat: ``(B, 3, 32, 32)`` the decoder's means
        for them; kl: ``(B,)`` their KL terms (nats; the scale does not change them).
        sigma: the starting scale (1.0 is our model's initial ``log_scale = 0``).
        sigma_range: the slider's ends; seed: the noise of the samples x ~ p(x|z).
    The "best scale" button moves the slider to the best scale for this decoder (for the Gaussian
    the RMS error; for the logistic the best on the grid). Readouts (``values``): "scale",
    "log p(x|z)", "ELBO", "best scale", "log p(x|z) at best scale".
    """

    def __init__(self, x: Tensor, x_hat: Tensor, kl: Tensor, sigma: float = 1.0,
                 sigma_range: tuple[float, float] = (0.01, 3.0), seed: int = 0):
        low, high = sigma_range
        if not 0 < low < sigma < high:
            raise ValueError(f"need 0 < sigma_range[0] < sigma < sigma_range[1], "
                             f"got sigma={sigma!r} and sigma_range={sigma_range!r}")
        self.x, self.x_hat = x.detach().cpu().float(), x_hat.detach().cpu().float()
        self.kl = kl.detach().cpu().float().mean().item()  # nats per image
        self.sigmas = torch.logspace(math.log10(low), math.log10(high), 200)  # (200,)
        self.curves = {family: torch.stack([self.recon(family, s.item()) for s in self.sigmas])
                       for family in FAMILIES.values()}  # (200,) each
        self.best = {"scalar": optimal_log_scale(self.x_hat, self.x).exp().item(),  # the RMS error
                     "logistic": self.sigmas[self.curves["logistic"].argmax()].item()}  # no closed form
        self.u = torch.rand(self.x.shape, generator=torch.Generator().manual_seed(seed)).clamp(1e-6, 1 - 1e-6)
        self.drawn_family = None
        slider = widgets.FloatLogSlider(value=sigma, base=10, min=math.log10(low), max=math.log10(high),
                                        step=0.01, description="scale of p(x|z)", style=WIDE)
        family = widgets.ToggleButtons(options=list(FAMILIES.items()), value="scalar", description="p(x|z)",
                                        style={"button_width": "auto"})  # labels uncut
        to_best = widgets.Button(description="best scale")
        super().__init__({"sigma": slider, "family": family}, Figure(figsize=(11, 3.4)),
                         buttons={"best": to_best},
                         title="<b>One decoder, many scales: the reconstruction term is a likelihood</b>")
        to_best.on_click(lambda _button: setattr(slider, "value", self.best[family.value]))

    def recon(self, family: str, scale: float) -> Tensor:
        """Mean log p(x|z) of the images for this family and scale, nats per image."""
        return log_likelihood(family, self.x_hat, torch.tensor(scale).log(), self.x).mean()

    def draw(self) -> dict:
        s, family = self.controls["sigma"].value, self.controls["family"].value
        sample = draw_from_likelihood(family, self.x_hat, torch.tensor(s).log(), uniforms=self.u)
        rows = {"x: data": self.x, "x_hat: location": self.x_hat, "x ~ p(x|z)": sample}
        curve, best = self.curves[family], self.best[family]
        if family != self.drawn_family:  # the curves change with the family only: draw them then
            plots.sigma_figure(self.sigmas, curve, curve - self.kl, s, best, rows, self.figure,
                               scale_name="σ" if family == "scalar" else "s")
            self.drawn_family = family
        else:
            plots.update_sigma_figure(self.figure, s, rows)
        recon = self.recon(family, s).item()
        return {"scale": s, "log p(x|z)": recon, "ELBO": recon - self.kl, "best scale": best,
                "log p(x|z) at best scale": self.recon(family, best).item()}


def sigma_explorer(x: Tensor, x_hat: Tensor, kl: Tensor, sigma: float = 1.0,
                   sigma_range: tuple[float, float] = (0.01, 3.0), seed: int = 0) -> SigmaExplorer:
    """Lesson 2's σ explorer (``SigmaExplorer``) for images ``x``, their means ``x_hat`` and KLs ``kl``."""
    return SigmaExplorer(x, x_hat, kl, sigma, sigma_range, seed)


@torch.no_grad()
def sweep_images(point: SweepPoint, x: Tensor, num_samples: int, seed: int) -> dict[str, Tensor]:
    """Images of one β: x, its reconstructions (decoded posterior means) and samples z ~ p(z)."""
    model = point.model
    device = model.prior_loc.device
    x_hat = model.decode(model.encode(x.to(device)).loc).clamp(0, 1).cpu()  # (N, 3, 32, 32)
    generator = torch.Generator(device=device).manual_seed(seed)
    samples = model.sample(num_samples, generator=generator).cpu()  # (num_samples, 3, 32, 32)
    return {"x: data": x, "reconstruction": x_hat, "samples z ~ p(z)": samples}


class BetaExplorer(Explorer):
    """Lesson 2: a β slider over a trained sweep: KL, reconstruction, active units and images.

    Args:
        points: ``balance.beta_sweep``'s results, in increasing β.
        images: ``uint8 (N, 3, 32, 32)`` held-out images to reconstruct (N about 8).
        seed: the z ~ p(z) of the samples, the same for every β.
    The images of every β are made once here, so moving the slider only redraws.
    Readouts (``values``): "β", "same optimum as σ", "KL (nats)", "log p(x|z) (nats)",
    "ELBO (nats)", "active units", "posterior collapse".
    """

    def __init__(self, points: Sequence[SweepPoint], images: Tensor, seed: int = 0):
        if len(points) == 0:
            raise ValueError("points must hold at least one SweepPoint, got none")
        self.points = list(points)
        x = to_unit_interval(images, dequantize=False)  # (N, 3, 32, 32)
        self.rows = [sweep_images(point, x, len(x), seed) for point in self.points]
        slider = widgets.SelectionSlider(options=[(f"{p.beta:g}", i) for i, p in enumerate(self.points)],
                                         value=0, description="β (KL weight)", style=WIDE)
        super().__init__({"beta": slider}, Figure(figsize=(13, 3.4)),
                         title="<b>The balance: β weighs the KL against the reconstruction</b>")

    def draw(self) -> dict:
        i = self.controls["beta"].value
        point, points = self.points[i], self.points
        if self.redraws == 0:  # the curves never change: draw them once, then update in place
            plots.beta_sweep_figure([p.beta for p in points], [p.kl for p in points],
                                    [p.recon for p in points], [p.active_units for p in points], i,
                                    self.rows[i], self.figure)
        else:
            plots.update_beta_sweep_figure(self.figure, point.beta, point.active_units, self.rows[i])
        return {"β": point.beta, "same optimum as σ": point.equivalent_sigma, "KL (nats)": point.kl,
                "log p(x|z) (nats)": point.recon, "ELBO (nats)": point.elbo,
                "active units": f"{point.active_units} of {point.model.latent_dim}",
                "posterior collapse": "yes" if point.collapsed else "no"}


def beta_explorer(points: Sequence[SweepPoint], images: Tensor, seed: int = 0) -> BetaExplorer:
    """Lesson 2's β explorer (``BetaExplorer``) over a trained sweep and held-out ``images``."""
    return BetaExplorer(points, images, seed)
