"""Lesson 3's widgets: the live training monitor and q against p through training.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from vae_tutorial.history import History
from vae_tutorial.lessons.shared.explorer import Explorer
from vae_tutorial.lessons.train_on_cifar10 import figures as plots
from vae_tutorial.lessons.train_on_cifar10.tracking import PosteriorTrack, decode_fixed

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


class TrainingMonitor(Explorer):
    """Lesson 3's live view of training, drawn in one place and updated after every epoch.

    Args:
        model: the ``VAE`` being trained.
        images: ``uint8 (n, 3, 32, 32)`` fixed test images to reconstruct.
        z: ``(m, latent_dim)`` fixed draws from the prior to decode into samples.
    Pass ``fit(..., on_epoch_end=monitor.update)``: the figure (curves, reconstructions,
    samples) and the readouts then update in place every epoch.
    """

    def __init__(self, model: torch.nn.Module, images: Tensor, z: Tensor, history: History | None = None):
        self.model, self.images, self.z = model, images, z
        self.history = history or History()
        super().__init__({}, Figure(figsize=(11, 6.2)), title="<b>Training, updated after every epoch</b>")

    def update(self, history: History) -> None:
        """Show ``history`` and the model as they are now."""
        self.history = history
        self.refresh()

    def draw(self) -> dict:
        reconstructions, samples = decode_fixed(self.model, self.images, self.z)
        plots.training_dashboard(self.history, self.images, reconstructions, samples, figure=self.figure)
        return latest_numbers(self.history)


def training_monitor(model: torch.nn.Module, images: Tensor, z: Tensor,
                     history: History | None = None) -> TrainingMonitor:
    """Lesson 3's ``TrainingMonitor`` of ``model``: ``images`` reconstructed, ``z`` decoded, every epoch."""
    return TrainingMonitor(model, images, z, history)


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


class PosteriorExplorer(Explorer):
    """Lesson 3: how q(z_d|x) of a tracked image moved against p(z_d) during training.

    Pick an epoch, an image and a latent dimension (sorted by KL: the dimensions the model
    uses come first); the figure shows q(z_d|x) against p(z_d) = N(0, 1) and that
    dimension's KL over the epochs.
    """

    def __init__(self, track: PosteriorTrack):
        self.track = track
        self.shown: tuple[int, int] | None = None  # the (image, dimension) the axes are drawn for
        super().__init__(posterior_controls(track), Figure(figsize=(11, 3.2)),
                         title="<b>q(z_d | x) against p(z_d) through training</b>")

    def draw(self) -> dict:
        track = self.track
        record, image, dim = (self.controls[name].value for name in ("epoch", "image", "dimension"))
        if self.shown == (image, dim):  # only the epoch moved: update in place
            plots.show_epoch(self.figure, track, record, image, dim)
        else:
            self.shown = (image, dim)
            plots.posterior_through_training(track, record, image, dim, figure=self.figure)
        kl = track.kl()[record, image]  # (latent_dim,)
        return {"epoch": track.epochs[record], "q mean": float(track.locs[record][image, dim]),
                "q std": float(track.scales[record][image, dim]),
                "KL of this dimension (nats)": float(kl[dim]), "KL of all dimensions (nats)": float(kl.sum()),
                f"dimensions with KL > {USED_KL} nats": int((kl > USED_KL).sum())}


def posterior_explorer(track: PosteriorTrack) -> PosteriorExplorer:
    """Lesson 3's ``PosteriorExplorer`` of a ``PosteriorTrack``."""
    return PosteriorExplorer(track)
