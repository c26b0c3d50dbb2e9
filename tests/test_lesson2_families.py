"""Lesson 2's likelihood-family machinery: draws from p(x|z), the Bernoulli's mass, the table."""

from __future__ import annotations

import math

import pytest
import torch

from vae_tutorial import VAE
from vae_tutorial.lessons.reconstruction_term import (
    bernoulli_mass,
    draw_from_likelihood,
    family_table,
    reconstructions,
)


def test_bernoulli_mass_is_the_integral_and_at_most_a_half():
    logits = torch.tensor([-30.0, -3.0, -1e-7, 0.0, 1e-9, 0.4, 5.0])
    grid = torch.linspace(0, 1, 200_001, dtype=torch.float64)
    p = torch.sigmoid(logits.double())
    integral = torch.trapezoid(p ** grid[:, None] * (1 - p) ** (1 - grid[:, None]), grid, dim=0)
    torch.testing.assert_close(bernoulli_mass(logits), integral, rtol=1e-7, atol=1e-10)
    assert (bernoulli_mass(torch.randn(10_000) * 10) <= 0.5).all()


def test_draws_follow_each_family():
    torch.manual_seed(0)
    x_hat = torch.full((64, 3, 32, 32), 0.3)
    generator = torch.Generator().manual_seed(1)
    gaussian = draw_from_likelihood("scalar", x_hat, torch.tensor(math.log(0.05)), generator)
    assert gaussian.mean().item() == pytest.approx(0.3, abs=2e-3)
    assert gaussian.std().item() == pytest.approx(0.05, rel=0.02)
    logits = torch.full((64, 3, 32, 32), math.log(0.2 / 0.8))  # p = 0.2
    bernoulli = draw_from_likelihood("bernoulli", logits, torch.tensor(0.0), generator)
    assert set(bernoulli.unique().tolist()) == {0.0, 1.0}
    assert bernoulli.mean().item() == pytest.approx(0.2, abs=0.01)
    logistic = draw_from_likelihood("logistic", x_hat, torch.full((3, 1, 1), math.log(0.02)), generator)
    on_centres = logistic * 256 - 0.5
    torch.testing.assert_close(on_centres, on_centres.round())  # 8-bit values, shown at their bins' centres
    # A logistic of scale s has standard deviation s π / √3.
    assert logistic.std().item() == pytest.approx(0.02 * math.pi / math.sqrt(3), rel=0.05)


def test_draws_and_reconstructions_refuse_bad_input():
    with pytest.raises(ValueError, match="likelihood must be one of"):
        draw_from_likelihood("bce", torch.zeros(1, 3, 32, 32), torch.tensor(0.0))
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        draw_from_likelihood("scalar", torch.zeros(3, 32, 32), torch.tensor(0.0))


def test_reconstructions_are_images_and_the_table_lists_every_family():
    torch.manual_seed(0)
    models = {name: VAE(latent_dim=4, backbone="small", likelihood=name).eval()
              for name in ("scalar", "bernoulli")}
    rows = reconstructions(models, torch.rand(2, 3, 32, 32))
    assert set(rows) == {"scalar", "bernoulli"}
    assert all(r.shape == (2, 3, 32, 32) and 0 <= r.min() and r.max() <= 1 for r in rows.values())
    results = {"scalar": {"elbo": 10.0, "kl": 2.0, "recon": 12.0, "bits_per_dim": 7.5},
               "bernoulli": {"elbo": -5.0, "kl": 1.0, "recon": -4.0, "bits_per_dim": 8.9}}
    table = family_table(results, {"bernoulli": "Bernoulli (BCE)"})
    assert "| scalar | 10 | 2.0 | 12 | 7.500 |" in table
    assert "| Bernoulli (BCE) | -5 | 1.0 | -4 | 8.900 |" in table
