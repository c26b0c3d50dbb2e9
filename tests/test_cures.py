"""Cures for posterior collapse (lesson 2): KL warm-up and free bits in training, and the lesson's comparison.

The warm-up schedule is read from the β each optimiser step is given (``train_step`` recorded);
the free-bits loss is recomputed from q's μ and σ by hand, and its gradient compared with the
reconstruction term's alone.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

import vae_tutorial.train as train_module
from vae_tutorial import VAE, fit
from vae_tutorial.elbo import elbo_terms
from vae_tutorial.train import TrainConfig


@pytest.mark.parametrize("name", ["kl_warmup_epochs", "free_bits"])
@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, "1"])
def test_config_rejects_bad_cure_settings(name, value):
    with pytest.raises(ValueError, match=f"{name} must be 0 or a positive number, got"):
        TrainConfig(**{name: value}).validate()
    TrainConfig(**{name: 0.5}).validate()  # a fraction of an epoch, or of a nat, is fine


def record_betas(monkeypatch) -> list[tuple[float, float]]:
    """Make every ``train_step`` of ``fit`` record the (β, free_bits) it was given."""
    calls, original = [], train_module.train_step

    def recording_step(model, optimizer, x, beta=1.0, dtype=None, free_bits=0.0):
        calls.append((beta, free_bits))
        return original(model, optimizer, x, beta, dtype, free_bits)

    monkeypatch.setattr(train_module, "train_step", recording_step)
    return calls


def test_warmup_grows_beta_linearly_and_continues_across_a_resume(monkeypatch, shapes_small):
    images = shapes_small[0][:128]  # 4 steps per epoch at batch 32
    calls = record_betas(monkeypatch)
    config = TrainConfig(epochs=2, batch_size=32, beta=30.0, kl_warmup_epochs=2.5, free_bits=0.25)
    model = VAE(latent_dim=4, backbone="small")
    history = fit(model, images, config, device="cpu", progress=False)
    fit(model, images, config, device="cpu", progress=False, history=history, optimizer=history.optimizer)
    warmup_steps = 2.5 * 4
    expected = [30.0 * min(1.0, step / warmup_steps) for step in range(1, 17)]  # steps 1..16, global
    assert [beta for beta, _ in calls] == pytest.approx(expected)
    assert expected[8] == pytest.approx(27.0)  # the resumed run starts where the first stopped, not at 0
    assert {free_bits for _, free_bits in calls} == {0.25}  # the free bits reach every step
    assert history.steps == 16


def test_no_warmup_means_the_same_beta_at_every_step(monkeypatch, shapes_small):
    calls = record_betas(monkeypatch)
    config = TrainConfig(epochs=1, batch_size=32, beta=7.0)
    fit(VAE(latent_dim=4, backbone="small"), shapes_small[0][:64], config, device="cpu", progress=False)
    assert calls == [(7.0, 0.0), (7.0, 0.0)]


class FixedPosterior:
    """Make ``model`` encode every batch to the same q = Normal(loc, scale), leaf tensors with gradients."""

    def __init__(self, model: VAE, loc: torch.Tensor, scale: torch.Tensor):
        self.loc, self.scale = loc.clone().requires_grad_(True), scale.clone().requires_grad_(True)
        model.posterior = lambda x: Normal(self.loc, self.scale)

    def gradients(self, loss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.autograd.grad(loss, (self.loc, self.scale))


def posterior_with_small_and_large_units(batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """μ, σ of shape (batch, 4): units 0 and 1 cost about 0.01 and 0.36 nats on average over the batch,
    units 2 and 3 about 2 to 5. Unit 1 costs 0.72 nats on half the images and almost 0 on the others:
    a floor applied image by image, instead of to the batch mean, would differ there."""
    generator = torch.Generator().manual_seed(0)
    loc = torch.tensor([0.1, 0.0, 2.0, 3.0]) + 0.05 * torch.randn(batch, 4, generator=generator)
    loc[: batch // 2, 1] += 1.2
    scale = torch.tensor([0.95, 1.05, 0.5, 0.3]).expand(batch, 4).clone()
    return loc, scale


def test_free_bits_loss_matches_a_computation_by_hand():
    model = VAE(latent_dim=4, backbone="small")
    posterior = FixedPosterior(model, *posterior_with_small_and_large_units())
    x = torch.rand(8, 3, 32, 32)
    beta, free_bits = 3.0, 0.5
    terms = elbo_terms(model, x, beta, free_bits)
    mu, sigma = posterior.loc, posterior.scale
    kl_by_hand = 0.5 * (mu**2 + sigma**2 - 1 - torch.log(sigma**2))  # (8, 4), per image and unit
    per_unit = kl_by_hand.mean(dim=0)  # (4,): batch means
    assert (per_unit[:2] < free_bits).all() and (per_unit[2:] > free_bits).all()
    expected = -(terms.recon.mean() - beta * torch.maximum(per_unit, torch.tensor(free_bits)).sum())
    torch.testing.assert_close(terms.loss, expected)
    # The reported terms stay the true one-sample ELBO: recon - beta * (Monte-Carlo KL)
    torch.testing.assert_close(terms.elbo, terms.recon - beta * terms.kl)
    assert not torch.allclose(terms.loss, -terms.elbo.mean())  # the loss is not the reported ELBO here


def test_zero_free_bits_is_the_plain_loss():
    model = VAE(latent_dim=4, backbone="small")
    FixedPosterior(model, *posterior_with_small_and_large_units())
    x = torch.rand(8, 3, 32, 32)
    torch.manual_seed(1)
    plain = elbo_terms(model, x, 3.0)
    torch.manual_seed(1)
    zero = elbo_terms(model, x, 3.0, free_bits=0.0)
    torch.testing.assert_close(zero.loss, plain.loss)
    torch.testing.assert_close(zero.loss, -(zero.recon - 3.0 * zero.kl).mean())  # the Monte-Carlo KL


def test_a_unit_below_the_floor_gets_no_gradient_from_the_kl():
    """Below λ nats a unit's KL is free: its gradient is the reconstruction term's alone."""
    model = VAE(latent_dim=4, backbone="small")
    posterior = FixedPosterior(model, *posterior_with_small_and_large_units())
    x = torch.rand(8, 3, 32, 32)
    torch.manual_seed(2)
    with_floor = posterior.gradients(elbo_terms(model, x, 3.0, free_bits=0.5).loss)
    torch.manual_seed(2)  # the same z
    recon_only = posterior.gradients(-elbo_terms(model, x, 3.0).recon.mean())
    for floored, recon in zip(with_floor, recon_only, strict=True):  # d/dμ, d/dσ, each (8, 4)
        torch.testing.assert_close(floored[:, :2], recon[:, :2])  # units 0, 1: below the floor
        assert ((floored[:, 2:] - recon[:, 2:]).abs() > 1e-3).all()  # units 2, 3: the KL pulls them


# --- the lesson's comparison (vae_tutorial.lessons.reconstruction_term.cures) ---


@pytest.fixture(scope="module")
def cured(shapes_small):
    """A tiny sweep point at β = 30 and its two cures, each trained for 4 steps, with every step's (β, λ)."""
    from vae_tutorial.lessons.reconstruction_term.balance import sweep_point
    from vae_tutorial.lessons.reconstruction_term.cures import cure_points

    images, test_images = shapes_small[0][:128], shapes_small[0][128:192]
    config = TrainConfig(epochs=1, batch_size=32, lr=2e-3)
    no_cure = sweep_point(30.0, 0.1, images, test_images, config, latent_dim=4, device="cpu")
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = record_betas(monkeypatch)
        points = cure_points(no_cure, images, test_images, config, warmup_epochs=0.5, free_bits=0.25,
                             device="cpu")
    return no_cure, points, calls, test_images


def test_cures_reuse_the_sweep_point_and_train_each_cure_once(cured):
    no_cure, points, calls, _ = cured
    assert list(points) == ["no cure", "KL warm-up", "free bits"] and points["no cure"] is no_cure
    for point in points.values():
        assert (point.beta, point.sigma, point.model.latent_dim) == (30.0, 0.1, 4)
    warmup, free_bits = calls[:4], calls[4:]  # 4 steps each: warm-up over 2 steps, then λ = 0.25
    assert warmup == [(15.0, 0.0), (30.0, 0.0), (30.0, 0.0), (30.0, 0.0)]  # exact: 30 * 1/2, 30 * 1
    assert free_bits == [(30.0, 0.25)] * 4


def test_cure_table_and_objective(cured):
    from vae_tutorial.lessons.reconstruction_term.cures import beta_objective, cure_table

    _, points, _, _ = cured
    table = cure_table(points).splitlines()
    assert len(table) == 2 + 3 and "β = 30" in table[0]
    for line, (name, point) in zip(table[2:], points.items(), strict=True):
        objective = point.recon - 30.0 * point.kl  # what the β-weighted objective is, by hand
        assert beta_objective(point) == pytest.approx(objective)
        assert line.startswith(f"| {name} | {point.active_units} / 4 |")
        assert line.endswith(f"| {objective:.0f} |")


def test_cures_figure_shows_units_elbo_and_images(cured):
    from matplotlib.figure import Figure

    from vae_tutorial.lessons.reconstruction_term.cures import cures_figure

    _, points, _, test_images = cured
    figure = cures_figure(points, test_images[:4])
    assert isinstance(figure, Figure)
    units_ax, elbo_ax, image_ax = figure.axes
    assert [bar.get_height() for bar in units_ax.patches] == [p.active_units for p in points.values()]
    assert [bar.get_height() for bar in elbo_ax.patches] == pytest.approx([p.elbo for p in points.values()])
    labels = [label.get_text() for label in image_ax.get_yticklabels()]
    assert labels[0] == "x: data" and len(labels) == 1 + 2 * 3 and "free bits: z ~ p(z)" in labels
    assert image_ax.images[0].get_array().shape[:2] == (7 * 33 - 1, 4 * 33 - 1)  # 7 rows of 4 images


def test_cure_points_rejects_bad_input(cured, shapes_small):
    from vae_tutorial.lessons.reconstruction_term.cures import cure_points

    no_cure, _, _, test_images = cured
    images, config = shapes_small[0][:64], TrainConfig(epochs=1, batch_size=32)
    with pytest.raises(TypeError, match="SweepPoint"):
        cure_points(no_cure.model, images, test_images, config, warmup_epochs=1, free_bits=0.5)
    with pytest.raises(ValueError, match="warmup_epochs must be a positive number"):
        cure_points(no_cure, images, test_images, config, warmup_epochs=0, free_bits=0.5)
    with pytest.raises(ValueError, match="free_bits must be a positive number"):
        cure_points(no_cure, images, test_images, config, warmup_epochs=1, free_bits=math.nan)
    with pytest.raises(ValueError, match="without a cure"):
        cure_points(no_cure, images, test_images, TrainConfig(free_bits=1.0), warmup_epochs=1, free_bits=0.5)
