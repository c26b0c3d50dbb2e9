"""The ELBO and its two terms, per example, in nats.

Introduced in lessons 1 (the KL term) and 2 (the reconstruction term).

Conventions used everywhere in this package:

* Per-example quantities have shape ``[B]``: every non-batch dimension is *summed*
  (never averaged), so the KL and the reconstruction term are on the same scale.
* Log values are natural logarithms (nats). ``bits_per_dim`` converts.
* Images given to the model are ``float32`` in ``[0, 1)``, uniformly dequantised 8-bit
  values (see ``vae_tutorial.data.to_unit_interval``), so a continuous density on them
  is a valid lower bound on the probability of the 8-bit image.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Normal, kl_divergence

from vae_tutorial.data import check_unit_images


def sum_over_non_batch(values: Tensor) -> Tensor:
    """Sum every dimension but the first: ``(B, ...) -> (B,)``. A ``(B,)`` tensor is returned as is."""
    if values.dim() <= 1:
        return values
    return values.flatten(start_dim=1).sum(dim=1)


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


def gaussian_log_likelihood(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """log N(x; x_hat, exp(log_scale)^2) summed over C, H, W (lesson 2).

    Args:
        x_hat: ``(B, C, H, W)`` decoder output: the *means* of p(x|z), not an image.
        log_scale: log standard deviation; broadcasts against ``x``: a scalar (the
            article), ``(C, 1, 1)`` per channel or ``(C, H, W)`` per pixel.
        x: ``(B, C, H, W)`` the real images.
    Returns:
        ``(B,)`` log-likelihood in nats.
    """
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat and x must have the same shape, got {tuple(x_hat.shape)} "
                         f"and {tuple(x.shape)}")
    # Float32 on purpose: under bf16 autocast the sum over 3,072 terms would lose digits.
    p_x_given_z = Normal(x_hat.float(), torch.exp(log_scale.float()), validate_args=False)
    return sum_over_non_batch(p_x_given_z.log_prob(x.float()))


@dataclass
class ELBO:
    """Per-example terms of the evidence lower bound, each of shape ``(B,)`` in nats."""

    recon: Tensor  # log p(x|z) for one z ~ q(z|x)
    kl: Tensor  # Monte-Carlo KL(q(z|x) || p(z)) from the same z
    elbo: Tensor  # recon - beta * kl  (beta = 1 gives the true bound)
    loss: Tensor  # scalar -elbo.mean(): what the optimiser minimises


def unwrap(model: nn.Module) -> nn.Module:
    """The plain ``VAE`` inside a ``torch.compile`` or ``DistributedDataParallel`` wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The plain ``VAE`` in ``model``, in eval mode for the block, then back in the mode it was in.

    Measuring and drawing use eval mode: batch norm (ResNet backbone) must not depend on
    the batch. The mode comes back even when the block fails.
    """
    vae = unwrap(model)
    was_training = vae.training
    vae.eval()
    try:
        yield vae
    finally:
        vae.train(was_training)


def elbo_terms(model: nn.Module, x: Tensor, beta: float = 1.0) -> ELBO:
    """``elbo`` without the input checks: the training loop's fast path."""
    q, z, x_hat = model(x)  # q over (B, latent_dim), z (B, latent_dim), x_hat (B, 3, 32, 32)
    vae = unwrap(model)
    recon = gaussian_log_likelihood(x_hat, vae.log_scale, x)  # (B,)
    kl = kl_monte_carlo(z.float(), q, vae.prior)  # (B,)
    value = recon - beta * kl  # (B,)
    return ELBO(recon=recon, kl=kl, elbo=value, loss=-value.mean())


def elbo(model: nn.Module, x: Tensor, beta: float = 1.0) -> ELBO:
    """One-sample estimate of the ELBO of each image (lesson 2).

    Args:
        model: a ``VAE`` (or a compiled / DDP-wrapped one).
        x: ``(B, 3, 32, 32)`` float images in ``[0, 1]``.
        beta: weight of the KL term; 1 is the ELBO, other values trade KL against
            reconstruction (beta-VAE).
    Returns:
        ``ELBO`` with per-example ``recon``, ``kl``, ``elbo`` and the scalar ``loss``.
    """
    check_unit_images(x)
    return elbo_terms(model, x, beta)


def bits_per_dim(nll_nats: Tensor | float, dims: int = 3072) -> Tensor | float:
    """Convert a negative log-likelihood of data scaled to [0, 1] into bits per dimension.

    The density of ``x / 256`` is ``256**dims`` times the density of 8-bit values, so
    ``bits/dim = nll / (dims * ln 2) + 8`` (lesson 2). A uniform model scores exactly 8.
    """
    if dims <= 0:
        raise ValueError(f"dims must be a positive number of dimensions, got {dims}")
    return nll_nats / (dims * math.log(2.0)) + 8.0


@torch.no_grad()
def iwae_bound(model: nn.Module, x: Tensor, k: int, chunk_size: int = 64) -> Tensor:
    """Importance-weighted lower bound on log p(x) with ``k`` samples (Burda et al. 2016).

    ``log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)``. ``k = 1`` is the
    ELBO; the bound tightens (on average) as ``k`` grows (lessons 3 and 4).

    Args:
        x: ``(B, 3, 32, 32)`` float images in ``[0, 1]``.
        k: number of importance samples, at least 1.
        chunk_size: samples evaluated at once, to bound memory.
    Returns:
        ``(B,)`` bound in nats.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer number of samples, got {k!r}")
    check_unit_images(x)
    vae = unwrap(model)
    q = vae.encode(x)  # Normal over (B, latent_dim)
    log_weights = []
    for start in range(0, k, chunk_size):
        n = min(chunk_size, k - start)
        z = q.sample((n,))  # (n, B, latent_dim)
        x_hat = vae.decode(z.flatten(0, 1))  # (n * B, 3, 32, 32)
        x_repeated = x.expand(n, *x.shape).flatten(0, 1)  # (n * B, 3, 32, 32)
        log_px_z = gaussian_log_likelihood(x_hat, vae.log_scale, x_repeated).view(n, -1)
        log_pz = vae.prior.log_prob(z).sum(-1)  # (n, B)
        log_qz = q.log_prob(z).sum(-1)  # (n, B)
        log_weights.append(log_px_z + log_pz - log_qz)
    log_w = torch.cat(log_weights)  # (k, B)
    return torch.logsumexp(log_w, dim=0) - math.log(k)  # (B,)
