"""The ELBO terms against independent computations (closed forms, hand-written formulas)."""

import math

import pytest
import torch
from torch.distributions import Laplace, Normal

from vae_tutorial import (
    VAE,
    bits_per_dim,
    elbo,
    gaussian_log_likelihood,
    iwae_bound,
    kl_analytic,
    kl_monte_carlo,
)
from vae_tutorial.elbo import sum_over_non_batch
from vae_tutorial.model import evaluating


def closed_form_kl_normal(mu_q, std_q, mu_p, std_p):
    """KL(N(mu_q, std_q^2) || N(mu_p, std_p^2)) per element, written out by hand."""
    return (torch.log(std_p / std_q) + (std_q**2 + (mu_q - mu_p) ** 2) / (2 * std_p**2) - 0.5)


def random_normal(batch=8, dim=5):
    return Normal(torch.randn(batch, dim), torch.rand(batch, dim) + 0.3)


def test_sum_over_non_batch_keeps_batch_and_sums_the_rest():
    values = torch.arange(24.0).view(2, 3, 4)
    assert torch.equal(sum_over_non_batch(values), torch.tensor([66.0, 210.0]))
    assert torch.equal(sum_over_non_batch(torch.ones(5)), torch.ones(5))


def test_kl_analytic_matches_the_closed_form():
    q, p = random_normal(), Normal(torch.zeros(5), torch.ones(5))
    expected = closed_form_kl_normal(q.loc, q.scale, p.loc, p.scale).sum(-1)
    torch.testing.assert_close(kl_analytic(q, p), expected, rtol=1e-5, atol=1e-5)


def test_kl_monte_carlo_averages_to_the_closed_form():
    q, p = random_normal(batch=4, dim=3), Normal(torch.tensor(0.5), torch.tensor(1.5))
    z = q.sample((200_000,))  # (S, 4, 3)
    per_sample = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # (S, 4)
    # kl_monte_carlo on one draw per example, repeated: its mean is the KL.
    estimate = torch.stack([kl_monte_carlo(z[s], q, p) for s in range(2000)]).mean(0)
    exact = kl_analytic(q, p)
    torch.testing.assert_close(per_sample.mean(0), exact, rtol=0.02, atol=0.02)
    # 2,000 draws: the standard error is below 0.1 nats for these distributions.
    torch.testing.assert_close(estimate, exact, rtol=0.0, atol=0.15)


def test_kl_monte_carlo_is_distribution_agnostic():
    q, p = Laplace(torch.tensor([2.0]), torch.tensor([0.5])), Normal(0.0, 1.0)
    z = q.sample((100_000,))  # (S, 1): one example per row
    estimate = kl_monte_carlo(z, q, p).mean()
    # Numerical integral of q log(q/p) on a fine grid: an independent computation.
    grid = torch.linspace(-10, 14, 200_001)
    q_density = q.log_prob(grid[:, None]).exp().squeeze(1)
    integrand = q_density * (q.log_prob(grid[:, None]).squeeze(1) - p.log_prob(grid))
    integral = torch.trapezoid(integrand, grid)
    assert abs(estimate.item() - integral.item()) < 0.03
    with pytest.raises(NotImplementedError):
        kl_analytic(q, torch.distributions.StudentT(3.0))


@pytest.mark.parametrize("scale_shape", [(), (3, 1, 1), (3, 32, 32)])
def test_gaussian_log_likelihood_matches_the_formula(scale_shape):
    x = torch.rand(2, 3, 32, 32)
    x_hat = torch.rand(2, 3, 32, 32)
    log_scale = torch.randn(scale_shape) * 0.3
    sigma = torch.exp(log_scale).expand(3, 32, 32)
    by_hand = (-0.5 * math.log(2 * math.pi) - torch.log(sigma) - (x - x_hat) ** 2 / (2 * sigma**2))
    expected = by_hand.sum(dim=(1, 2, 3)).double()
    torch.testing.assert_close(gaussian_log_likelihood(x_hat, log_scale, x).double(), expected,
                               rtol=1e-5, atol=1e-3)


def test_gaussian_log_likelihood_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_log_likelihood(torch.zeros(2, 3, 32, 32), torch.tensor(0.0), torch.zeros(2, 1, 28, 28))


def test_bits_per_dim_known_cases():
    # A uniform density on [0, 1]^D has log-likelihood 0: exactly 8 bits per dimension.
    assert bits_per_dim(0.0) == 8.0
    # One nat per dimension less likely: 1 / ln 2 bits more.
    assert bits_per_dim(3072.0) == pytest.approx(8.0 + 1 / math.log(2))
    assert torch.is_tensor(bits_per_dim(torch.tensor([0.0, 100.0])))
    with pytest.raises(ValueError):
        bits_per_dim(1.0, dims=0)


def test_elbo_terms_have_per_example_shapes_and_add_up(small_vae):
    x = torch.rand(6, 3, 32, 32)
    terms = elbo(small_vae, x, beta=0.5)
    for value in (terms.recon, terms.kl, terms.elbo):
        assert value.shape == (6,)
    torch.testing.assert_close(terms.elbo, terms.recon - 0.5 * terms.kl)
    torch.testing.assert_close(terms.loss, -terms.elbo.mean())


@pytest.mark.parametrize("bad, error, message", [
    (torch.rand(4, 1, 28, 28), ValueError, r"\(N, 3, 32, 32\)"),  # MNIST-shaped
    (torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), TypeError, "floating point"),
    (torch.rand(4, 3, 32, 32) * 2 - 0.5, ValueError, r"\[0, 1\]"),  # normalised input
    (torch.full((4, 3, 32, 32), float("nan")), ValueError, "NaN"),
    ([[0.0]], TypeError, "torch.Tensor"),
])
def test_elbo_rejects_bad_images(small_vae, bad, error, message):
    with pytest.raises(error, match=message):
        elbo(small_vae, bad)


def test_iwae_is_at_least_the_elbo_and_tightens_with_k():
    torch.manual_seed(0)
    model = VAE(latent_dim=8, backbone="small").eval()
    # A sharp likelihood makes the importance weights vary a lot, so the gain from k is
    # far larger than the Monte-Carlo noise of the comparison.
    model.log_scale.data.fill_(-2.0)
    x = torch.rand(16, 3, 32, 32)
    with torch.no_grad():
        elbo_mean = torch.stack([elbo(model, x).elbo for _ in range(200)]).mean(0)  # (16,)
    bounds = {k: iwae_bound(model, x, k).mean().item() for k in (1, 10, 100)}
    # k = 1 is an unbiased estimate of the ELBO itself.
    assert bounds[1] == pytest.approx(elbo_mean.mean().item(), rel=0.01)
    assert bounds[1] <= bounds[10] <= bounds[100]
    assert bounds[100] > elbo_mean.mean().item()


def test_iwae_rejects_bad_k(small_vae):
    with pytest.raises(ValueError, match="positive integer"):
        iwae_bound(small_vae, torch.rand(2, 3, 32, 32), 0)


def test_evaluating_restores_the_mode_even_when_the_block_fails():
    model = VAE(latent_dim=4, backbone="small").train()
    with evaluating(torch.compile(model)) as vae:  # unwraps a compiled model
        assert vae is model and not model.training
    assert model.training
    with pytest.raises(RuntimeError, match="boom"), evaluating(model):
        raise RuntimeError("boom")
    assert model.training
    model.eval()
    with evaluating(model):
        pass
    assert not model.training  # a model in eval mode stays there
