"""The VAE: encoder -> q(z|x), decoder -> the parameters of p(x|z), a learned scale.

Where each distribution of the ELBO lives in code:

* q(z|x): ``encode`` runs the encoder network, then ``fc_mu`` and ``fc_var`` give the
  mean and the log variance of a diagonal Normal over z;
* p(z): ``prior``, the standard Normal N(0, I);
* p(x|z): ``decode`` gives x_hat, its parameters (the *means* of a Normal per pixel value; the
  logits of a Bernoulli; the locations of a discretised logistic), ``log_scale`` = log σ the
  spread (one number, one per channel or one per pixel) and ``log_likelihood`` log p(x|z).

Introduced in lesson 0 and read line by line in lesson 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from vae_tutorial.checks import check_choice, check_positive_int
from vae_tutorial.data import to_unit_interval
from vae_tutorial.likelihoods import LIKELIHOOD_SCALE_SHAPES, as_image, log_likelihood
from vae_tutorial.machinery.tensor_checks import check_uint8_images, check_unit_images
from vae_tutorial.networks import ResNet18Decoder, ResNet18Encoder, SmallDecoder, SmallEncoder

BACKBONES = {"resnet18": (ResNet18Encoder, ResNet18Decoder), "small": (SmallEncoder, SmallDecoder)}


@dataclass
class VAEConfig:
    """Everything needed to rebuild a ``VAE`` (stored in checkpoints)."""

    latent_dim: int = 256  # size of z; the article uses 256
    backbone: str = "resnet18"  # "resnet18" (the article, ~20 M parameters) or "small" (CPU)
    likelihood: str = "scalar"  # p(x|z), a key of LIKELIHOOD_SCALE_SHAPES: "scalar" is the article's

    def validate(self) -> None:
        check_positive_int(self.latent_dim, "latent_dim")
        check_choice(self.backbone, BACKBONES, "backbone")
        check_choice(self.likelihood, LIKELIHOOD_SCALE_SHAPES, "likelihood")


class VAE(nn.Module):
    """A variational autoencoder for ``(3, 32, 32)`` images in ``[0, 1]``.

    * ``encode(x)``: ``(B, 3, 32, 32) -> Normal`` over ``(B, latent_dim)`` (q(z|x)).
    * ``decode(z)``: ``(B, latent_dim) -> x_hat (B, 3, 32, 32)``, the parameters of p(x|z).
    * ``log_scale``: log σ (or log s) of p(x|z), learned, initialised at 0; ``log_likelihood``.
    * ``prior``: p(z) = N(0, I) over ``latent_dim``.
    """

    def __init__(self, latent_dim: int = 256, backbone: str = "resnet18", likelihood: str = "scalar"):
        super().__init__()
        self.config = VAEConfig(latent_dim, backbone, likelihood)
        self.config.validate()
        encoder_class, decoder_class = BACKBONES[backbone]
        self.encoder = encoder_class()
        self.fc_mu = nn.Linear(encoder_class.feature_dim, latent_dim)
        self.fc_var = nn.Linear(encoder_class.feature_dim, latent_dim)  # predicts log variance
        self.decoder = decoder_class(latent_dim)
        self.log_scale = nn.Parameter(torch.zeros(LIKELIHOOD_SCALE_SHAPES[likelihood]))
        self.log_scale.requires_grad_(likelihood != "bernoulli")  # a Bernoulli has no scale to learn
        # The prior's parameters are buffers so that they follow the model between devices.
        self.register_buffer("prior_loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("prior_scale", torch.ones(latent_dim), persistent=False)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def prior(self) -> Normal:
        """p(z) = N(0, I), batch shape ``(latent_dim,)``; broadcasts against ``(B, latent_dim)``."""
        return Normal(self.prior_loc, self.prior_scale, validate_args=False)

    def encode(self, x: Tensor) -> Normal:
        """q(z|x): ``(B, 3, 32, 32)`` floats in ``[0, 1]`` -> Normal with batch shape ``(B, latent_dim)``."""
        check_unit_images(x, "x", self.log_scale.dtype)
        return self.posterior(x)

    def posterior(self, x: Tensor) -> Normal:
        """``encode`` without the input checks (they sync the GPU): the training loop's path."""
        h = self.encoder(x)  # (B, feature_dim)
        mu = self.fc_mu(h).float()  # (B, latent_dim)
        log_var = self.fc_var(h).float()  # (B, latent_dim)
        # validate_args=False: no per-call checks (they sync the GPU); NaN is caught in fit instead.
        return Normal(mu, torch.exp(log_var / 2), validate_args=False)  # std = exp(log_var / 2)

    def decode(self, z: Tensor) -> Tensor:
        """``z (B, latent_dim) -> x_hat (B, 3, 32, 32)``: parameters of p(x|z), not an image."""
        if not isinstance(z, Tensor) or z.dtype != self.log_scale.dtype:
            raise TypeError(f"z must be a tensor of {self.log_scale.dtype} (the model's dtype), got "
                            f"{getattr(z, 'dtype', type(z).__name__)}")
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z)

    def log_likelihood(self, x_hat: Tensor, x: Tensor) -> Tensor:
        """log p(x|z) of images ``x (B, 3, 32, 32)`` given the decoder's ``x_hat``: ``(B,)`` nats."""
        return log_likelihood(self.config.likelihood, x_hat, self.log_scale, x)

    def forward(self, x: Tensor) -> tuple[Normal, Tensor, Tensor]:
        """``x (B, 3, 32, 32) -> (q, z, x_hat)`` with ``z = q.rsample()`` (reparameterised)."""
        q = self.posterior(x)
        z = q.rsample()  # (B, latent_dim), differentiable with respect to q's parameters
        return q, z, self.decode(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images ``(n, 3, 32, 32)``: z ~ N(0, I), decoded in eval mode; the means of p(x|z)
        (``likelihoods.as_image``). (The article's sampler had a scale of 0: it decoded z = 0 n times.)"""
        check_positive_int(n, "n")
        with evaluating(self):
            z = torch.randn(n, self.latent_dim, generator=generator, device=self.prior_loc.device)
            return as_image(self.config.likelihood, self.decode(z))  # (n, 3, 32, 32)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain ``VAE`` inside a ``torch.compile`` or ``DistributedDataParallel`` wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The plain ``VAE`` in ``model``, in eval mode for the block, then back in its mode (even on error).

    Measuring and drawing use eval mode: batch norm (ResNet-18) must not depend on the batch,
    nor update its running statistics.
    """
    vae = unwrap(model)
    was_training = vae.training
    vae.eval()
    try:
        yield vae
    finally:
        vae.train(was_training)


@torch.no_grad()
def encode_images(model: nn.Module, images: Tensor, batch_size: int = 256) -> Normal:
    """q(z|x) of every image, in eval mode: ``uint8 (N, 3, 32, 32)`` -> Normal over ``(N, latent_dim)``.

    Pixels are taken at the centres of their 8-bit bins (no dequantisation noise), so the
    same images always give the same posteriors. The result is float32, on the CPU.
    Lessons 2 to 5 study the posteriors of whole data sets through it.
    """
    check_uint8_images(images, "images")
    locs, scales = [], []
    with evaluating(model) as vae:
        device = vae.prior_loc.device
        for batch in images.split(batch_size):
            q = vae.encode(to_unit_interval(batch.to(device), dequantize=False))  # (b, latent_dim)
            locs.append(q.loc.cpu())
            scales.append(q.scale.cpu())
    return Normal(torch.cat(locs), torch.cat(scales))  # (N, latent_dim)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
