"""Statistics of many posteriors q(z|x) at once.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Lessons 2 to 5 ask the same questions of a data set's posteriors (``vae_tutorial.encode_images``):
how many nats each latent dimension costs, which dimensions are in use, which the most.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Normal, kl_divergence

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: variance of the posterior mean over the data


def kl_per_dimension(q: Normal) -> Tensor:
    """KL(q(z_d|x) || N(0, 1)) of every dimension, elementwise: ``q`` over ``(..., D)`` -> ``(..., D)`` nats.

    The closed form ``-log σ + (σ² + μ² - 1) / 2`` (lesson 1), zero exactly when μ = 0 and
    σ = 1. A diagonal Normal's KL is the sum of these over d: the ELBO's KL term.
    """
    return kl_divergence(q, Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale)))


def active_units(q_loc: Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> Tensor:
    """Which dimensions are active: ``Var_x(E_q[z_d | x]) > threshold`` (Burda et al. 2016).

    Args:
        q_loc: ``(N, latent_dim)`` posterior means of N >= 2 images.
    Returns:
        ``(latent_dim,)`` booleans. An inactive dimension has the same posterior mean for
        every image, so it tells the decoder nothing about the image; when no dimension is
        active the posterior has collapsed (lesson 2).
    """
    if q_loc.dim() != 2 or len(q_loc) < 2:
        raise ValueError(f"q_loc must be (N, latent_dim) posterior means with N >= 2, "
                         f"got shape {tuple(q_loc.shape)}")
    return q_loc.var(dim=0) > threshold


def dimensions_by_kl(kl: Tensor) -> Tensor:
    """Dimension indices sorted by their KL, most used first: ``(latent_dim,)`` -> ``(latent_dim,)``."""
    return torch.argsort(kl, descending=True)
