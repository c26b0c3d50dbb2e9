"""Likelihood families side by side: what each p(x|z) claims an image is (lesson 2, section 5).

Lesson machinery: a learner need not read it (the families themselves are ``vae_tutorial/likelihoods.py``).

* ``draw_from_likelihood``: one image x ~ p(x|z) for a family: a Gaussian adds noise of std σ, a
  Bernoulli gives every value 0 or 1, a discretised logistic gives 8-bit values;
* ``bernoulli_mass``: how much probability a Bernoulli "density" puts on [0, 1], per value;
* ``family_table``: the families' held-out numbers as a Markdown table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from vae_tutorial.likelihoods import LIKELIHOOD_SCALE_SHAPES, as_image
from vae_tutorial.machinery.tensor_checks import check_image_shape


def check_family(likelihood: str) -> None:
    if likelihood not in LIKELIHOOD_SCALE_SHAPES:
        raise ValueError(f"likelihood must be one of {list(LIKELIHOOD_SCALE_SHAPES)}, got {likelihood!r}")


@torch.no_grad()
def draw_from_likelihood(likelihood: str, x_hat: Tensor, log_scale: Tensor,
                         generator: torch.Generator | None = None, uniforms: Tensor | None = None) -> Tensor:
    """One image ``x ~ p(x|z)`` per decoder output ``x_hat (B, 3, 32, 32)``, float32 in [0, 1].

    By inverting each family's CDF at u ~ U(0, 1): a Gaussian x_hat + σ Φ⁻¹(u) (clamped to
    [0, 1] to be shown), a Bernoulli [u < sigmoid(x_hat)], a logistic x_hat + s logit(u) put in
    its 8-bit bin (the value shown is the bin's centre). ``uniforms``: the u to use (an explorer
    keeps them fixed, so that only the scale moves its samples); else drawn with ``generator``.
    """
    check_family(likelihood)
    check_image_shape(x_hat, "x_hat")
    x_hat = x_hat.float()
    if uniforms is None:
        uniforms = torch.rand(x_hat.shape, generator=generator, device=x_hat.device)
    u = uniforms.clamp(1e-6, 1 - 1e-6)
    if likelihood == "bernoulli":
        return (u < torch.sigmoid(x_hat)).float()  # every value is 0 or 1
    scale = log_scale.detach().float().exp()
    if likelihood == "logistic":
        values = x_hat + scale * torch.logit(u)  # the logistic's inverse CDF
        return ((values * 256).floor().clamp(0, 255) + 0.5) / 256  # its 8-bit bin
    return (x_hat + scale * math.sqrt(2) * torch.erfinv(2 * u - 1)).clamp(0, 1)  # Φ⁻¹(u) = √2 erfinv(2u - 1)


def bernoulli_mass(logits: Tensor) -> Tensor:
    """``∫_0^1 p^x (1 - p)^(1 - x) dx = (2p - 1) / logit(p)``, p = sigmoid(logits), elementwise, float64.

    A density would give 1; this is at most 1/2 (at p = 1/2), so "BCE" on [0, 1] pixels is not
    a density of them. Computed as tanh(l / 2) / l (2p - 1 = tanh(l / 2)): no cancellation near l = 0.
    """
    logits = logits.double()
    at_zero = logits == 0
    ratio = torch.tanh(logits / 2) / torch.where(at_zero, torch.ones_like(logits), logits)
    return torch.where(at_zero, torch.full_like(logits, 0.5), ratio)


def reconstructions(models: Mapping[str, torch.nn.Module], x: Tensor) -> dict[str, Tensor]:
    """Each model's reconstruction of ``x (B, 3, 32, 32)`` (decoded from the posterior mean), as images."""
    rows = {}
    with torch.no_grad():
        for name, model in models.items():
            rows[name] = as_image(model.config.likelihood, model.decode(model.encode(x).loc)).cpu()
    return rows


def family_table(results: Mapping[str, Mapping[str, float]], names: Mapping[str, str]) -> str:
    """``results[likelihood]`` (``evaluate``'s dict) as a Markdown table of held-out numbers."""
    lines = ["| p(x\\|z) | ELBO (nats per image) | KL (nats) | log p(x\\|z) (nats) | \"bits/dim\" |",
             "| :--- | ---: | ---: | ---: | ---: |"]
    for likelihood, r in results.items():
        name = names.get(likelihood, likelihood)
        bits = r["bits_per_dim"]
        lines.append(f"| {name} | {r['elbo']:.0f} | {r['kl']:.1f} | {r['recon']:.0f} | {bits:.3f} |")
    return "\n".join(lines)
