"""Solutions to the lessons' exercises, all in one place: try each exercise before you read its solution.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Each lesson ends with exercises: a function to write (its stub raises ``NotImplementedError``)
and a ``check_<name>`` call that says what is wrong. The functions below are the reference
answers, in the order of the lessons; the tests run every check against them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal

from vae_tutorial.elbo import log_mean_exp

# --- Lesson 1: the KL term (notebooks/01_kl_term.ipynb) -----------------------------------


# --- Lesson 2: the reconstruction term (notebooks/02_reconstruction_term.ipynb) -----------


# --- Lesson 3: training on CIFAR-10 (notebooks/03_train_on_cifar10.ipynb) -----------------


# --- Lesson 4: the latent space (notebooks/04_latent_space.ipynb) -------------------------


# --- Lesson 5: where the ELBO comes from (notebooks/05_the_elbo_gap.ipynb) -----------------


def log_evidence(x: Tensor, W: Tensor, b: Tensor, sigma: float) -> Tensor:
    """Exercise 1: log p(x) of probabilistic PCA, from its marginal N(b, W Wᵀ + σ² I): ``(N, D) -> (N,)``."""
    covariance = W @ W.T + sigma**2 * torch.eye(len(b), dtype=W.dtype)  # (D, D)
    return MultivariateNormal(b, covariance_matrix=covariance).log_prob(x)


def true_posterior(x: Tensor, w: Tensor, b: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """Exercise 2: mean ``(N,)`` and std of p(z|x) for z ~ N(0, 1), x|z ~ N(w z + b, σ² I)."""
    precision = 1 + (w @ w) / sigma**2  # 1/std²: the prior's 1 plus what x tells about z
    mean = ((x - b) @ w) / sigma**2 / precision  # (N,)
    return mean, 1 / math.sqrt(precision)


def prior_sampling_estimate(log_likelihood: Callable[[Tensor], Tensor], k: int) -> Tensor:
    """Exercise 3: log p(x) ≈ log mean_i p(x | z_i) with z_i ~ p(z) = N(0, 1), k samples."""
    z = torch.randn(k, dtype=torch.float64)  # (k,)
    return log_mean_exp(log_likelihood(z), dim=0)
