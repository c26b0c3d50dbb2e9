"""ipywidgets explorers used by the lessons.

Every explorer is an ``Explorer``: it owns its controls (sliders, toggles, buttons),
its readouts (HTML labels with the numbers) and one ``matplotlib.figure.Figure`` that
it redraws and renders to PNG into an ``ipywidgets.Image`` (``explorer.output``). Tests
and notebooks drive it from Python: set ``explorer.controls["mu"].value = 2.0`` and read
``explorer.values`` / ``explorer.output.value``. Rendering to PNG (never ``plt.show()``)
keeps the figure visible in JupyterLab, Colab and VS Code alike.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.distributions import Normal

from vae_tutorial import plots
from vae_tutorial.balance import SweepPoint
from vae_tutorial.data import check_uint8_images, to_unit_interval
from vae_tutorial.elbo import gaussian_log_likelihood, kl_analytic, kl_monte_carlo, unwrap
from vae_tutorial.kl_lab import DescentSettings, QDescent, mc_estimate
from vae_tutorial.latent import encode_images
from vae_tutorial.scales import optimal_log_scale
from vae_tutorial.tracking import PosteriorTrack, decode_fixed


def figure_to_png(figure: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes (what an ``ipywidgets.Image`` shows)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def format_readout(name: str, value: object) -> str:
    """``name: value`` as HTML, numbers with four significant digits."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"<b>{name}</b>: {text}"


class Explorer:
    """Controls + readouts + a figure, redrawn whenever a control's value changes.

    Args:
        controls: name -> value widget (slider, toggle, dropdown ...), shown in order.
        draw: ``draw(explorer) -> dict`` reads ``explorer.controls``, draws on
            ``explorer.figure`` and returns the numbers to show as readouts.
        figure: the figure ``draw`` draws on (owned by this explorer).
        buttons: extra buttons shown with the controls (their callbacks are the caller's).
        title: HTML shown above the explorer.
    Attributes:
        controls, buttons, readouts (name -> ``ipywidgets.HTML``), output (the
        ``ipywidgets.Image`` holding the PNG), values (the last numbers), redraws (count),
        last_draw_seconds, widget (the whole box).
    """

    def __init__(self, controls: Mapping[str, widgets.ValueWidget], draw: Callable[[Explorer], dict],
                 figure: Figure, buttons: Mapping[str, widgets.Button] | None = None, title: str = ""):
        self.controls = dict(controls)
        self.buttons = dict(buttons or {})
        self.figure = figure
        self.draw_function = draw
        # flex-start: shown at the PNG's own size; a VBox would otherwise stretch it to the
        # page's width and blur it (seen in JupyterLab by tests/test_browser.py).
        self.output = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        self.readouts: dict[str, widgets.HTML] = {}
        self.readout_box = widgets.VBox()
        self.values: dict = {}
        self.redraws = 0
        self.last_draw_seconds = 0.0
        for control in self.controls.values():
            control.observe(self.on_change, names="value")
        control_box = widgets.VBox([*self.controls.values(), widgets.HBox(list(self.buttons.values()))])
        parts = [widgets.HTML(title)] if title else []
        self.widget = widgets.VBox(parts + [widgets.HBox([control_box, self.readout_box]), self.output])
        self.refresh()

    def on_change(self, change: dict) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Redraw the figure, re-render the PNG and update the readouts."""
        start = time.perf_counter()
        self.values = self.draw_function(self)
        self.output.value = figure_to_png(self.figure)
        self.update_readouts()
        self.redraws += 1
        self.last_draw_seconds = time.perf_counter() - start

    def update_readouts(self) -> None:
        for name, value in self.values.items():
            if name not in self.readouts:
                self.readouts[name] = widgets.HTML()
                self.readout_box.children = tuple(self.readouts.values())
            self.readouts[name].value = format_readout(name, value)

    def _repr_mimebundle_(self, **kwargs):
        """Display the explorer when it is a cell's last value."""
        return self.widget._repr_mimebundle_(**kwargs)


# --- Lesson 1: the KL term ---

WIDE = {"description_width": "initial"}  # slider labels longer than ipywidgets' default width
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


def kl_explorer(q_loc: float = 2.0, q_scale: float = 4.0, num_samples: int = 100, seed: int = 0) -> Explorer:
    """Lesson 1: the Monte-Carlo KL(q || p) of two 1-D Normals, next to the closed form.

    Draws ``z = mean + std * eps`` (the same ``eps`` until "resample" is pressed, so the
    samples slide with q), shows q, p, the samples, each sample's log q(z) - log p(z),
    their average with its standard error and ``kl_analytic(q, p)``. p is the prior
    N(0, 1) unless the "let p move too" toggle is on.
    Readouts (``explorer.values``): "MC estimate", "standard error", "closed-form KL",
    "samples", "p".
    """
    check_in_range("q_loc", q_loc, -5.0, 8.0)
    check_in_range("q_scale", q_scale, 2 ** STD_SLIDER["min"], 2 ** STD_SLIDER["max"])
    check_in_range("num_samples", num_samples, 1, MAX_KL_SAMPLES)
    noise = {"seed": seed, "eps": standard_normal_noise(MAX_KL_SAMPLES, seed)}  # (MAX_KL_SAMPLES,)

    def draw(explorer: Explorer) -> dict:
        c = explorer.controls
        for name in ("p_loc", "p_scale"):  # p's sliders are shown only while p may move
            c[name].layout.display = None if c["move_p"].value else "none"
        q = Normal(c["q_loc"].value, c["q_scale"].value)
        p = Normal(c["p_loc"].value, c["p_scale"].value) if c["move_p"].value else Normal(0.0, 1.0)
        n = c["num_samples"].value
        z = q.loc + q.scale * noise["eps"][:n]  # (n,) samples z ~ q
        log_ratio = kl_monte_carlo(z, q, p)  # (n,) log q(z) - log p(z), one term per sample
        estimate, standard_error = mc_estimate(log_ratio)
        exact = kl_analytic(q, p).item()
        plots.kl_estimate_figure(q, p, z, log_ratio, estimate, standard_error, exact, explorer.figure)
        p_name = f"N({p.loc.item():.2g}, {p.scale.item():.2g}²)"
        p_name += "" if c["move_p"].value else ", the prior"
        return {"MC estimate": estimate,
                "standard error": standard_error if n > 1 else "n/a with one sample",
                "closed-form KL": exact, "samples": n, "p": p_name}

    resample = widgets.Button(description="resample z ~ q")
    explorer = Explorer(kl_explorer_controls(q_loc, q_scale, num_samples), draw, Figure(figsize=(7, 5.6)),
                        buttons={"resample": resample}, title="<b>KL(q || p): Monte Carlo vs closed form</b>")

    def on_resample(_button) -> None:
        noise["seed"] += 1
        noise["eps"] = standard_normal_noise(MAX_KL_SAMPLES, noise["seed"])
        explorer.refresh()

    resample.on_click(on_resample)
    return explorer


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


def move_q_explorer(start: DescentSettings | None = None, max_steps: int = 500) -> Explorer:
    """Lesson 1: gradient descent on the Monte-Carlo KL(q || p) moves q = N(mean, std) onto p = N(0, 1).

    "step" takes one step, the play control one step per tick (up to ``max_steps`` per
    play), "restart" goes back to the start, "new noise" restarts with fresh samples.
    Changing a slider restarts from the start with the new settings.
    Readouts (``explorer.values``): "step", "q mean", "q std", "KL(q || p)", "status".
    """
    start = start or DescentSettings()
    check_in_range("start loc", start.loc, -5.0, 5.0)
    check_in_range("start scale", start.scale, 2**-5, 2**2.5)
    state = {"descent": QDescent(start), "seed": start.seed, "tick": 0}

    def settings(c: dict) -> DescentSettings:
        return DescentSettings(loc=c["start_loc"].value, scale=c["start_scale"].value, lr=c["lr"].value,
                               samples_per_step=c["samples_per_step"].value, seed=state["seed"],
                               p_loc=start.p_loc, p_scale=start.p_scale)

    def draw(explorer: Explorer) -> dict:
        c = explorer.controls
        if settings(c) != state["descent"].settings:  # new settings: start again
            state["descent"] = QDescent(settings(c))
        descent = state["descent"]
        descent.run_until(descent.steps + max(c["play"].value - state["tick"], 0))  # one step per tick
        state["tick"] = c["play"].value
        if descent.diverged_at is not None:
            c["play"].playing = False
        plots.descent_figure(descent.locs, descent.scales, descent.mc_kls, descent.exact_kls, descent.p,
                             explorer.figure)
        return {"step": descent.steps, "q mean": descent.locs[-1], "q std": descent.scales[-1],
                "KL(q || p)": descent.exact_kls[-1], "status": descent_status(descent)}

    buttons = {name: widgets.Button(description=name) for name in ("step", "restart", "new noise")}
    explorer = Explorer(move_q_controls(start, max_steps), draw, Figure(figsize=(12, 3.6)), buttons=buttons,
                        title="<b>Move q toward p: gradient descent on the Monte-Carlo KL</b>")

    def on_step(_button) -> None:
        state["descent"].step()
        explorer.refresh()

    def on_restart(_button) -> None:
        state["descent"] = QDescent(state["descent"].settings)
        explorer.refresh()

    def on_new_noise(_button) -> None:
        state["seed"] += 1
        explorer.refresh()  # the seed is part of the settings: draw starts a new descent

    for name, callback in (("step", on_step), ("restart", on_restart), ("new noise", on_new_noise)):
        buttons[name].on_click(callback)
    return explorer


# --- Lesson 2: the reconstruction term ---


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


# --- Lesson 3: training ---

USED_KL = 0.1  # nats: a latent dimension whose q differs from p by more than this carries information


def latest_numbers(history) -> dict:
    """Readouts of the last finished epoch of a ``History``."""
    if not history.epochs:
        return {"epoch": 0}
    numbers = {"epoch": history.epochs, "train ELBO (nats)": history.train["elbo"][-1],
               "train bits/dim": history.train["bits_per_dim"][-1]}
    if history.val["elbo"]:
        numbers["validation bits/dim"] = history.val["bits_per_dim"][-1]
    numbers["seconds per epoch"] = history.epoch_seconds[-1]
    return numbers


def training_monitor(model: torch.nn.Module, history, images: Tensor, z: Tensor) -> Explorer:
    """Lesson 3's live view of training, drawn in one place: call ``refresh()`` after each epoch.

    Args:
        model: the ``VAE`` being trained.
        history: the ``History`` that ``fit`` fills (pass the same object as ``fit(history=...)``).
        images: ``uint8 (n, 3, 32, 32)`` fixed test images to reconstruct.
        z: ``(m, latent_dim)`` fixed draws from the prior to decode into samples.
    Use ``fit(..., history=history, on_epoch_end=lambda h: monitor.refresh())``: the figure
    (curves, reconstructions, samples) and the readouts then update in place every epoch.
    """
    def draw(explorer: Explorer) -> dict:
        reconstructions, samples = decode_fixed(model, images, z)
        plots.training_dashboard(history, images, reconstructions, samples, figure=explorer.figure)
        return latest_numbers(history)

    return Explorer({}, draw, Figure(figsize=(11, 6.2)), title="<b>Training, updated after every epoch</b>")


def posterior_controls(track: PosteriorTrack) -> dict:
    """Epoch slider, image picker, and latent dimensions sorted by their KL after the last epoch."""
    mean_kl = track.kl()[-1].mean(dim=0)  # (latent_dim,): KL after the last epoch, mean over images
    dimensions = [(f"z[{d}]: KL {mean_kl[d]:.2f} nats", int(d)) for d in track.dimensions_by_kl()]
    return {
        "epoch": widgets.SelectionSlider(options=[(str(e), i) for i, e in enumerate(track.epochs)],
                                         value=len(track) - 1, description="epoch"),
        "image": widgets.Dropdown(options=[(f"image {i}", i) for i in range(len(track.images))],
                                  value=0, description="image"),
        "dimension": widgets.Dropdown(options=dimensions, value=dimensions[0][1], description="latent",
                                      layout=widgets.Layout(width="320px")),
    }


def posterior_explorer(track: PosteriorTrack) -> Explorer:
    """Lesson 3's widget: how q(z_d|x) of a tracked image moved against p(z_d) during training.

    Pick an epoch, an image and a latent dimension (sorted by KL: the dimensions the model
    uses come first); the figure shows q(z_d|x) against p(z_d) = N(0, 1) and that
    dimension's KL over the epochs.
    """
    def draw(explorer: Explorer) -> dict:
        record, image, dim = (explorer.controls[name].value for name in ("epoch", "image", "dimension"))
        plots.posterior_through_training(track, record, image, dim, figure=explorer.figure)
        kl = track.kl()[record, image]  # (latent_dim,)
        return {"epoch": track.epochs[record], "q mean": float(track.locs[record][image, dim]),
                "q std": float(track.scales[record][image, dim]),
                "KL of this dimension (nats)": float(kl[dim]), "KL of all dimensions (nats)": float(kl.sum()),
                f"dimensions with KL > {USED_KL} nats": int((kl > USED_KL).sum())}

    return Explorer(posterior_controls(track), draw, Figure(figsize=(11, 3.2)),
                    title="<b>q(z_d | x) against p(z_d) through training</b>")


# --- Lesson 4: the latent space ---


class LatentExplorer(Explorer):
    """Lesson 4's latent explorer: sliders shift chosen dimensions of z away from an image's code.

    Each slider holds a shift from the image's posterior mean (0 = the code itself), so the
    sliders start at an exact grid point: a slider holding the code itself would be rounded
    to its step by the browser, which sends the rounded value back and moves z a little.
    Every other dimension stays at the code. The figure shows the test image, the decoding
    of its code and the decoding of the explored z. ``recentre(index)`` (the "another image"
    button) shows image ``index`` with every shift back at 0 and one redraw; "back to its
    code" does the same for the current image.
    Attributes beyond ``Explorer``'s: ``model``, ``images``, ``dims`` (the slider
    dimensions), ``index`` (the image shown) and ``code`` (its posterior mean, ``(latent_dim,)``).
    """

    def __init__(self, model: torch.nn.Module, images: Tensor, dims: Sequence[int], start: int = 0,
                 slider_limit: float = 3.0):
        self.model, self.images, self.dims = unwrap(model), images, [int(d) for d in dims]
        self.index, self.code = start, self.encode(start)
        self.holding = False  # True while recentre() moves the sliders: one redraw, not one per slider
        sliders = {f"shift z[{d}]": widgets.FloatSlider(
            value=0.0, min=-slider_limit, max=slider_limit, step=0.05, description=f"shift z[{d}]",
            style={"description_width": "6em"}) for d in self.dims}  # one width: the sliders line up
        buttons = {"another image": widgets.Button(description="another image"),
                   "back to its code": widgets.Button(description="back to its code")}
        super().__init__(sliders, LatentExplorer.draw, Figure(figsize=(6, 2.4)), buttons,
                         title="<b>Shift the most-used latent dimensions away from the image's code; "
                               "the decoder redraws</b>")
        buttons["another image"].on_click(lambda _: self.recentre(self.index + 1))
        buttons["back to its code"].on_click(lambda _: self.recentre(self.index))

    @torch.no_grad()
    def encode(self, index: int) -> Tensor:
        """Posterior mean of image ``index``: ``(latent_dim,)`` on the CPU."""
        return encode_images(self.model, self.images[index:index + 1]).loc[0]

    def recentre(self, index: int) -> None:
        """Show image ``index`` (wrapping around) with every shift back at 0; redraw once."""
        self.index = index % len(self.images)
        self.code = self.encode(self.index)
        self.holding = True
        try:
            for slider in self.controls.values():
                slider.value = 0.0
        finally:
            self.holding = False
        self.refresh()

    def on_change(self, change: dict) -> None:
        if not self.holding:
            self.refresh()

    def shifts(self) -> Tensor:
        """The sliders' shifts, one per slider dimension: ``(len(dims),)``."""
        return torch.tensor([slider.value for slider in self.controls.values()])

    def explored_z(self) -> Tensor:
        """The image's code with the sliders' shifts added on their dimensions: ``(latent_dim,)``."""
        z = self.code.clone()
        z[self.dims] += self.shifts()
        return z

    @torch.no_grad()
    def draw(self) -> dict:
        z = self.explored_z()
        vae = self.model
        was_training = vae.training
        vae.eval()
        device = vae.prior_loc.device
        x_code, x_z = vae.decode(torch.stack([self.code, z]).to(device)).float().clamp(0, 1).cpu()
        vae.train(was_training)
        image = self.images[self.index].float() / 255  # uint8 -> [0, 1], like the decodings
        pictures = {f"test image {self.index}": image, "decoded code": x_code,
                    "decoded z": x_z}
        plots.latent_explorer_figure(pictures, figure=self.figure)
        explored = ", ".join(f"{z[d]:.2f}" for d in self.dims)
        return {"image": self.index, "distance from the code": float(self.shifts().norm()),
                "mean |pixel change|": float((x_z - x_code).abs().mean()),
                "z on the sliders' dimensions": f"({explored})"}


def latent_explorer(model: torch.nn.Module, images: Tensor, dims: Sequence[int], start: int = 0,
                    slider_limit: float = 3.0) -> LatentExplorer:
    """Lesson 4's widget: sliders that shift latent dimensions ``dims`` away from image ``start``'s code.

    Args:
        model: a trained ``VAE``.
        images: ``uint8 (N, 3, 32, 32)`` test images to start from (the button steps through them).
        dims: the latent dimensions to put on sliders (e.g. the most-used ones, by KL).
        slider_limit: each slider shifts its dimension by up to ``slider_limit`` either way
            (3 covers the prior's bulk from any code near it).
    """
    check_uint8_images(images, "images")
    latent_dim = unwrap(model).latent_dim
    if len(dims) == 0 or not all(0 <= int(d) < latent_dim for d in dims):
        raise ValueError(f"dims must be a non-empty list of latent dimensions in 0..{latent_dim - 1}, "
                         f"got {list(dims)}")
    if not 0 <= start < len(images):
        raise ValueError(f"start must index one of the {len(images)} images, got {start}")
    if not slider_limit > 0:
        raise ValueError(f"slider_limit must be a positive shift, got {slider_limit}")
    return LatentExplorer(model, images, dims, start, slider_limit)
