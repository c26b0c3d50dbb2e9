"""The approximation and amortisation gaps of a trained VAE (lesson 5; Cremer et al., ICML 2018).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

For each image, the best Gaussian q*(z|x) is found by gradient ascent on the ELBO over q's
mean and log-std alone, the decoder fixed, starting from the encoder's q. Then

* log p(x) - ELBO(q*): the **approximation gap** (no Gaussian can do better);
* ELBO(q*) - ELBO(encoder's q): the **amortisation gap** (one network encoding every image).

log p(x) is estimated by the importance-weighted bound with q* as proposal. Every ELBO and
bound here comes from the core's ``importance_log_weights``: a ``FixedPosterior`` is a VAE
whose encoder is replaced by given Gaussians, so the core's functions work on it unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from vae_tutorial.checks import check_positive_int, check_positive_number
from vae_tutorial.elbo import elbo, importance_log_weights, log_mean_exp
from vae_tutorial.machinery.tensor_checks import check_unit_images
from vae_tutorial.model import evaluating, unwrap


class FixedPosterior(nn.Module):
    """A VAE whose q(z|x) is a Gaussian of its own for each image of one batch; the decoder is the VAE's.

    ``loc``, ``log_std``: ``(B, latent_dim)`` parameters (trainable), for the batch ``x`` they
    were made for (``encode`` checks its size). ``decode``, ``log_scale`` and ``prior`` are the
    VAE's (and ``log_likelihood``), so the core's ``elbo`` and ``importance_log_weights`` run on it as on
    the VAE.
    """

    def __init__(self, vae: nn.Module, loc: Tensor, log_std: Tensor):
        super().__init__()
        self.vae = unwrap(vae)
        self.loc = nn.Parameter(loc.detach().clone())
        self.log_std = nn.Parameter(log_std.detach().clone())

    @property
    def log_scale(self) -> Tensor:
        return self.vae.log_scale

    @property
    def prior(self) -> Normal:
        return self.vae.prior

    @property
    def latent_dim(self) -> int:
        return self.vae.latent_dim

    def encode(self, x: Tensor) -> Normal:
        """q(z|x) of the batch this posterior was made for: Normal over ``(B, latent_dim)``."""
        if len(x) != len(self.loc):
            raise ValueError(f"this FixedPosterior holds q for {len(self.loc)} images, got {len(x)}")
        return Normal(self.loc, self.log_std.exp())

    def decode(self, z: Tensor) -> Tensor:
        return self.vae.decode(z)

    def log_likelihood(self, x_hat: Tensor, x: Tensor) -> Tensor:
        return self.vae.log_likelihood(x_hat, x)

    def forward(self, x: Tensor) -> tuple[Normal, Tensor, Tensor]:
        q = self.encode(x)
        z = q.rsample()  # (B, latent_dim)
        return q, z, self.decode(z)


def optimal_posterior(model: nn.Module, x: Tensor, steps: int = 200, lr: float = 0.02) -> FixedPosterior:
    """The best Gaussian q*(z|x) for each image ``x (B, 3, 32, 32)``, the decoder fixed (Adam on -ELBO).

    Starts from the encoder's q; the decoder's parameters are not changed (nor their gradients
    kept). Each step uses one reparameterised sample per image (the core's ``elbo``).
    """
    check_unit_images(x)
    check_positive_int(steps, "steps")
    check_positive_number(lr, "lr")
    with evaluating(model) as vae, torch.no_grad():
        q = vae.encode(x)
    posterior = FixedPosterior(vae, q.loc, q.scale.log())
    optimizer = torch.optim.Adam([posterior.loc, posterior.log_std], lr=lr)
    frozen = [p for p in vae.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with evaluating(posterior):
            for _ in range(steps):
                optimizer.zero_grad()
                loss = elbo(posterior, x).elbo.sum().neg()  # the images are independent: sum, not mean
                loss.backward()
                optimizer.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return posterior


@dataclass
class InferenceGaps:
    """Per-image estimates, each ``(B,)`` nats, from independent importance samples."""

    log_px: Tensor  # IWAE bound with q* as proposal, k samples: the estimate of log p(x)
    elbo_optimal: Tensor  # ELBO of q*, the best Gaussian for the image
    elbo_encoder: Tensor  # ELBO of the encoder's q(z|x)
    elbo_optimal_se: Tensor  # Monte-Carlo standard errors of the two ELBOs
    elbo_encoder_se: Tensor

    @property
    def approximation(self) -> Tensor:
        """log p(x) - ELBO(q*): what even the best Gaussian q misses. ``(B,)`` nats."""
        return self.log_px - self.elbo_optimal

    @property
    def amortisation(self) -> Tensor:
        """ELBO(q*) - ELBO(encoder's q): what one network for all images costs. ``(B,)`` nats."""
        return self.elbo_optimal - self.elbo_encoder


def elbo_with_error(model: nn.Module, x: Tensor, samples: int) -> tuple[Tensor, Tensor]:
    """The ELBO of each image, the mean of ``samples`` log weights, and its standard error: ``(B,)`` each."""
    log_w = importance_log_weights(model, x, samples)  # (samples, B): one-sample ELBOs
    return log_w.mean(0), log_w.std(0) / math.sqrt(samples)


def inference_gaps(model: nn.Module, x: Tensor, posterior: FixedPosterior, k: int = 256,
                   elbo_samples: int = 256) -> InferenceGaps:
    """Estimate log p(x), ELBO(q*) and the encoder's ELBO for ``x (B, 3, 32, 32)``, each from fresh samples.

    ``posterior``: q* from ``optimal_posterior(model, x)``; ``k``: importance samples of the
    IWAE estimate of log p(x); ``elbo_samples``: samples of each ELBO estimate.
    """
    check_positive_int(elbo_samples, "elbo_samples")
    if elbo_samples < 2:
        raise ValueError(f"elbo_samples must be at least 2 (for a standard error), got {elbo_samples}")
    log_px = log_mean_exp(importance_log_weights(posterior, x, k), dim=0)  # (B,)
    elbo_optimal, optimal_se = elbo_with_error(posterior, x, elbo_samples)
    elbo_encoder, encoder_se = elbo_with_error(model, x, elbo_samples)
    return InferenceGaps(log_px.cpu(), elbo_optimal.cpu(), elbo_encoder.cpu(), optimal_se.cpu(),
                         encoder_se.cpu())


def measure_inference_gaps(model: nn.Module, x: Tensor, steps: int = 200, k: int = 256,
                           elbo_samples: int = 256, batch_size: int = 32) -> InferenceGaps:
    """``optimal_posterior`` then ``inference_gaps`` of ``x (B, 3, 32, 32)``, ``batch_size`` at a time."""
    check_positive_int(batch_size, "batch_size")
    parts = [inference_gaps(model, batch, optimal_posterior(model, batch, steps), k, elbo_samples)
             for batch in x.split(batch_size)]
    return InferenceGaps(*(torch.cat([getattr(part, name) for part in parts]) for name in
                           ("log_px", "elbo_optimal", "elbo_encoder", "elbo_optimal_se", "elbo_encoder_se")))
