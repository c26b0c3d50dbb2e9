"""Lesson 3's widgets: the live training monitor and q against p through training."""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from vae_tutorial import plots
from vae_tutorial.tracking import PosteriorTrack, decode_fixed
from vae_tutorial.widgets.explorer import Explorer

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
    shown = {"image and dimension": None}  # what the figure's axes are drawn for

    def draw(explorer: Explorer) -> dict:
        record, image, dim = (explorer.controls[name].value for name in ("epoch", "image", "dimension"))
        if shown["image and dimension"] == (image, dim):  # only the epoch moved: update in place
            plots.show_epoch(explorer.figure, track, record, image, dim)
        else:
            shown["image and dimension"] = (image, dim)
            plots.posterior_through_training(track, record, image, dim, figure=explorer.figure)
        kl = track.kl()[record, image]  # (latent_dim,)
        return {"epoch": track.epochs[record], "q mean": float(track.locs[record][image, dim]),
                "q std": float(track.scales[record][image, dim]),
                "KL of this dimension (nats)": float(kl[dim]), "KL of all dimensions (nats)": float(kl.sum()),
                f"dimensions with KL > {USED_KL} nats": int((kl > USED_KL).sum())}

    return Explorer(posterior_controls(track), draw, Figure(figsize=(11, 3.2)),
                    title="<b>q(z_d | x) against p(z_d) through training</b>")
