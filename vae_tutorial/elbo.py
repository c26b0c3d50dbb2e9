"""The ELBO and its two terms, per example, in nats (lessons 1 and 2); p(x|z) is in ``likelihoods.py``.

Per-example quantities have shape ``(B,)``: every other dimension is *summed*, never
averaged, so the KL and the reconstruction term are on the same scale. Images are float32
in ``[0, 1)``, dequantised 8-bit values (``data.to_unit_interval``), so a density on them
bounds the probability of the 8-bit image and converts to bits/dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence

from vae_tutorial.checks import check_positive_int
from vae_tutorial.likelihoods import sum_over_non_batch
from vae_tutorial.machinery.tensor_checks import check_unit_images
from vae_tutorial.model import evaluating, unwrap


def kl_monte_carlo(z: Tensor, q: Distribution, p: Distribution) -> Tensor:
    """Monte-Carlo estimate of KL(q || p) from samples ``z ~ q``: ``log q(z) - log p(z)``.

    Works for any pair of distributions with a ``log_prob`` (lesson 1). One sample per
    example gives an unbiased but noisy estimate.

    Args:
        z: samples from q, shape ``(B, ...)`` (e.g. ``(B, latent_dim)``).
        q, p: any ``torch.distributions.Distribution`` whose ``log_prob(z)`` broadcasts.
    Returns:
        ``(B,)`` log-ratio summed over the non-batch dimensions, in nats.
    """
    return sum_over_non_batch(q.log_prob(z) - p.log_prob(z))


def kl_analytic(q: Distribution, p: Distribution) -> Tensor:
    """Closed-form KL(q || p) where PyTorch knows one (e.g. Normal-Normal), summed to ``(B,)``.

    Raises ``NotImplementedError`` for pairs without a closed form (lesson 1 shows why the
    Monte-Carlo estimate is the general tool).
    """
    return sum_over_non_batch(kl_divergence(q, p))


@dataclass
class ELBO:
    """Per-example terms of the evidence lower bound, each of shape ``(B,)`` in nats."""

    recon: Tensor  # log p(x|z) for one z ~ q(z|x)
    kl: Tensor  # Monte-Carlo KL(q(z|x) || p(z)) from the same z
    elbo: Tensor  # recon - beta * kl  (beta = 1 gives the true bound)
    loss: Tensor  # scalar -elbo.mean(): what the optimiser minimises


def elbo_terms(model: nn.Module, x: Tensor, beta: float = 1.0, free_bits: float = 0.0) -> ELBO:
    """``elbo`` without the input checks: the training loop's fast path."""
    q, z, x_hat = model(x)  # q over (B, latent_dim), z (B, latent_dim), x_hat (B, 3, 32, 32)
    vae = unwrap(model)
    recon = vae.log_likelihood(x_hat, x)  # (B,)
    kl = kl_monte_carlo(z.float(), q, vae.prior)  # (B,)
    value = recon - beta * kl  # (B,)
    loss = -value.mean()
    if free_bits > 0:  # Kingma et al. 2016: a unit's batch-mean KL below free_bits nats costs nothing
        kl_per_unit = kl_divergence(q, vae.prior).mean(dim=0)  # (latent_dim,), closed form
        loss = -(recon.mean() - beta * kl_per_unit.clamp(min=free_bits).sum())
    return ELBO(recon=recon, kl=kl, elbo=value, loss=loss)


def elbo(model: nn.Module, x: Tensor, beta: float = 1.0) -> ELBO:
    """One-sample estimate of the ELBO of each image ``x (B, 3, 32, 32)`` in ``[0, 1]`` (lesson 2).

    ``model``: a ``VAE`` (or a compiled / DDP-wrapped one); ``beta`` weighs the KL term (1 is
    the ELBO). Returns per-example ``recon``, ``kl``, ``elbo`` and the scalar ``loss``.
    """
    check_unit_images(x, "x", unwrap(model).log_scale.dtype)
    return elbo_terms(model, x, beta)


def bits_per_dim(nll_nats: Tensor | float, dims: int = 3072) -> Tensor | float:
    """Convert a negative log-likelihood of data scaled to [0, 1] into bits per dimension.

    The density of ``x / 256`` is ``256**dims`` times the density of 8-bit values, so
    ``bits/dim = nll / (dims * ln 2) + 8`` (lesson 2). A uniform model scores exactly 8.
    """
    check_positive_int(dims, "dims")
    return nll_nats / (dims * math.log(2.0)) + 8.0


def log_mean_exp(values: Tensor, dim: int = 0) -> Tensor:
    """``log(mean(exp(values)))`` along ``dim``, without overflow: log weights are thousands of nats."""
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


@torch.no_grad()
def importance_log_weights(model: nn.Module, x: Tensor, k: int, chunk_size: int = 64) -> Tensor:
    """``k`` log importance weights ``log p(x|z_i) + log p(z_i) - log q(z_i|x)``, ``z_i ~ q(z|x)``.

    Each one is a one-sample ELBO, computed in eval mode. Args: ``x (B, 3, 32, 32)`` in
    ``[0, 1]`` (checked by ``encode``); ``chunk_size`` samples are decoded at once, to bound memory.
    Returns ``(k, B)`` nats.
    """
    check_positive_int(k, "k")
    check_positive_int(chunk_size, "chunk_size")
    with evaluating(model) as vae:
        q = vae.encode(x)  # Normal over (B, latent_dim), encoded once for all k samples
        log_weights = []
        for start in range(0, k, chunk_size):
            n = min(chunk_size, k - start)
            z = q.sample((n,))  # (n, B, latent_dim)
            x_hat = vae.decode(z.flatten(0, 1))  # (n * B, 3, 32, 32)
            x_repeated = x.expand(n, *x.shape).flatten(0, 1)  # (n * B, 3, 32, 32)
            log_px_z = vae.log_likelihood(x_hat, x_repeated).view(n, -1)  # (n, B)
            log_weights.append(log_px_z + vae.prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1))
    return torch.cat(log_weights)  # (k, B)


def iwae_bound(model: nn.Module, x: Tensor, k: int, chunk_size: int = 64) -> Tensor:
    """Importance-weighted lower bound on log p(x) with ``k`` samples (Burda et al. 2016), in eval mode.

    ``log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)``. ``k = 1`` is the
    ELBO; the bound tightens (on average) as ``k`` grows (lessons 3 to 5).
    Args: ``x (B, 3, 32, 32)`` float images in ``[0, 1]``. Returns ``(B,)`` nats.
    """
    return log_mean_exp(importance_log_weights(model, x, k, chunk_size), dim=0)  # (k, B) -> (B,)
