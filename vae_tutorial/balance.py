"""The balance between the KL and the reconstruction term: β, active units, posterior collapse.

Introduced in lesson 2. The KL term pulls every q(z|x) onto the prior; the reconstruction
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
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from vae_tutorial.data import check_uint8_images, to_unit_interval
from vae_tutorial.elbo import evaluating
from vae_tutorial.model import VAE
from vae_tutorial.scales import train_small_vae
from vae_tutorial.train import evaluate

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: variance of the posterior mean over the data


@torch.no_grad()
def encode_images(model: nn.Module, images: Tensor, batch_size: int = 256) -> Normal:
    """q(z|x) of every image, in eval mode: ``uint8 (N, 3, 32, 32)`` -> Normal over ``(N, latent_dim)``.

    Pixels are taken at the centres of their 8-bit bins (no dequantisation noise), so the
    same images always give the same posteriors. The result is float32, on the CPU.
    Lessons 2 to 4 study posteriors of whole data sets through it.
    """
    check_uint8_images(images, "images")
    locs, scales = [], []
    with evaluating(model) as vae:
        device = vae.prior_loc.device
        for start in range(0, len(images), batch_size):
            x = to_unit_interval(images[start:start + batch_size].to(device), dequantize=False)
            q = vae.encode(x)  # Normal over (b, latent_dim)
            locs.append(q.loc.float().cpu())
            scales.append(q.scale.float().cpu())
    return Normal(torch.cat(locs), torch.cat(scales))  # (N, latent_dim)


def posterior_means(model: VAE, images: Tensor, batch_size: int = 512) -> Tensor:
    """E_q[z | x] of every image: ``uint8 (N, 3, 32, 32) -> (N, latent_dim)``, in eval mode."""
    return encode_images(model, images, batch_size).loc  # (N, latent_dim)


def unit_activity(model: VAE, images: Tensor) -> Tensor:
    """Variance over the images of each unit's posterior mean: ``(latent_dim,)``."""
    if len(images) < 2:
        raise ValueError(f"unit activity is a variance over images: give at least 2, got {len(images)}")
    return posterior_means(model, images).var(dim=0)  # (latent_dim,)


def active_units(model: VAE, images: Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """How many latent units have ``Var_x(E_q[z_u | x]) > threshold`` on ``images`` (uint8)."""
    return int((unit_activity(model, images) > threshold).sum())


def is_posterior_collapsed(model: VAE, images: Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> bool:
    """True when no latent unit is active: q(z|x) is (nearly) the same for every image."""
    return active_units(model, images, threshold) == 0


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


def sweep_point(beta: float, sigma: float, images: Tensor, test_images: Tensor,
                **train_options) -> SweepPoint:
    """Train a small VAE with KL weight ``beta`` and fixed scale ``sigma``; measure it on ``test_images``."""
    start = time.perf_counter()
    model, _ = train_small_vae(images, fixed_sigma=sigma, beta=beta, **train_options)
    seconds = time.perf_counter() - start
    metrics = evaluate(model, test_images, beta=1.0)  # beta = 1: the true ELBO, whatever trained it
    units = active_units(model, test_images)
    return SweepPoint(beta=beta, sigma=sigma, model=model, elbo=metrics["elbo"], kl=metrics["kl"],
                      recon=metrics["recon"], active_units=units, collapsed=units == 0, seconds=seconds)


def beta_sweep(betas: Sequence[float], images: Tensor, test_images: Tensor, sigma: float = 0.1,
               **train_options) -> list[SweepPoint]:
    """One ``sweep_point`` per β, in increasing β (lesson 2's balance explorer).

    Args:
        betas: positive KL weights.
        images, test_images: ``uint8 (N, 3, 32, 32)`` training and held-out images.
        sigma: the decoder scale, fixed so that only β moves the balance.
        train_options: passed on to ``train_small_vae`` (epochs, batch_size, seed, ...).
    """
    if len(betas) == 0 or any(not b > 0 for b in betas):
        raise ValueError(f"betas must be a non-empty list of positive numbers, got {list(betas)!r}")
    return [sweep_point(float(b), sigma, images, test_images, **train_options) for b in sorted(betas)]


def sweep_table(points: Sequence[SweepPoint]) -> str:
    """The sweep as a Markdown table: β, equivalent σ, KL, reconstruction, ELBO, active units, collapse."""
    lines = ["| β | same optimum as σ = | KL (nats) | recon (nats) | ELBO (nats) | active units "
             "| collapsed |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | :---: |"]
    for p in points:
        lines.append(f"| {p.beta:g} | {p.equivalent_sigma:.3g} | {p.kl:.1f} | {p.recon:.0f} | {p.elbo:.0f} "
                     f"| {p.active_units} / {p.model.latent_dim} | {'yes' if p.collapsed else 'no'} |")
    return "\n".join(lines)
