"""Checks of lesson 2's exercises (``notebooks/02_reconstruction_term.ipynb``): each says what is wrong.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Every check calls the learner's function on inputs of its own and compares with an answer
computed independently (``torch.distributions``, the closed-form best σ, variances counted
directly). The solutions are in ``vae_tutorial.lessons.solutions`` (Lesson 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import (
    AffineTransform,
    Normal,
    SigmoidTransform,
    TransformedDistribution,
    Uniform,
    kl_divergence,
)

from vae_tutorial.data import shapes_dataset
from vae_tutorial.lessons.reconstruction_term.scales import optimal_log_scale
from vae_tutorial.lessons.shared.exercises import expect_close, expect_equal, run_check


def example_reconstructions(seed: int = 0) -> tuple[Tensor, Tensor]:
    """Noisy "reconstructions" ``x_hat`` and images ``x``, both ``(4, 3, 32, 32)``, errors by channel."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 3, 32, 32, generator=generator)
    noise_scale = torch.tensor([0.05, 0.1, 0.2]).view(3, 1, 1)
    return x + noise_scale * torch.randn(4, 3, 32, 32, generator=generator), x


def check_log_likelihood(log_likelihood: Callable[[Tensor, Tensor, Tensor], Tensor]) -> str:
    """Exercise 1: log N(x; x_hat, σ²) summed over C, H, W, for a scalar, per-channel and per-pixel log σ."""
    x_hat, x = example_reconstructions()

    def trial() -> None:
        generator = torch.Generator().manual_seed(1)
        for shape in [(), (3, 1, 1), (3, 32, 32)]:
            log_scale = torch.randn(shape, generator=generator) * 0.5 - 1
            expected = Normal(x_hat, log_scale.exp()).log_prob(x).sum(dim=(1, 2, 3))  # (4,)
            expect_close(log_likelihood(x_hat, log_scale, x), expected,
                         f"log p(x|z) per image with log_scale of shape {shape}",
                         "per value: -(x - x_hat)²/(2σ²) - log σ - log(2π)/2, summed over dims 1, 2, 3 "
                         "(the constant counts)", rtol=1e-5, atol=1e-2)

    return run_check("Exercise 1 (the Gaussian log-likelihood)", trial)


def check_best_sigma_per_channel(best_sigma_per_channel: Callable[[Tensor, Tensor], Tensor]) -> str:
    """Exercise 2: the σ per channel maximising the summed likelihood, against the closed form."""
    x_hat, x = example_reconstructions()

    def trial() -> None:
        expect_close(best_sigma_per_channel(x_hat, x), optimal_log_scale(x_hat, x, "channel").exp(),
                     "best σ per channel, shape (3, 1, 1)",
                     "σ² = the mean squared error, pooled over the batch and the pixels of one channel",
                     rtol=1e-4, atol=1e-6)

    return run_check("Exercise 2 (the best σ per channel)", trial)


def check_active_units(active_units: Callable[..., int]) -> str:
    """Exercise 3: count the units whose posterior mean varies across images by more than a threshold."""
    generator = torch.Generator().manual_seed(2)
    spreads = torch.tensor([0.0, 0.03, 0.08, 0.2, 1.0, 2.0])  # std of each unit's mean across images
    means = torch.randn(4000, 6, generator=generator) * spreads + 0.5  # (N, 6): variances 0, 0.0009, ... 4

    def trial() -> None:
        hint = "take the variance over the images (dim 0) of each unit, not the std, and count those above"
        expect_equal(active_units(means), 3, "active units at threshold 0.01 (variances 0, 0.0009, 0.0064, "
                     "0.04, 1, 4)", hint)
        expect_equal(active_units(means, threshold=0.5), 2, "active units at threshold 0.5", hint)

    return run_check("Exercise 3 (active units)", trial)


def gaussian_per_pixel_bits_reference(train_images: Tensor, test_images: Tensor) -> float:
    """Bits/dim on dequantised ``test_images`` of a Gaussian per (c, h, w) fitted to ``train_images``."""
    generator = torch.Generator().manual_seed(3)
    x_train, x_test = ((v.double() + torch.rand(v.shape, generator=generator, dtype=torch.float64)) / 256
                       for v in (train_images, test_images))  # dequantised, in [0, 1)
    fitted = Normal(x_train.mean(dim=0), x_train.std(dim=0, unbiased=False))  # one Normal per (c, h, w)
    nll = -fitted.log_prob(x_test).sum(dim=(1, 2, 3)).mean().item()  # nats per image
    return nll / (x_test[0].numel() * math.log(2)) + 8


def check_gaussian_per_pixel_bits(gaussian_per_pixel_bits: Callable[[Tensor, Tensor], float]) -> str:
    """Exercise 4 (an experiment): fit a Gaussian per pixel value on training images, score held-out ones."""
    train_images, _ = shapes_dataset(1024, seed=0)
    test_images, _ = shapes_dataset(256, seed=1)

    def trial() -> None:
        expect_close(gaussian_per_pixel_bits(train_images, test_images),
                     gaussian_per_pixel_bits_reference(train_images, test_images),
                     "bits/dim of an independent Gaussian per pixel value, shapes test images",
                     "dequantise both sets with (v + u)/256, fit mean and std of every (c, h, w) on the "
                     "training set, sum -log N over C, H, W, average over test images, / (3072 ln 2) + 8",
                     rtol=0.0, atol=0.03)

    return run_check("Exercise 4 (a Gaussian per pixel, in bits/dim)", trial)


def logistic_bin_log_probability_reference(loc: Tensor, scale: Tensor, v: Tensor) -> Tensor:
    """log P(v) of a logistic(loc, scale) put in 8-bit bins, by CDF differences in float64.

    The logistic is built as ``torch.distributions`` would: an affine map of logit(U), U ~ U(0, 1).
    """
    loc, scale = loc.double(), scale.double().expand_as(loc)
    uniform = Uniform(torch.zeros_like(loc), torch.ones_like(loc))
    base = TransformedDistribution(uniform, [SigmoidTransform().inv])
    cdf = TransformedDistribution(base, [AffineTransform(loc, scale)]).cdf
    upper = torch.where(v == 255, torch.ones_like(loc), cdf((v.double() + 1) / 256))
    lower = torch.where(v == 0, torch.zeros_like(loc), cdf(v.double() / 256))
    return torch.log(upper - lower)


def check_discretized_logistic(log_probability: Callable[[Tensor, Tensor, Tensor], Tensor]) -> str:
    """Exercise 5: log P(v) per value of a discretised logistic, end bins included."""
    generator = torch.Generator().manual_seed(4)
    v = torch.randint(0, 256, (2, 3, 32, 32), generator=generator)
    v[:, :, 0] = 0  # a row of each end bin: they take the tails
    v[:, :, 1] = 255
    x = (v + torch.rand(v.shape, generator=generator) * 0.99) / 256  # dequantised values in their bins
    x_hat = torch.rand(2, 3, 32, 32, generator=generator)
    # One s per channel, wide enough that F(upper) - F(lower) keeps its digits in float32 too.
    log_scale = torch.tensor([-1.6, -1.3, -1.0]).view(3, 1, 1)

    def trial() -> None:
        expected = logistic_bin_log_probability_reference(x_hat, log_scale.exp(), v).float()
        expect_close(log_probability(x_hat, log_scale, x), expected, "log P(v), (2, 3, 32, 32)",
                     "v = floor(256 x); P(v) = F((v + 1)/256) - F(v/256) with F(y) = sigmoid((y - x_hat)/s), "
                     "except F(0/256) -> 0 for v = 0 and F(256/256) -> 1 for v = 255", rtol=1e-4, atol=1e-3)

    return run_check("Exercise 5 (the discretised logistic)", trial)


def check_free_bits_kl(free_bits_kl: Callable[[Tensor, Tensor, float], Tensor]) -> str:
    """Exercise 6: the KL term of the free-bits objective, against ``torch.distributions.kl_divergence``."""
    generator = torch.Generator().manual_seed(5)
    mu = torch.randn(64, 6, generator=generator) * torch.tensor([0.05, 0.3, 0.8, 1.0, 1.5, 3.0])  # (64, 6)
    sigma = torch.rand(64, 6, generator=generator) * 0.6 + 0.5  # (64, 6), in [0.5, 1.1)

    def trial() -> None:
        for free_bits in (0.25, 1.0):
            per_unit = kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0)).mean(dim=0)  # (6,): batch means
            expect_close(free_bits_kl(mu, sigma, free_bits), per_unit.clamp(min=free_bits).sum(),
                         f"free-bits KL term with λ = {free_bits} (a number)",
                         "KL of each image and unit, averaged over the batch (dim 0) first, then max(λ, ·) "
                         "unit by unit, then summed over the units", rtol=1e-5, atol=1e-5)

    return run_check("Exercise 6 (the free-bits KL term)", trial)
