"""p(x|z)'s three families, each checked against an independent computation.

* Bernoulli ("BCE"): ``torch.distributions.Bernoulli``, and the normaliser it lacks;
* discretised logistic: the logistic's CDF built from ``torch.distributions`` in float64 (the reference
  of lesson 2's exercise 5), and
  a brute-force sum over the 256 bins, which must be 1;
* the model: ``VAE(likelihood=...)`` routes through them, trains, samples and is refused when unknown.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli

from vae_tutorial import VAE, TrainConfig, bits_per_dim, elbo, fit, shapes_dataset, to_unit_interval
from vae_tutorial.lessons.reconstruction_term.exercises import logistic_bin_log_probability_reference
from vae_tutorial.likelihoods import (
    as_image,
    bernoulli_log_likelihood,
    discretized_logistic_log_likelihood,
    gaussian_log_likelihood,
    log_likelihood,
)

D = 3 * 32 * 32


def test_bernoulli_matches_torch_distributions_and_is_minus_the_bce():
    logits = torch.randn(4, 3, 32, 32) * 2
    x = to_unit_interval(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))  # not binary
    expected = Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(dim=(1, 2, 3))
    torch.testing.assert_close(bernoulli_log_likelihood(logits, x), expected, rtol=1e-5, atol=1e-2)
    bce = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none")
    bce = bce.sum(dim=(1, 2, 3))
    torch.testing.assert_close(bernoulli_log_likelihood(logits, x), -bce, rtol=1e-4, atol=0.5)


def test_bernoulli_is_not_a_density_of_pixel_values():
    """∫_0^1 p^x (1-p)^(1-x) dx = (2p - 1) / logit(p) <= 1/2: the 'density' misses at least half its mass."""
    grid = torch.linspace(0, 1, 100_001, dtype=torch.float64)
    for p in (0.02, 0.3, 0.5 + 1e-6, 0.9):
        values = torch.exp(grid * math.log(p) + (1 - grid) * math.log(1 - p))
        integral = torch.trapezoid(values, grid).item()
        assert integral == pytest.approx((2 * p - 1) / math.log(p / (1 - p)), rel=1e-6)
        assert integral <= 0.5 + 1e-9
    # So its "bits/dim" can never beat 8: even the decoder that predicts every pixel exactly scores above 8.
    x = to_unit_interval(torch.randint(1, 255, (2, 3, 32, 32), dtype=torch.uint8))
    perfect = bernoulli_log_likelihood(torch.logit(x.double()).float(), x)
    assert (perfect < 0).all() and (bits_per_dim(-perfect) > 8).all()
    # The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019) is BCE plus the missing log-normaliser.
    logits = torch.randn(2, 3, 32, 32)
    continuous = torch.distributions.ContinuousBernoulli(logits=logits).log_prob(x).sum(dim=(1, 2, 3))
    assert (continuous > bernoulli_log_likelihood(logits, x)).all()


@pytest.mark.parametrize("log_s", [math.log(0.002), math.log(0.03), 0.0])
def test_discretised_logistic_bins_sum_to_one(log_s):
    """For every location, the 256 bins' probabilities add up to 1 (brute force over the values)."""
    loc = torch.tensor([-0.3, 0.0, 0.001, 0.37, 0.5, 0.999, 1.4]).view(-1, 1, 1, 1).expand(7, 3, 32, 32)
    log_scale = torch.tensor(log_s)
    per_value = []
    for v in range(256):
        x = torch.full((7, 3, 32, 32), (v + 0.5) / 256)
        log_p = discretized_logistic_log_likelihood(loc, log_scale, x) / D - math.log(256)  # (7,): log P(v)
        per_value.append(log_p)
    total = torch.logsumexp(torch.stack(per_value).double(), dim=0).exp()  # (7,)
    torch.testing.assert_close(total, torch.ones(7, dtype=torch.float64), rtol=0, atol=2e-4)


def test_discretised_logistic_matches_cdf_differences():
    torch.manual_seed(0)
    v = torch.randint(0, 256, (3, 3, 32, 32))
    v[0, 0, :2] = 0  # both end bins appear
    v[0, 1, :2] = 255
    x = to_unit_interval(v.to(torch.uint8))  # dequantised: the bins are found from any point inside them
    loc = torch.rand(3, 3, 32, 32) * 1.2 - 0.1
    # One s per channel; not so small that the float64 reference loses every digit in a far tail.
    log_scale = torch.tensor([-3.0, -2.0, -1.0]).view(3, 1, 1)
    expected = logistic_bin_log_probability_reference(loc, log_scale.exp(), v) + math.log(256)
    torch.testing.assert_close(discretized_logistic_log_likelihood(loc, log_scale, x).double(),
                               expected.sum(dim=(1, 2, 3)), rtol=1e-5, atol=0.05)


def test_discretised_logistic_ignores_the_dequantisation_noise_and_stays_finite():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    loc, log_scale = torch.rand(4, 3, 32, 32), torch.full((3, 1, 1), -6.0)  # very sharp: tails far away
    centre = discretized_logistic_log_likelihood(loc, log_scale, to_unit_interval(images, dequantize=False))
    noisy = discretized_logistic_log_likelihood(loc, log_scale, to_unit_interval(images))
    torch.testing.assert_close(noisy, centre)
    assert torch.isfinite(centre).all()  # bins thousands of s from the location: no log(0)
    far = discretized_logistic_log_likelihood(torch.full((1, 3, 32, 32), 5.0), torch.tensor(-6.0),
                                              torch.full((1, 3, 32, 32), 0.5 / 256))
    assert torch.isfinite(far).all() and far.item() < -1e6


def test_dequantised_values_never_reach_the_next_bin(monkeypatch):
    """The largest u float32 can draw, 1 - 2^-24, must keep v + u below v + 1 (it rounded up before)."""
    monkeypatch.setattr(torch, "rand", lambda shape, **_: torch.full(shape, 1 - 2**-24))
    v = torch.arange(256, dtype=torch.uint8).repeat(12)[: D].view(1, 3, 32, 32)
    x = to_unit_interval(v)
    assert torch.equal(torch.floor(x * 256).to(torch.uint8), v)


def test_log_likelihood_dispatches_on_the_choice():
    x_hat, x = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32) * 0.99
    log_scale = torch.tensor(-2.0)
    gaussian = gaussian_log_likelihood(x_hat, log_scale, x)
    assert torch.equal(log_likelihood("pixel", x_hat, log_scale, x), gaussian)
    assert torch.equal(log_likelihood("bernoulli", x_hat, log_scale, x), bernoulli_log_likelihood(x_hat, x))
    assert torch.equal(log_likelihood("logistic", x_hat, log_scale, x),
                       discretized_logistic_log_likelihood(x_hat, log_scale, x))
    assert torch.equal(as_image("bernoulli", x_hat), torch.sigmoid(x_hat))
    assert as_image("scalar", x_hat * 3 - 1).min() == 0 and as_image("scalar", x_hat * 3 - 1).max() == 1


@pytest.mark.parametrize("likelihood, scale_shape, learned",
                         [("bernoulli", (), False), ("logistic", (3, 1, 1), True)])
def test_each_family_trains_and_samples(likelihood, scale_shape, learned):
    images, _ = shapes_dataset(128)
    torch.manual_seed(0)
    model = VAE(latent_dim=8, backbone="small", likelihood=likelihood)
    assert tuple(model.log_scale.shape) == scale_shape and model.log_scale.requires_grad == learned
    x = to_unit_interval(images[:16])
    before = elbo(model, x).elbo.mean().item()
    config = TrainConfig(epochs=2, batch_size=32, lr=2e-3, scale_lr=5e-2)
    fit(model, images, config, device="cpu", progress=False)
    assert elbo(model, x).elbo.mean().item() > before  # the likelihood is the one being maximised
    terms = elbo(model, x)
    with torch.no_grad():
        x_hat = model.decode(model.encode(x).loc)
    torch.testing.assert_close(model.log_likelihood(x_hat, x),
                               log_likelihood(likelihood, x_hat, model.log_scale, x))
    assert terms.recon.shape == (16,)
    samples = model.sample(4)
    assert samples.shape == (4, 3, 32, 32) and 0 <= samples.min() and samples.max() <= 1


def test_an_unknown_likelihood_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="likelihood must be one of.*bernoulli.*logistic.*got 'bce'"):
        VAE(likelihood="bce")
