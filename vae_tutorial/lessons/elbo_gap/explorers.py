"""Lesson 5's widget: slide q(z) and watch log p(x) split into the ELBO and the gap KL(q ‖ p(z|x)).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.distributions import Normal

from vae_tutorial.lessons.elbo_gap import figures as plots
from vae_tutorial.lessons.elbo_gap.ppca import PPCA
from vae_tutorial.lessons.shared.explorer import Explorer
from vae_tutorial.lessons.shared.figures import density_curve

MEAN_SLIDER = {"min": -4.0, "max": 4.0, "step": 0.02}  # an arrow key moves q by a pixel or two
# q's std slides on a base-2 log scale; 1 (the prior's) is an exact grid point.
STD_SLIDER = {"base": 2, "min": -6.0, "max": 1.5, "step": 0.05}  # 0.016 ... 2.8


class ElboGapExplorer(Explorer):
    """Lesson 5: q(z) = N(mean, std²) for one point x of a 1-d pPCA; the ELBO, the gap and log p(x).

    Sliders "q mean" and "q std" (start: the prior, N(0, 1)); buttons "q = p(z|x)" and
    "q = p(z)" put q on the true posterior or the prior. The left panel stacks the ELBO and
    the gap KL(q ‖ p(z|x)) up to log p(x); the right one draws q over p(z|x) and p(z).
    Readouts (``values``): "log p(x)", "ELBO", "gap KL(q ‖ p(z|x))", "ELBO + gap", "KL(q ‖ p(z))".
    In a browser the sliders round a value to their step and send it back, so there the
    "q = p(z|x)" button leaves a gap of a few thousandths of a nat; from Python it is exact.
    """

    def __init__(self, model: PPCA, x: Tensor):
        self.model, self.x = model, x.reshape(1, -1).double()  # (1, D)
        self.log_px = float(model.log_evidence(self.x))
        self.posterior = model.posterior(self.x)
        controls = {"q mean": widgets.FloatSlider(value=0.0, **MEAN_SLIDER, description="q mean"),
                    "q std": widgets.FloatLogSlider(value=1.0, **STD_SLIDER, description="q std")}
        buttons = {"q = p(z|x)": widgets.Button(description="q = p(z|x)"),
                   "q = p(z)": widgets.Button(description="q = p(z)")}
        post = Normal(self.posterior.mean.reshape(()), self.posterior.stddev.reshape(()))
        self.z = torch.linspace(MEAN_SLIDER["min"] - 0.5, MEAN_SLIDER["max"] + 0.5, 1601).double()
        super().__init__(controls, plots.gap_explorer_figure(self.log_px, post, Normal(0.0, 1.0), self.z,
                                                                   Figure(figsize=(8.5, 3.2))),
                         buttons, title="<b>log p(x) = ELBO(q) + KL(q ‖ p(z|x)): move q, watch the split</b>")
        buttons["q = p(z|x)"].on_click(lambda _: self.set_q(float(post.loc), float(post.scale)))
        buttons["q = p(z)"].on_click(lambda _: self.set_q(0.0, 1.0))

    def set_q(self, mean: float, std: float) -> None:
        """Put q at N(mean, std²) (the sliders move there) and redraw once."""
        self.set_values({"q mean": mean, "q std": std})

    def q(self) -> tuple[Tensor, Tensor]:
        """q's mean and std as the sliders set them, each ``(1, 1)`` (one point, one latent dimension)."""
        return (torch.tensor([[self.controls["q mean"].value]], dtype=torch.float64),
                torch.tensor([[self.controls["q std"].value]], dtype=torch.float64))

    def draw(self) -> dict:
        q_loc, q_scale = self.q()
        elbo = float(self.model.elbo(self.x, q_loc, q_scale))
        gap = float(self.model.gap(self.x, q_loc, q_scale))
        q_density = density_curve(Normal(q_loc.reshape(()), q_scale.reshape(())), self.z)
        plots.update_gap_explorer_figure(self.figure, self.log_px, elbo, q_density)
        prior_kl = float(torch.distributions.kl_divergence(Normal(q_loc, q_scale), Normal(0.0, 1.0)).sum())
        return {"log p(x)": self.log_px, "ELBO": elbo, "gap KL(q ‖ p(z|x))": gap,
                "ELBO + gap": elbo + gap, "KL(q ‖ p(z))": prior_kl}


def elbo_gap_explorer(model: PPCA, x: Tensor) -> ElboGapExplorer:
    """Lesson 5's widget for the point ``x (D,)`` of a pPCA ``model`` with a 1-d latent (``fit_ppca``)."""
    if not isinstance(model, PPCA) or model.latent_dim != 1:
        raise ValueError(f"model must be a PPCA with a 1-d latent, got {model!r:.80}")
    if x.numel() != model.W.shape[0]:
        raise ValueError(f"x must hold one point of {model.W.shape[0]} numbers, got shape {tuple(x.shape)}")
    return ElboGapExplorer(model, x)
