"""The aggregate posterior q(z) = mean over images of q(z|x), against the prior (lesson 5).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

The ELBO's KL term, averaged over N images, splits in two (Hoffman & Johnson, "ELBO
surgery", 2016): mean_n KL(q(z|x_n) ‖ p(z)) = I(x; z) + KL(q(z) ‖ p(z)), where x is uniform
over the images and I(x; z) ≤ log N is the information the code keeps about which image it
came from. The second term is what makes samples look worse than reconstructions: where
q(z) and p(z) differ, the decoder meets prior samples it never saw in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Normal

from vae_tutorial.checks import check_positive_int
from vae_tutorial.elbo import log_mean_exp
from vae_tutorial.lessons.shared.posteriors import kl_per_dimension


def aggregate_log_density(z: Tensor, q: Normal, chunk_size: int | None = None) -> Tensor:
    """log q(z) = log mean_n q(z | x_n) at ``z (S, L)``, for posteriors ``q`` over ``(N, L)``: ``(S,)``."""
    if z.dim() != 2 or z.shape[1] != q.loc.shape[1]:
        raise ValueError(f"z must be (S, {q.loc.shape[1]}), got shape {tuple(z.shape)}")
    chunk_size = chunk_size or max(1, 2**24 // q.loc.numel())  # (chunk, N, L) holds about 16 M numbers
    parts = []
    for block in z.split(chunk_size):
        log_q = q.log_prob(block[:, None, :]).sum(-1)  # (s, N): log q(z_s | x_n)
        parts.append(log_mean_exp(log_q, dim=1))  # (s,)
    return torch.cat(parts)


def sample_aggregate(q: Normal, generator: torch.Generator | None = None) -> Tensor:
    """One draw from each image's q(z|x): ``(N, L)``, together a sample of N from q(z)."""
    return q.loc + q.scale * torch.randn(q.loc.shape, generator=generator)


@dataclass
class Surgery:
    """ELBO surgery, nats per image; the two estimates use independent samples."""

    mean_kl: float  # mean_n KL(q(z|x_n) ‖ p(z)), closed form
    mutual_information: float  # I(x; z), Monte Carlo
    mutual_information_se: float
    aggregate_kl: float  # KL(q(z) ‖ p(z)), Monte Carlo
    aggregate_kl_se: float


def elbo_surgery(q: Normal, repeats: int = 4, seed: int = 0) -> Surgery:
    """Estimate I(x; z) and KL(q(z) ‖ p(z)) for posteriors ``q`` over ``(N, L)`` (float32 or 64).

    I: log q(z|x_n) - log q(z) at z ~ q(z|x_n); KL: log q(z) - log p(z) at fresh z ~ q(z);
    ``repeats`` draws per image for each.
    """
    check_positive_int(repeats, "repeats")
    generator = torch.Generator().manual_seed(seed)
    prior = Normal(torch.zeros_like(q.loc[0]), torch.ones_like(q.loc[0]))
    information, divergence = [], []
    for _ in range(repeats):
        z = sample_aggregate(q, generator)  # (N, L): z_n ~ q(z | x_n)
        information.append(q.log_prob(z).sum(-1) - aggregate_log_density(z, q))  # (N,)
        z = sample_aggregate(q, generator)  # fresh draws, independent of the ones above
        divergence.append(aggregate_log_density(z, q) - prior.log_prob(z).sum(-1))  # (N,)
    information, divergence = torch.cat(information), torch.cat(divergence)
    root = math.sqrt(len(information))
    return Surgery(float(kl_per_dimension(q).sum(-1).mean()), float(information.mean()),
                   float(information.std() / root), float(divergence.mean()), float(divergence.std() / root))


def moment_matched_kl(q: Normal) -> float:
    """KL(N(m, C) ‖ N(0, I)), C and m those of q(z): a lower bound on KL(q(z) ‖ p(z)).

    Because log p(z) is quadratic, E_q(z)[log p] = E_N(m,C)[log p], so KL(q(z) ‖ p) =
    KL(q(z) ‖ N(m, C)) + KL(N(m, C) ‖ p) ≥ the latter. m = mean of the posterior means;
    C = their covariance plus the mean posterior variance (the law of total variance).
    """
    loc = q.loc.double()
    m = loc.mean(0)  # (L,)
    C = torch.cov(loc.T, correction=0) + torch.diag((q.scale.double() ** 2).mean(0))  # (L, L)
    return float(0.5 * (torch.trace(C) + m @ m - len(m) - torch.logdet(C)))


def prior_holes(q: Normal, num_prior: int, count: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Draw ``num_prior`` z ~ p(z); the ``count`` where q(z)/p(z) is lowest and highest, and all log-ratios.

    Returns ``(holes (count, L), best (count, L), log_ratio (num_prior,))``. A hole is a place
    the prior sends samples to and (almost) no image's code lies: the decoder never learnt it.
    """
    check_positive_int(num_prior, "num_prior")
    check_positive_int(count, "count")
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(num_prior, q.loc.shape[1], generator=generator, dtype=q.loc.dtype)
    log_ratio = aggregate_log_density(z, q) - Normal(0.0, 1.0).log_prob(z).sum(-1)  # (num_prior,)
    order = torch.argsort(log_ratio)
    return z[order[:count]], z[order[-count:].flip(0)], log_ratio


def marginal_kl_on_grid(q: Normal, points: int = 4001, limit: float = 8.0) -> Tensor:
    """KL(q(z_d) ‖ N(0, 1)) of every dimension's marginal, by the trapezoid rule on ``points`` in ±``limit``.

    ``q`` over ``(N, L)`` -> ``(L,)`` nats. q(z_d) is a mixture of N one-dimensional Gaussians,
    so on a fine grid this is exact to many digits. As p(z) factorises, KL(q(z) ‖ p(z)) is
    their sum plus the total correlation of q(z), which is never negative: the sum is a floor.
    """
    z = torch.linspace(-limit, limit, points, dtype=torch.float64)  # (points,)
    prior_log_density = Normal(0.0, 1.0).log_prob(z)
    kls = []
    for loc, scale in zip(q.loc.double().T, q.scale.double().T, strict=True):  # one dimension: (N,) each
        log_density = log_mean_exp(Normal(loc[:, None], scale[:, None]).log_prob(z), dim=0)  # (points,)
        kls.append(torch.trapezoid(log_density.exp() * (log_density - prior_log_density), z))
    return torch.stack(kls)
