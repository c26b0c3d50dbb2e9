"""Β, active units and posterior collapse (lesson 2).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

The KL term pulls every q(z|x) onto the prior; the reconstruction
term keeps the q of different images apart. When the KL wins, q(z|x) = p(z) for every x,
the code carries nothing about the image and the decoder learns to ignore z: posterior
collapse.

A latent unit u is *active* when its posterior mean moves with the image:
``Var_x(E_q[z_u | x]) > 0.01`` (Burda et al., "Importance Weighted Autoencoders", 2016).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from torch import Tensor

from vae_tutorial.checks import check_positive_number
from vae_tutorial.lessons.reconstruction_term.scales import train_small_vae
from vae_tutorial.lessons.shared.posteriors import active_units
from vae_tutorial.model import VAE, encode_images
from vae_tutorial.train import TrainConfig, evaluate


@dataclass
class SweepPoint:
    """One β of a sweep: the trained model and what it measures on held-out images."""

    beta: float  # weight of the KL term during training
    sigma: float  # the fixed decoder scale it was trained with
    model: VAE  # trained, in eval mode
    elbo: float  # held-out ELBO with beta = 1 (the true bound), nats per image
    kl: float  # held-out KL(q || p), nats per image
    recon: float  # held-out log p(x|z), nats per image
    active_units: int  # units with Var_x(E_q[z_u | x]) > 0.01
    collapsed: bool  # no active unit
    seconds: float  # training wall time

    @property
    def equivalent_sigma(self) -> float:
        """The σ that, with β = 1, trains to the same optimum: ``sigma * sqrt(beta)``."""
        return self.sigma * math.sqrt(self.beta)


def sweep_point(beta: float, sigma: float, images: Tensor, test_images: Tensor, config: TrainConfig,
                **train_options) -> SweepPoint:
    """Train a small VAE with KL weight ``beta`` and fixed scale ``sigma``; measure it on ``test_images``."""
    start = time.perf_counter()
    model, _ = train_small_vae(images, replace(config, beta=beta), fixed_sigma=sigma, **train_options)
    seconds = time.perf_counter() - start
    metrics = evaluate(model, test_images, beta=1.0)  # beta = 1: the true ELBO, whatever trained it
    units = int(active_units(encode_images(model, test_images).loc).sum())
    return SweepPoint(beta=beta, sigma=sigma, model=model, elbo=metrics["elbo"], kl=metrics["kl"],
                      recon=metrics["recon"], active_units=units, collapsed=units == 0, seconds=seconds)


def beta_sweep(betas: Sequence[float], images: Tensor, test_images: Tensor, config: TrainConfig,
               sigma: float = 0.1, **train_options) -> list[SweepPoint]:
    """One ``sweep_point`` per β, in increasing β (lesson 2's balance explorer).

    Args:
        betas: positive KL weights.
        images, test_images: ``uint8 (N, 3, 32, 32)`` training and held-out images.
        config: the training run of every β (its own ``beta`` is replaced by each of ``betas``).
        sigma: the decoder scale, fixed so that only β moves the balance.
        train_options: passed on to ``train_small_vae`` (latent_dim, seed, device, ...).
    """
    if len(betas) == 0:
        raise ValueError("betas must be a non-empty list of positive numbers, got an empty one")
    for beta in betas:
        check_positive_number(beta, "every beta")
    return [sweep_point(float(b), sigma, images, test_images, config, **train_options) for b in sorted(betas)]


def sweep_table(points: Sequence[SweepPoint]) -> str:
    """The sweep as a Markdown table: β, equivalent σ, KL, reconstruction, ELBO, active units, collapse."""
    lines = ["| β | same optimum as σ = | KL (nats) | recon (nats) | ELBO (nats) | active units "
             "| collapsed |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | :---: |"]
    for p in points:
        lines.append(f"| {p.beta:g} | {p.equivalent_sigma:.3g} | {p.kl:.1f} | {p.recon:.0f} | {p.elbo:.0f} "
                     f"| {p.active_units} / {p.model.latent_dim} | {'yes' if p.collapsed else 'no'} |")
    return "\n".join(lines)
