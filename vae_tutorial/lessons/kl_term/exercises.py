"""Checks of lesson 1's exercises (``notebooks/01_kl_term.ipynb``): each says what is wrong.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Every check calls the learner's function on inputs of its own and compares with an answer
computed independently (``torch.distributions``, autograd, a closed-form variance). The
solutions are in ``vae_tutorial.lessons.solutions`` (Lesson 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Normal, kl_divergence

from vae_tutorial.lessons.kl_term.experiments import DescentSettings, QDescent, example_posterior
from vae_tutorial.lessons.shared.exercises import ExerciseError, expect_close, run_check


def check_kl_normal_vs_standard(kl_normal_vs_standard: Callable[[Tensor, Tensor], Tensor]) -> str:
    """Exercise 1: the closed-form KL(N(mu, sigma²) || N(0, 1)), elementwise, against ``kl_divergence``."""
    mu, sigma = torch.meshgrid(torch.linspace(-3, 3, 13), torch.logspace(-1, 1, 9), indexing="ij")  # (13, 9)

    def trial() -> None:
        expected = kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0))  # (13, 9)
        expect_close(kl_normal_vs_standard(mu, sigma), expected, "KL(N(mu, sigma²) || N(0, 1)) on a grid",
                     "E_q[log q] = -log sigma - 1/2 - log sqrt(2 pi); "
                     "E_q[log p] = -(sigma² + mu²)/2 - log sqrt(2 pi)",
                     rtol=1e-4, atol=1e-5)

    return run_check("Exercise 1 (closed-form KL)", trial)


def log_ratio_variance(mu: float, sigma: float) -> float:
    """Var over z ~ N(mu, sigma²) of log q(z) - log N(z; 0, 1): ``(sigma² - 1)²/2 + mu² sigma²``."""
    return (sigma**2 - 1) ** 2 / 2 + mu**2 * sigma**2


def check_samples_needed(samples_needed: Callable[[float, float, float], int]) -> str:
    """Exercise 2: samples for a standard error of ``target``; checked by formula and by measuring it."""
    cases = [(2.0, 4.0, 0.05), (0.5, 0.3, 0.01), (-1.0, 1.0, 0.02), (0.0, 1.0, 0.05)]

    def trial() -> None:
        for mu, sigma, target in cases:
            expected = max(1, math.ceil(log_ratio_variance(mu, sigma) / target**2))
            got = samples_needed(mu, sigma, target)
            if not isinstance(got, int) or abs(got - expected) > max(1, 0.01 * expected):
                raise ExerciseError(f"samples_needed({mu}, {sigma}, {target}): expected about {expected:,}, "
                                    f"got {got!r}. Hint: standard error = sqrt(Var / n), and "
                                    "Var[log q - log p] has two parts, one from eps² and one from eps")
        q, p = Normal(2.0, 4.0), Normal(0.0, 1.0)
        n = samples_needed(2.0, 4.0, 0.05)
        z = q.sample((n,))  # (n,) draws from q
        measured = ((q.log_prob(z) - p.log_prob(z)).std() / math.sqrt(n)).item()
        expect_close(measured, 0.05, f"measured standard error with your {n:,} samples of q = N(2, 4²)",
                     "the number of samples is Var / target², rounded up", rtol=0.1)

    return run_check("Exercise 2 (samples needed)", trial)


def check_gradient_step(gradient_step: Callable[[float, float, Tensor, float], tuple[float, float]]) -> str:
    """Exercise 3: one step on the Monte-Carlo KL without autograd, against ``QDescent`` (autograd)."""
    settings = DescentSettings(loc=1.5, scale=0.5, lr=0.1, samples_per_step=16, seed=7)

    def trial() -> None:
        reference = QDescent(settings)
        reference.step()
        eps = torch.randn(16, generator=torch.Generator().manual_seed(7))  # the noise QDescent drew
        got = gradient_step(1.5, math.log(0.5), eps, 0.1)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise ExerciseError(f"gradient_step: expected a pair (new mu, new log sigma), got {got!r}. "
                                "Hint: return mu - lr * grad_mu, log_sigma - lr * grad_log_sigma")
        hint = ("z = mu + sigma * eps moves with mu (dz/dmu = 1) and with log sigma "
                "(dz/dlog sigma = sigma * eps); log q(z) = -log sigma - eps²/2 + const")
        expect_close(got[0], reference.locs[1], "new mu", hint, rtol=1e-5, atol=1e-5)
        expect_close(got[1], math.log(reference.scales[1]), "new log sigma", hint, rtol=1e-5, atol=1e-5)

    return run_check("Exercise 3 (a gradient step by hand)", trial)


def predicted_relative_spread(latent_dim: int, batch_size: int) -> float:
    """Std of the batch-mean one-sample KL of ``example_posterior(latent_dim)``, relative to the KL."""
    q = example_posterior(latent_dim)
    variance = ((q.scale**2 - 1) ** 2 / 2 + q.loc**2 * q.scale**2).sum().item()  # summed over dimensions
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum().item()
    return math.sqrt(variance / batch_size) / kl


def check_relative_spread(relative_spread: Callable[[Normal, int, int], float]) -> str:
    """Exercise 4 (an experiment): measured relative spread against its closed form, three settings."""

    def trial() -> None:
        torch.manual_seed(0)
        for latent_dim, batch_size in [(16, 1), (256, 1), (256, 16)]:
            got = relative_spread(example_posterior(latent_dim), batch_size, 2000)
            expect_close(got, predicted_relative_spread(latent_dim, batch_size),
                         f"relative spread, latent_dim={latent_dim}, batch_size={batch_size}, 2000 repeats",
                         "draw (repeats, batch_size, latent_dim) z from q, sum log q - log p over the "
                         "latent, average over the batch, divide the std over repeats by the closed-form KL",
                         rtol=0.12)

    return run_check("Exercise 4 (relative spread against latent size)", trial)
