"""The checks of lesson 5's exercises (``notebooks/05_the_elbo_gap.ipynb``).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Each ``check_<name>(their_function)`` runs the learner's function on inputs of its own and
compares with an independent answer (``lessons.shared.exercises``); the solutions are in
``vae_tutorial.lessons.solutions``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Normal

from vae_tutorial.lessons.elbo_gap.ppca import PPCA
from vae_tutorial.lessons.shared.exercises import expect_close, run_check


def random_ppca(dims: int, latent_dim: int, seed: int) -> tuple[PPCA, Tensor]:
    """A pPCA with random W, b, σ and 5 points drawn from it: ``(model, x (5, dims))``."""
    generator = torch.Generator().manual_seed(seed)
    W = torch.randn(dims, latent_dim, generator=generator, dtype=torch.float64)
    b = torch.randn(dims, generator=generator, dtype=torch.float64)
    sigma = 0.3 + torch.rand((), generator=generator).item()
    z = torch.randn(5, latent_dim, generator=generator, dtype=torch.float64)
    x = z @ W.T + b + sigma * torch.randn(5, dims, generator=generator, dtype=torch.float64)
    return PPCA(W, b, sigma), x


def check_log_evidence(log_evidence: Callable[..., Tensor]) -> str:
    """Exercise 1: ``log_evidence(x (N, D), W (D, L), b (D,), sigma) -> (N,)``, log p(x) of a pPCA."""

    def trial() -> None:
        for dims, latent_dim, seed in ((3, 1, 0), (5, 2, 1)):
            model, x = random_ppca(dims, latent_dim, seed)
            expect_close(log_evidence(x, model.W, model.b, model.sigma), model.log_evidence(x),
                         f"log p(x) of a pPCA with D = {dims}, L = {latent_dim}",
                         "the marginal of x is N(b, W Wᵀ + σ² I): MultivariateNormal(b, "
                         "covariance_matrix=...).log_prob(x)", rtol=1e-6, atol=1e-6)

    return run_check("Exercise 1 (log p(x) of probabilistic PCA)", trial)


def check_true_posterior(true_posterior: Callable[..., tuple[Tensor, Tensor]]) -> str:
    """Exercise 2: ``true_posterior(x (N, D), w (D,), b (D,), sigma) -> (mean (N,), std)``, 1-d z."""

    def trial() -> None:
        model, x = random_ppca(4, 1, 2)
        mean, std = true_posterior(x, model.W[:, 0], model.b, model.sigma)
        exact = model.posterior(x)
        hint = "p(z|x) ∝ p(x|z) p(z): both are Gaussian in z; collect the z² and z terms"
        expect_close(mean, exact.mean[:, 0], "the posterior means", hint, rtol=1e-6, atol=1e-8)
        expect_close(torch.as_tensor(std, dtype=torch.float64).expand(len(x)), exact.stddev[:, 0],
                     "the posterior standard deviation", hint + " (it is the same for every x)",
                     rtol=1e-6, atol=1e-8)

    return run_check("Exercise 2 (the true posterior of a 1-d pPCA)", trial)


def check_prior_sampling_estimate(prior_sampling_estimate: Callable[[Callable[[Tensor], Tensor], int], Tensor]
                                  ) -> str:
    """Exercise 3: ``prior_sampling_estimate(log_likelihood, k)``: log mean_i p(x | z_i), z_i ~ N(0, 1).

    Checked on a likelihood whose evidence is known: log p(x|z) = log N(c; z, s²) gives
    p(x) = N(c; 0, 1 + s²). 200,000 samples put the estimate within 0.02 nats of it.
    """

    def log_likelihood(z: Tensor) -> Tensor:
        return Normal(z, 0.5).log_prob(torch.tensor(1.0, dtype=z.dtype))  # (k,)

    def trial() -> None:
        torch.manual_seed(0)
        estimate = prior_sampling_estimate(log_likelihood, 200_000)
        exact = Normal(0.0, math.sqrt(1.25)).log_prob(torch.tensor(1.0))
        expect_close(torch.as_tensor(estimate, dtype=torch.float64).reshape(()), exact,
                     "the estimate of log p(x) with 200,000 prior samples",
                     "draw z ~ N(0, 1), then log of the MEAN of p(x|z) (not the mean of log p(x|z)): "
                     "vae_tutorial.elbo.log_mean_exp", rtol=0.0, atol=0.02)

    return run_check("Exercise 3 (estimating log p(x) with samples from the prior)", trial)
