"""p(x|z): the decoder's output x_hat are the parameters of one distribution per value (lesson 2).

Every function returns log p(x|z) summed over C, H, W, ``(B,)`` nats, as a log-*density* on ``[0, 1)``
values, so that ``bits_per_dim`` (``+ 8``) converts every family the same way. ``VAE(likelihood=...)``:

* ``"scalar"``, ``"channel"``, ``"pixel"``: Gaussian, x_hat the means, log σ of shape ``()``,
  ``(3, 1, 1)`` or ``(3, 32, 32)``;
* ``"bernoulli"``: x_hat the logits of a probability p; log p(x|z) = x log p + (1 - x) log(1 - p) is
  what popular code calls BCE. It is a probability for x in {0, 1} only: for the values in between it
  is not the log of a normalised density, and lesson 2 measures what that does to the ELBO;
* ``"logistic"``: the discretised logistic of PixelCNN++ (Salimans et al., ICLR 2017), x_hat the
  locations, log s one per channel: P(v) is the logistic's mass on the 8-bit value's bin
  ``[v/256, (v+1)/256)`` (the end bins take the tails); as a density, 256 P(v) on the whole bin.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Normal
from torch.nn import functional as F

from vae_tutorial.machinery.tensor_checks import IMAGE_SHAPE, check_same_shape

# The shape of ``VAE.log_scale`` for each choice (a Bernoulli has no scale: its log_scale is frozen).
LIKELIHOOD_SCALE_SHAPES = {"scalar": (), "channel": (IMAGE_SHAPE[0], 1, 1), "pixel": IMAGE_SHAPE,
                           "bernoulli": (), "logistic": (IMAGE_SHAPE[0], 1, 1)}


def sum_over_non_batch(values: Tensor) -> Tensor:
    """Sum every dimension but the first: ``(B, ...) -> (B,)``. A ``(B,)`` tensor is returned as is."""
    if values.dim() <= 1:
        return values
    return values.flatten(start_dim=1).sum(dim=1)


def gaussian_log_likelihood(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """log N(x; x_hat, exp(log_scale)²) summed over C, H, W: ``(B,)`` nats (lesson 2).

    ``x_hat (B, 3, 32, 32)`` are the *means* of p(x|z), not an image; ``log_scale`` (log σ)
    broadcasts: a scalar (the article), ``(3, 1, 1)`` per channel or ``(3, 32, 32)`` per pixel.
    """
    check_same_shape(x_hat, x)
    # Float32 on purpose: under bf16 autocast the sum over 3,072 terms would lose digits.
    p_x_given_z = Normal(x_hat.float(), torch.exp(log_scale.float()), validate_args=False)
    return sum_over_non_batch(p_x_given_z.log_prob(x.float()))


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """x log p + (1 - x) log(1 - p) with p = sigmoid(logits), summed over C, H, W: ``(B,)`` nats.

    Minus the binary cross-entropy. Each term is at most 0 (p^x (1-p)^(1-x) <= 1), so its "bits/dim"
    can never beat 8, the uniform model's: it is not a density of the pixel values (lesson 2).
    """
    check_same_shape(logits, x)
    bce = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")  # (B, 3, 32, 32)
    return -sum_over_non_batch(bce)


def discretized_logistic_log_probability(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """log P(v) of each 8-bit value v = floor(256 x): ``(B, 3, 32, 32)`` nats, ``log_scale`` = log s.

    P(v) = F(upper) - F(lower), F the logistic CDF sigmoid((y - x_hat) / s) at the bin's edges, with
    F(lower) = 0 for v = 0 and F(upper) = 1 for v = 255. Written as log sigmoid(upper) +
    log sigmoid(-lower) + log(1 - exp(-(upper - lower))), which never subtracts two close numbers.
    """
    check_same_shape(x_hat, x)
    v = torch.floor(x.float() * 256).clamp(0, 255)  # (B, 3, 32, 32): the bin of each value
    inverse_scale = torch.exp(-log_scale.float())
    lower = (v / 256 - x_hat.float()) * inverse_scale  # (B, 3, 32, 32), standardised bin edges
    upper = lower + inverse_scale / 256
    log_mass = F.logsigmoid(upper) + F.logsigmoid(-lower) + torch.log(-torch.expm1(-inverse_scale / 256))
    return torch.where(v == 0, F.logsigmoid(upper), torch.where(v == 255, F.logsigmoid(-lower), log_mass))


def discretized_logistic_log_likelihood(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """log (256 P(v)) summed over C, H, W: ``(B,)`` nats, the density 256 P(v) on each value's bin."""
    return sum_over_non_batch(discretized_logistic_log_probability(x_hat, log_scale, x) + math.log(256))


def log_likelihood(likelihood: str, x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """log p(x|z) for the choice ``likelihood`` (a key of ``LIKELIHOOD_SCALE_SHAPES``): ``(B,)`` nats."""
    if likelihood == "bernoulli":
        return bernoulli_log_likelihood(x_hat, x)
    if likelihood == "logistic":
        return discretized_logistic_log_likelihood(x_hat, log_scale, x)
    return gaussian_log_likelihood(x_hat, log_scale, x)


def as_image(likelihood: str, x_hat: Tensor) -> Tensor:
    """What p(x|z) with parameters ``x_hat (B, 3, 32, 32)`` looks like, float32 in [0, 1]: the
    Bernoulli's probabilities sigmoid(x_hat); for the others their centres x_hat, clamped."""
    return x_hat.float().sigmoid() if likelihood == "bernoulli" else x_hat.float().clamp(0.0, 1.0)
