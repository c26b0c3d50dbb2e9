"""Solutions to the lessons' exercises, all in one place: try each exercise before you read its solution.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Each lesson ends with exercises: a function to write (its stub raises ``NotImplementedError``)
and a ``check_<name>`` call that says what is wrong. The functions below are the reference
answers, in the order of the lessons; the tests run every check against them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Normal

# --- Lesson 1: the KL term (notebooks/01_kl_term.ipynb) -----------------------------------


# --- Lesson 2: the reconstruction term (notebooks/02_reconstruction_term.ipynb) -----------


# --- Lesson 3: training on CIFAR-10 (notebooks/03_train_on_cifar10.ipynb) -----------------


def dimensions_in_use(track, threshold: float = 0.1) -> int:
    """Exercise 1: dimensions whose KL after the last record, mean over the images, exceeds ``threshold``."""
    loc, scale = track.locs[-1], track.scales[-1]  # (images, latent_dim)
    kl = -torch.log(scale) + (scale**2 + loc**2 - 1) / 2  # closed-form KL(q(z_d|x) || N(0, 1))
    return int((kl.mean(dim=0) > threshold).sum())


def iwae_from_log_weights(log_w: Tensor) -> Tensor:
    """Exercise 2: ``log (1/k) sum_i exp(log_w_i)`` of each image, ``(k, B) -> (B,)``, without overflow."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def learned_log_scale(x: Tensor, x_hat: Tensor, lr: float, steps: int) -> float:
    """Exercise 3: log σ after ``steps`` Adam steps of size ``lr`` from 0, the decoder output fixed."""
    log_scale = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.Adam([log_scale], lr=lr)
    for _ in range(steps):
        loss = -Normal(x_hat, log_scale.exp()).log_prob(x).sum()  # -log p(x|z) with the decoder fixed
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return log_scale.item()


# --- Lesson 4: the latent space (notebooks/04_latent_space.ipynb) -------------------------


def circular_linear_correlation(z: Tensor, hue: Tensor) -> float:
    """Exercise 1: Mardia's correlation between values ``z (N,)`` and hues in [0, 1) ``(N,)``, in [0, 1]."""
    angle = 2 * math.pi * hue

    def r(a: Tensor, b: Tensor) -> Tensor:
        return torch.corrcoef(torch.stack([a, b]))[0, 1]

    r_zc, r_zs, r_cs = r(z, angle.cos()), r(z, angle.sin()), r(angle.cos(), angle.sin())
    return math.sqrt((r_zc**2 + r_zs**2 - 2 * r_zc * r_zs * r_cs) / (1 - r_cs**2))


def mutual_information_gap(information: Tensor) -> float:
    """Exercise 2: mean over factors (rows of ``(factors, dims)``) of the best minus the second-best score."""
    two_best = information.topk(2, dim=1).values  # (factors, 2)
    return (two_best[:, 0] - two_best[:, 1]).mean().item()


def dimensions_for_share(kl: Tensor, share: float) -> int:
    """Exercise 3: fewest dimensions, most used first, whose KLs ``(latent_dim,)`` reach ``share`` of all."""
    cumulative = torch.cumsum(kl.sort(descending=True).values, dim=0)
    return int((cumulative < share * kl.sum() - 1e-6).sum().item()) + 1


def midpoint_inside_share(dim: int, pairs: int = 4000) -> float:
    """Exercise 4: share of midpoints of ``pairs`` prior-draw pairs closer to 0 than 99.5 % of prior draws.

    The 0.5 % quantile of the prior's norms is measured here too, on 50,000 fresh draws (in the
    notebook, ``lesson.prior_norm_band(dim)[0]`` gives it exactly).
    """
    a, b = torch.randn(2, pairs, dim)  # two (pairs, dim) batches of draws from N(0, I)
    threshold = torch.quantile(torch.randn(50_000, dim).norm(dim=1), 0.005)  # 0.5 % of prior norms lie below
    return ((a + b) / 2).norm(dim=1).lt(threshold).float().mean().item()
