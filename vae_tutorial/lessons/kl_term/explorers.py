"""Lesson 1's widgets: the KL explorer and moving q onto p by gradient descent.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.distributions import Normal

from vae_tutorial.elbo import kl_analytic, kl_monte_carlo
from vae_tutorial.lessons.kl_term import figures as plots
from vae_tutorial.lessons.kl_term.experiments import DescentSettings, QDescent, mc_estimate
from vae_tutorial.lessons.shared.explorer import WIDE, Explorer

MAX_KL_SAMPLES = 1000  # most samples the KL explorer draws
# Standard deviations slide on a base-2 log scale: the defaults (4, 1, 0.25) are exact grid
# points, so the browser's slider does not round them and send a slightly different value back.
STD_SLIDER = {"base": 2, "min": -3.5, "max": 2.6, "step": 0.05}  # 0.09 ... 6.1
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.3, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
SAMPLES_PER_STEP = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def check_in_range(name: str, value: float, low: float, high: float) -> None:
    """Raise ``ValueError`` unless ``low <= value <= high`` (a slider would silently clip it)."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:.3g} and {high:.3g} (its slider's range), "
                         f"got {value!r}")


def standard_normal_noise(n: int, seed: int) -> Tensor:
    """``(n,)`` draws of eps ~ N(0, 1); z = mean + std * eps turns them into draws from any Normal."""
    return torch.randn(n, generator=torch.Generator().manual_seed(seed))


def kl_explorer_controls(q_loc: float, q_scale: float, num_samples: int) -> dict:
    """Sliders of the KL explorer: q's mean and std, p's (behind a toggle), the number of samples."""
    return {
        "q_loc": widgets.FloatSlider(value=q_loc, min=-5.0, max=8.0, step=0.1, description="q mean"),
        "q_scale": widgets.FloatLogSlider(value=q_scale, **STD_SLIDER, description="q std"),
        "move_p": widgets.ToggleButton(value=False, description="let p move too",
                                       tooltip="off: p is the prior N(0, 1)"),
        "p_loc": widgets.FloatSlider(value=0.0, min=-5.0, max=8.0, step=0.1, description="p mean"),
        "p_scale": widgets.FloatLogSlider(value=1.0, **STD_SLIDER, description="p std"),
        "num_samples": widgets.IntSlider(value=num_samples, min=1, max=MAX_KL_SAMPLES,
                                         description="samples z ~ q", style=WIDE),
    }


class KLExplorer(Explorer):
    """Lesson 1: the Monte-Carlo KL(q || p) of two 1-D Normals, next to the closed form.

    Draws ``z = mean + std * eps`` (the same ``eps`` until "resample" is pressed, so the
    samples slide with q), shows q, p, the samples, each sample's log q(z) - log p(z),
    their average with its standard error and ``kl_analytic(q, p)``. p is the prior
    N(0, 1) unless the "let p move too" toggle is on.
    Readouts (``values``): "MC estimate", "standard error", "closed-form KL", "samples", "p".
    """

    def __init__(self, q_loc: float = 2.0, q_scale: float = 4.0, num_samples: int = 100, seed: int = 0):
        check_in_range("q_loc", q_loc, -5.0, 8.0)
        check_in_range("q_scale", q_scale, 2 ** STD_SLIDER["min"], 2 ** STD_SLIDER["max"])
        check_in_range("num_samples", num_samples, 1, MAX_KL_SAMPLES)
        self.seed = seed
        self.eps = standard_normal_noise(MAX_KL_SAMPLES, seed)  # (MAX_KL_SAMPLES,)
        self.view: plots.KLView | None = None  # the axes limits, kept while the curves fit in them
        resample = widgets.Button(description="resample z ~ q")
        super().__init__(kl_explorer_controls(q_loc, q_scale, num_samples), Figure(figsize=(7, 5.6)),
                         buttons={"resample": resample},
                         title="<b>KL(q || p): Monte Carlo vs closed form</b>")
        resample.on_click(self.resample)

    def resample(self, _button=None) -> None:
        """New noise eps, so new samples z ~ q."""
        self.seed += 1
        self.eps = standard_normal_noise(MAX_KL_SAMPLES, self.seed)
        self.refresh()

    def distributions(self) -> tuple[Normal, Normal]:
        """q and p as the controls set them; p's sliders show only while p may move."""
        c = self.controls
        for name in ("p_loc", "p_scale"):
            c[name].layout.display = None if c["move_p"].value else "none"
        q = Normal(c["q_loc"].value, c["q_scale"].value)
        p = Normal(c["p_loc"].value, c["p_scale"].value) if c["move_p"].value else Normal(0.0, 1.0)
        return q, p

    def draw(self) -> dict:
        q, p = self.distributions()
        n = self.controls["num_samples"].value
        z = q.loc + q.scale * self.eps[:n]  # (n,) samples z ~ q
        log_ratio = kl_monte_carlo(z, q, p)  # (n,) log q(z) - log p(z), one term per sample
        estimate, standard_error = mc_estimate(log_ratio)
        exact = kl_analytic(q, p).item()
        drawn = (q, p, z, log_ratio, estimate, standard_error, exact)
        if self.view is not None and self.view.holds(plots.kl_view(q, p, log_ratio, estimate, exact)):
            plots.update_kl_estimate_figure(self.figure, *drawn)  # same axes: move the curves
        else:  # new axes, with room for the next moves of the sliders
            self.view = plots.kl_view(q, p, log_ratio, estimate, exact, margin=0.15)
            plots.kl_estimate_figure(*drawn, figure=self.figure, view=self.view)
        prior = "" if self.controls["move_p"].value else ", the prior"
        return {"MC estimate": estimate,
                "standard error": standard_error if n > 1 else "n/a with one sample",
                "closed-form KL": exact, "samples": n,
                "p": f"N({p.loc.item():.2g}, {p.scale.item():.2g}²){prior}"}


def kl_explorer(q_loc: float = 2.0, q_scale: float = 4.0, num_samples: int = 100,
                seed: int = 0) -> KLExplorer:
    """Lesson 1's KL explorer (``KLExplorer``): q = N(q_loc, q_scale²), ``num_samples`` samples."""
    return KLExplorer(q_loc, q_scale, num_samples, seed)


def move_q_controls(start: DescentSettings, max_steps: int) -> dict:
    """Controls of the "move q toward p" explorer: learning rate, samples per step, q's start, play."""
    return {
        # Discrete choices: exact values, and the ones worth comparing.
        "lr": widgets.SelectionSlider(options=sorted({*LEARNING_RATES, start.lr}), value=start.lr,
                                      description="learning rate", style=WIDE),
        "samples_per_step": widgets.SelectionSlider(
            options=sorted({*SAMPLES_PER_STEP, start.samples_per_step}), value=start.samples_per_step,
            description="samples per step", style=WIDE),
        "start_loc": widgets.FloatSlider(value=start.loc, min=-5.0, max=5.0, step=0.1,
                                         description="start: q mean", style=WIDE),
        "start_scale": widgets.FloatLogSlider(value=start.scale, base=2, min=-5, max=2.5, step=0.05,
                                              description="start: q std", style=WIDE),  # 0.03 ... 5.7
        # A clock: every tick (value + 1) is one gradient step.
        "play": widgets.Play(value=0, min=0, max=max_steps, interval=200, description="play"),
    }


def descent_status(descent: QDescent) -> str:
    """A word on how the descent is going, for the readout."""
    if descent.diverged_at is not None:
        return f"diverged at step {descent.diverged_at}: the learning rate is too large"
    if descent.exact_kls[-1] < 0.01:
        return "q is on p (KL < 0.01 nats)"
    return "moving"


class DescentExplorer(Explorer):
    """Lesson 1: gradient descent on the Monte-Carlo KL(q || p) moves q = N(mean, std) onto p = N(0, 1).

    "step" takes one step, the play control one step per tick (up to ``max_steps`` per
    play), "restart" goes back to the start, "new noise" restarts with fresh samples.
    Changing a slider restarts from the start with the new settings.
    Readouts (``values``): "step", "q mean", "q std", "KL(q || p)", "status".
    """

    def __init__(self, start: DescentSettings | None = None, max_steps: int = 500):
        self.start = start or DescentSettings()
        check_in_range("start loc", self.start.loc, -5.0, 5.0)
        check_in_range("start scale", self.start.scale, 2**-5, 2**2.5)
        self.descent = QDescent(self.start)
        self.seed, self.tick = self.start.seed, 0
        self.view: plots.DescentView | None = None  # the figure's axes limits, kept while the descent fits
        buttons = {name: widgets.Button(description=name) for name in ("step", "restart", "new noise")}
        super().__init__(move_q_controls(self.start, max_steps), Figure(figsize=(12, 3.6)), buttons=buttons,
                         title="<b>Move q toward p: gradient descent on the Monte-Carlo KL</b>")
        buttons["step"].on_click(self.step)
        buttons["restart"].on_click(self.restart)
        buttons["new noise"].on_click(self.new_noise)

    def settings(self) -> DescentSettings:
        """The descent the controls ask for."""
        c = self.controls
        return DescentSettings(loc=c["start_loc"].value, scale=c["start_scale"].value, lr=c["lr"].value,
                               samples_per_step=c["samples_per_step"].value, seed=self.seed,
                               p_loc=self.start.p_loc, p_scale=self.start.p_scale)

    def step(self, _button=None) -> None:
        self.descent.step()
        self.refresh()

    def restart(self, _button=None) -> None:
        self.descent = QDescent(self.descent.settings)
        self.refresh()

    def new_noise(self, _button=None) -> None:
        self.seed += 1
        self.refresh()  # the seed is part of the settings: draw starts a new descent

    def draw(self) -> dict:
        if self.settings() != self.descent.settings:  # new settings: start again
            self.descent = QDescent(self.settings())
        descent, play = self.descent, self.controls["play"]
        descent.run_until(descent.steps + max(play.value - self.tick, 0))  # one step per tick
        self.tick = play.value
        if descent.diverged_at is not None:
            play.playing = False
        trajectory = (descent.locs, descent.scales, descent.mc_kls, descent.exact_kls)
        if self.view is not None and self.view.holds(plots.descent_view(*trajectory, descent.p)):
            plots.update_descent_figure(self.figure, *trajectory)  # same axes: draw the new steps
        else:  # new axes, with room for the steps to come
            self.view = plots.descent_view(*trajectory, descent.p, margin=0.25)
            plots.descent_figure(*trajectory, descent.p, self.figure, self.view)
        return {"step": descent.steps, "q mean": descent.locs[-1], "q std": descent.scales[-1],
                "KL(q || p)": descent.exact_kls[-1], "status": descent_status(descent)}


def move_q_explorer(start: DescentSettings | None = None, max_steps: int = 500) -> DescentExplorer:
    """Lesson 1's "move q toward p" explorer (``DescentExplorer``)."""
    return DescentExplorer(start, max_steps)
