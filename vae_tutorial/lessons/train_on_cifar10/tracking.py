"""Q(z|x) of fixed images through training (lesson 3).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Storing the means and scales of q for a handful of images costs a few kilobytes per epoch
and one forward pass of the encoder. Afterwards the learner can watch, dimension by
dimension, how each q(z_d|x) moves: onto the prior p(z_d) = N(0, 1) (a dimension the
model does not use: KL 0) or away from it (a dimension the decoder relies on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from vae_tutorial.lessons.shared.posteriors import dimensions_by_kl, kl_per_dimension
from vae_tutorial.likelihoods import as_image
from vae_tutorial.machinery.tensor_checks import check_uint8_images
from vae_tutorial.model import encode_images, evaluating


@dataclass
class PosteriorTrack:
    """The posteriors q(z|x) of fixed ``images``, one record per epoch (lesson 3).

    Attributes:
        images: ``uint8 (n, 3, 32, 32)``, the tracked images.
        epochs: the epoch after which each record was taken (0: before training).
        locs, scales: one ``(n, latent_dim)`` tensor per record: mean and standard
            deviation of q(z|x) of each image.
    """

    images: Tensor
    epochs: list[int] = field(default_factory=list)
    locs: list[Tensor] = field(default_factory=list)
    scales: list[Tensor] = field(default_factory=list)

    def __post_init__(self):
        check_uint8_images(self.images, "images")
        self.images = self.images.cpu()

    def record(self, model: nn.Module, epoch: int) -> None:
        """Encode the images with ``model`` (in eval mode) and keep q's means and scales."""
        q = encode_images(model, self.images)  # no dequantisation noise: the same input every epoch
        self.epochs.append(epoch)
        self.locs.append(q.loc)
        self.scales.append(q.scale)

    def __len__(self) -> int:
        """Number of records."""
        return len(self.epochs)

    def kl(self) -> Tensor:
        """KL(q(z_d|x) || p(z_d)) of every record, image and dimension: ``(records, n, latent_dim)``."""
        if not self.epochs:
            raise ValueError("the track is empty: call record(model, epoch) first")
        return kl_per_dimension(Normal(torch.stack(self.locs), torch.stack(self.scales)))

    def dimensions_by_kl(self, record: int = -1) -> Tensor:
        """Latent dimensions sorted by their KL averaged over the images, largest first: ``(latent_dim,)``."""
        return dimensions_by_kl(self.kl()[record].mean(dim=0))


@torch.no_grad()
def decode_fixed(model: nn.Module, images: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """Reconstructions of fixed ``images`` and samples from fixed ``z``, redrawn each epoch (lesson 3).

    Args:
        images: ``uint8 (n, 3, 32, 32)``; each is encoded and the *mean* of q(z|x) decoded.
        z: ``(m, latent_dim)`` draws from the prior p(z) = N(0, I), kept for the whole run so
            that the samples of different epochs can be compared.
    Returns:
        reconstructions ``(n, 3, 32, 32)`` and samples ``(m, 3, 32, 32)``: the means of
        p(x|z) as images (``likelihoods.as_image``), on the CPU.
    """
    codes = encode_images(model, images).loc  # (n, latent_dim)
    with evaluating(model) as vae:
        device = vae.prior_loc.device
        reconstructions = as_image(vae.config.likelihood, vae.decode(codes.to(device))).cpu()
        samples = as_image(vae.config.likelihood, vae.decode(z.to(device))).cpu()
    return reconstructions, samples
