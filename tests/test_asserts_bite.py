"""The asserts of lessons 0, 1 and 2 bite: each lesson, run with a wrong version of its idea, fails an assert.

Every test swaps one piece of the package (before the lesson's imports cell runs, so that the
notebook's own ``from vae_tutorial import ...`` picks it up) for a deliberately wrong version of
what the lesson teaches, runs the lesson's code cells with ``notebook_cells.first_failing_assert``
and requires that an assert fails. A wrong version that crashes instead, or that no assert
notices, fails the test. Lessons 3 and 4 follow the same pattern in their own file.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from notebook_cells import first_failing_assert
from torch import Tensor, nn
from torch.distributions import Distribution, Normal
from torch.nn import functional as F

import vae_tutorial
import vae_tutorial.lessons.reconstruction_term as reconstruction_term
import vae_tutorial.likelihoods as likelihoods
import vae_tutorial.train
from vae_tutorial import VAE
from vae_tutorial.elbo import ELBO, elbo_terms, kl_monte_carlo
from vae_tutorial.lessons.reconstruction_term.scales import train_small_vae
from vae_tutorial.likelihoods import gaussian_log_likelihood

LESSON_0, LESSON_1, LESSON_2 = "00_setup_check.ipynb", "01_kl_term.ipynb", "02_reconstruction_term.ipynb"


def mean_over_non_batch(values: Tensor) -> Tensor:
    """``(B, ...) -> (B,)`` by averaging: the wrong reduction (a ``(B,)`` tensor is returned as is)."""
    return values if values.dim() <= 1 else values.flatten(start_dim=1).mean(dim=1)


def kl_averaged(z: Tensor, q: Distribution, p: Distribution) -> Tensor:
    """Wrong: the per-dimension log-ratios averaged instead of summed."""
    return mean_over_non_batch(q.log_prob(z) - p.log_prob(z))


def kl_q_and_p_swapped(z: Tensor, q: Distribution, p: Distribution) -> Tensor:
    """Wrong: log p(z) - log q(z), q and p swapped."""
    return kl_monte_carlo(z, p, q)


def kl_analytic_averaged(q: Distribution, p: Distribution) -> Tensor:
    """Wrong: the closed-form per-dimension KLs averaged instead of summed."""
    return mean_over_non_batch(torch.distributions.kl_divergence(q, p))


def elbo_sign_flipped(model: nn.Module, x: Tensor, beta: float = 1.0) -> ELBO:
    """Wrong: reconstruction + KL, the KL added instead of subtracted."""
    terms = elbo_terms(model, x, beta)
    value = terms.recon + beta * terms.kl
    return ELBO(recon=terms.recon, kl=terms.kl, elbo=value, loss=-value.mean())


def likelihood_without_constant(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """Wrong: "reconstruction is MSE", -(x - x_hat)²/(2σ²) summed, without -log σ - log(2π)/2."""
    return (-(x - x_hat) ** 2 / (2 * torch.exp(2 * log_scale))).flatten(start_dim=1).sum(dim=1)


def likelihood_log_scale_read_as_log_variance(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """Wrong: σ = exp(log_scale / 2), as if log_scale were a log variance."""
    return gaussian_log_likelihood(x_hat, log_scale / 2, x)


def train_with_sigma_fixed(*args, fixed_sigma: float | None = None, initial_sigma: float | None = None,
                           **kwargs):
    """Wrong: σ is never learned; it stays at its start, 1."""
    return train_small_vae(*args, fixed_sigma=1.0 if fixed_sigma is None else fixed_sigma, **kwargs)


class ImageNetStemVAE(VAE):
    """Wrong: ResNet-18's ImageNet stem (7×7) where the article's CIFAR encoder has a 3×3 one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.encoder.stem[0] = nn.Conv2d(3, 64, 7, padding=3, bias=False)


def assert_caught(notebook: str, wrong: str) -> None:
    failure = first_failing_assert(notebook)
    assert failure is not None, f"no assert of {notebook} noticed {wrong}"
    print(f"{notebook}: {wrong} caught by code cell {failure.cell}: "
          f"{failure.message or failure.source[-200:]}")


# --- lesson 0 ------------------------------------------------------------------------------

@pytest.mark.parametrize("wrong, model", [
    ("an encoder with the ImageNet stem", ImageNetStemVAE),
    ("a σ per pixel instead of the article's single σ", functools.partial(VAE, likelihood="pixel")),
])
def test_lesson_0_asserts_catch(monkeypatch, wrong, model):
    monkeypatch.setattr(vae_tutorial, "VAE", model)
    assert_caught(LESSON_0, wrong)


# --- lesson 1 ------------------------------------------------------------------------------

def test_lesson_1_runs_clean_without_a_wrong_version():
    """The control: with the package as it is, no assert of lesson 1 fails under this harness."""
    assert first_failing_assert(LESSON_1) is None


@pytest.mark.parametrize("wrong, name, version", [
    ("the Monte-Carlo KL averaged over dimensions", "kl_monte_carlo", kl_averaged),
    ("q and p swapped in the Monte-Carlo KL", "kl_monte_carlo", kl_q_and_p_swapped),
    ("the closed-form KL averaged over dimensions", "kl_analytic", kl_analytic_averaged),
    ("the ELBO's sign flipped (reconstruction + KL)", "elbo", elbo_sign_flipped),
])
def test_lesson_1_asserts_catch(monkeypatch, wrong, name, version):
    monkeypatch.setattr(vae_tutorial, name, version)  # what the notebook imports; the rest stays intact
    assert_caught(LESSON_1, wrong)


# --- lesson 2 ------------------------------------------------------------------------------

@pytest.mark.parametrize("wrong, name, version", [
    ("the likelihood without its constant", "gaussian_log_likelihood", likelihood_without_constant),
    ("log σ read as a log variance", "gaussian_log_likelihood", likelihood_log_scale_read_as_log_variance),
])
def test_lesson_2_asserts_catch_a_wrong_likelihood(monkeypatch, wrong, name, version):
    monkeypatch.setattr(vae_tutorial, name, version)
    assert_caught(LESSON_2, wrong)


def test_lesson_2_asserts_catch_a_fixed_sigma(monkeypatch):
    monkeypatch.setattr(reconstruction_term, "train_small_vae", train_with_sigma_fixed)
    assert_caught(LESSON_2, "σ fixed at 1 instead of learned")


def logistic_without_end_bins(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """Wrong: every bin gets only its own width, the end bins too: the tails' mass is lost."""
    v = torch.floor(x.float() * 256).clamp(0, 255)
    inverse_scale = torch.exp(-log_scale.float())
    lower = (v / 256 - x_hat.float()) * inverse_scale
    upper = lower + inverse_scale / 256
    return F.logsigmoid(upper) + F.logsigmoid(-lower) + torch.log(-torch.expm1(-inverse_scale / 256))


def test_lesson_2_asserts_catch_a_logistic_that_loses_its_tails(monkeypatch):
    monkeypatch.setattr(likelihoods, "discretized_logistic_log_probability", logistic_without_end_bins)
    failure = first_failing_assert(LESSON_2)
    assert failure is not None and "assert_close(total" in failure.source, failure


def test_lesson_2_asserts_catch_free_bits_that_do_nothing(monkeypatch):
    monkeypatch.setattr(vae_tutorial.train, "elbo_terms",
                        lambda model, x, beta=1.0, free_bits=0.0: elbo_terms(model, x, beta))
    failure = first_failing_assert(LESSON_2)
    assert failure is not None and "free.active_units > none.active_units" in failure.source, failure


def test_the_wrong_versions_are_wrong():
    """Each wrong version differs from the right one where the lessons look (not a no-op swap)."""
    q, p = Normal(torch.zeros(2, 16) + 0.5, torch.ones(2, 16) * 0.7), Normal(0.0, 1.0)
    z = q.sample()
    right = kl_monte_carlo(z, q, p)
    assert not torch.allclose(kl_averaged(z, q, p), right)
    torch.testing.assert_close(kl_q_and_p_swapped(z, q, p), -right)
    x = torch.rand(2, 3, 32, 32)
    log_scale = torch.tensor(math.log(0.2))
    assert not torch.allclose(likelihood_without_constant(x * 0.9, log_scale, x),
                              gaussian_log_likelihood(x * 0.9, log_scale, x))
