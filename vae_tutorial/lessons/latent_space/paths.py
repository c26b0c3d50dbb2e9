"""Paths through z, and where they sit under the prior (lesson 4).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Linear and spherical interpolation between two codes, and the chi-square law of the prior's
norms: in D dimensions almost every draw from N(0, I) lies near the sphere of radius sqrt(D).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Chi2

from vae_tutorial.checks import check_positive_int, is_integer


def check_endpoints(z0: Tensor, z1: Tensor, steps: int) -> None:
    if z0.dim() != 1 or z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must be two vectors of the same size, "
                         f"got shapes {tuple(z0.shape)} and {tuple(z1.shape)}")
    if not is_integer(steps) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (both ends included), got {steps!r}")


def lerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Linear interpolation ``z0 + t (z1 - z0)``, t evenly spaced in [0, 1]: ``(D,), (D,) -> (steps, D)``."""
    check_endpoints(z0, z1, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]  # (steps, 1)
    return z0 + t * (z1 - z0)


def slerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Spherical interpolation along the great circle from ``z0`` to ``z1``: ``(D,), (D,) -> (steps, D)``.

    ``sin((1-t) w) / sin(w) z0 + sin(t w) / sin(w) z1`` with ``w`` the angle between them
    (Shoemake 1985; White 2016 for generative models). For two vectors of equal norm the
    norm stays constant along the path, where the linear path cuts inside the sphere.
    Parallel vectors (``w`` = 0) give the straight line, the formula's limit.
    """
    check_endpoints(z0, z1, steps)
    norms = z0.norm() * z1.norm()
    if norms == 0:
        raise ValueError("slerp needs two non-zero vectors: the angle to a zero vector is undefined")
    omega = torch.arccos(torch.clamp(z0 @ z1 / norms, -1.0, 1.0))  # angle between z0 and z1
    if torch.sin(omega) < 1e-6:
        if omega > 1.0:
            raise ValueError("z0 and z1 point in opposite directions: no unique great circle joins them")
        return lerp(z0, z1, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]  # (steps, 1)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def prior_norm_quantile(z: Tensor) -> Tensor:
    """Where the norm of each z falls among draws from the prior N(0, I): ``(n, D) -> (n,)`` in [0, 1].

    Under N(0, I) in D dimensions ``||z||^2`` follows a chi-square with D degrees of freedom,
    so almost every draw lies near the sphere of radius sqrt(D). A quantile near 0 means
    "closer to the origin than almost every sample of the prior".
    """
    if z.dim() != 2:
        raise ValueError(f"z must be (n, D), got shape {tuple(z.shape)}")
    return Chi2(torch.tensor(float(z.shape[1]))).cdf(z.pow(2).sum(dim=1))


def prior_norm_band(latent_dim: int, mass: float = 0.99) -> tuple[float, float]:
    """The central ``mass`` of the prior's norms ``||z||``, z ~ N(0, I_latent_dim): ``(low, high)``."""
    check_positive_int(latent_dim, "latent_dim")
    if not 0 < mass < 1:
        raise ValueError(f"mass must be in (0, 1), got {mass!r}")
    tail = (1 - mass) / 2
    return (math.sqrt(chi2_quantile(latent_dim, tail)), math.sqrt(chi2_quantile(latent_dim, 1 - tail)))


def chi2_quantile(dof: int, probability: float) -> float:
    """The ``probability`` quantile of a chi-square with ``dof`` degrees of freedom.

    PyTorch has the chi-square's cdf but not its inverse, so bisect on the cdf.
    """
    chi2 = Chi2(torch.tensor(float(dof), dtype=torch.float64))
    low, high = 0.0, dof + 20.0 * math.sqrt(2.0 * dof) + 20.0  # the cdf is 1 to float precision there
    for _ in range(60):  # 60 halvings: the interval ends far below float precision
        middle = (low + high) / 2
        if chi2.cdf(torch.tensor(middle, dtype=torch.float64)) < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2


