"""Lesson 2: the decoder scale (scales.py), the KL/reconstruction balance (balance.py),
active units (lessons.shared.posteriors), and lesson 2's figures and explorers. Each
formula is checked against an independent computation (autograd, a brute-force search,
torch's own variance) with a stated tolerance."""

import math
from dataclasses import replace

import pytest
import torch
from blitting import differing_share
from matplotlib.figure import Figure

from vae_tutorial import VAE, encode_images, gaussian_log_likelihood, to_unit_interval
from vae_tutorial.lessons.reconstruction_term import explorers, figures
from vae_tutorial.lessons.reconstruction_term.balance import SweepPoint, beta_sweep, sweep_table
from vae_tutorial.lessons.reconstruction_term.scales import fix_scale, optimal_log_scale, train_small_vae
from vae_tutorial.lessons.shared import figures as shared_figures
from vae_tutorial.lessons.shared.posteriors import active_units
from vae_tutorial.likelihoods import discretized_logistic_log_likelihood
from vae_tutorial.train import TrainConfig, make_optimizer

SCALE_SHAPES = {"scalar": (), "channel": (3, 1, 1), "pixel": (3, 32, 32)}
# Lesson 2's short runs: what train_small_vae used by default before it took a TrainConfig.
SHORT_RUN = TrainConfig(epochs=3, batch_size=32, lr=2e-3, scale_lr=5e-2)


@pytest.fixture
def decoder_output():
    """Images and imperfect "reconstructions" whose error differs between channels and pixels."""
    x = torch.rand(16, 3, 32, 32)
    error_scale = torch.rand(3, 32, 32) * 0.2 + 0.02  # (3, 32, 32): each pixel errs by its own amount
    return x, x + error_scale * torch.randn(16, 3, 32, 32)


@pytest.fixture(scope="module")
def tiny_sweep():
    """Two betas trained for 32 steps on 256 shapes: one that keeps the code, one that cannot."""
    from vae_tutorial import shapes_dataset

    images, _ = shapes_dataset(256, seed=0)
    test_images, _ = shapes_dataset(64, seed=1)
    config = replace(SHORT_RUN, epochs=2, batch_size=16)
    points = beta_sweep([1e6, 1.0], images, test_images, config, sigma=0.1, device="cpu")
    return points, test_images


# --- scales.py ---


@pytest.mark.parametrize("likelihood", ["scalar", "channel", "pixel"])
def test_optimal_log_scale_has_the_shape_of_log_scale(decoder_output, likelihood):
    x, x_hat = decoder_output
    log_scale = optimal_log_scale(x_hat, x, likelihood)
    assert log_scale.shape == SCALE_SHAPES[likelihood] == VAE(8, "small", likelihood).log_scale.shape


def test_optimal_scalar_sigma_is_the_rms_error(decoder_output):
    x, x_hat = decoder_output
    rms = math.sqrt(((x - x_hat) ** 2).double().mean().item())  # float64 reference
    assert optimal_log_scale(x_hat, x).exp().item() == pytest.approx(rms, rel=1e-5)


@pytest.mark.parametrize("likelihood", ["scalar", "channel", "pixel"])
def test_optimal_log_scale_is_a_stationary_point_of_the_likelihood(decoder_output, likelihood):
    """Autograd's gradient of the summed log-likelihood w.r.t. log σ vanishes at log σ*."""
    x, x_hat = decoder_output
    log_scale = optimal_log_scale(x_hat, x, likelihood).requires_grad_(True)
    gaussian_log_likelihood(x_hat, log_scale, x).sum().backward()
    # Each σ's gradient is SSE/σ² - n for its n errors: zero up to float32 rounding, ~1e-7 n.
    n = x.numel() / log_scale.numel()
    assert log_scale.grad.abs().max().item() < 1e-5 * n


@pytest.mark.parametrize("likelihood", ["scalar", "channel", "pixel"])
def test_moving_sigma_away_from_the_optimum_lowers_the_likelihood(decoder_output, likelihood):
    x, x_hat = decoder_output
    best = optimal_log_scale(x_hat, x, likelihood)
    at_best = gaussian_log_likelihood(x_hat, best, x).sum()
    for step in (-0.1, 0.1):
        assert gaussian_log_likelihood(x_hat, best + step, x).sum() < at_best


def test_brute_force_search_finds_the_rms_error(decoder_output):
    x, x_hat = (t[:2] for t in decoder_output)
    sigmas = torch.linspace(0.01, 0.5, 491)  # steps of 1e-3
    values = torch.stack([gaussian_log_likelihood(x_hat, s.log(), x).sum() for s in sigmas])
    best_on_grid = sigmas[values.argmax()].item()
    assert best_on_grid == pytest.approx(optimal_log_scale(x_hat, x).exp().item(), abs=1e-3)


def test_more_scales_never_fit_worse(decoder_output):
    """Per pixel contains per channel contains one σ: the optimal likelihoods are ordered."""
    x, x_hat = decoder_output
    best = {name: gaussian_log_likelihood(x_hat, optimal_log_scale(x_hat, x, name), x).sum().item()
            for name in SCALE_SHAPES}
    assert best["scalar"] <= best["channel"] <= best["pixel"]


def test_optimal_log_scale_rejects_bad_input(decoder_output):
    x, x_hat = decoder_output
    with pytest.raises(ValueError, match="likelihood must be one of"):
        optimal_log_scale(x_hat, x, "per-image")
    with pytest.raises(ValueError, match="same shape"):
        optimal_log_scale(x_hat[:4], x)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        optimal_log_scale(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28))


def test_make_optimizer_gives_log_scale_its_own_step_size():
    model = VAE(8, "small", "pixel")
    optimizer = make_optimizer(model, TrainConfig(lr=1e-3, scale_lr=0.05))
    networks, scale = optimizer.param_groups
    assert scale["params"] == [model.log_scale] and scale["lr"] == 0.05
    assert networks["lr"] == 1e-3 and len(networks["params"]) == len(list(model.parameters())) - 1
    with pytest.raises(ValueError, match="positive"):
        make_optimizer(model, TrainConfig(lr=0.0, scale_lr=0.05))


def test_fix_scale_sets_and_freezes_sigma():
    model = fix_scale(VAE(8, "small", "channel"), 0.25)
    assert torch.allclose(model.log_scale.exp(), torch.full((3, 1, 1), 0.25))
    assert not model.log_scale.requires_grad
    networks, scale = make_optimizer(model, TrainConfig(lr=1e-3, scale_lr=0.05)).param_groups
    assert scale["params"] == []  # the frozen σ is left out: its group is empty ...
    assert all(p is not model.log_scale for p in networks["params"])  # ... and it is in no other group
    assert len(networks["params"]) == len(list(model.parameters())) - 1
    with pytest.raises(ValueError, match="sigma must be a positive number, got 0.0"):
        fix_scale(model, 0.0)


def test_train_small_vae_learns_sigma_or_keeps_it_fixed(shapes_small):
    images = shapes_small[0][:128]
    config = replace(SHORT_RUN, epochs=1, batch_size=32)
    learned, history = train_small_vae(images, config, "scalar", device="cpu")
    assert history.epochs == 1 and history.steps == 4 and not learned.training
    assert learned.log_scale.item() < -0.05  # 4 steps at scale_lr 0.05 move log σ down from 0
    fixed, _ = train_small_vae(images, config, "scalar", fixed_sigma=0.3, device="cpu")
    assert fixed.log_scale.exp().item() == pytest.approx(0.3)
    again, _ = train_small_vae(images, config, "scalar", device="cpu")
    assert torch.equal(again.log_scale, learned.log_scale)  # seeded: the same run twice
    started, _ = train_small_vae(images, config, "scalar", initial_sigma=0.25, device="cpu")
    assert started.log_scale.requires_grad  # still learned ...
    assert 0.05 < abs(started.log_scale.item() - math.log(0.25)) < 0.3  # ... from log 0.25: 4 steps away


# --- encode_images, active units and balance.py ---


def count_active_units(model, images, **kwargs) -> int:
    """How lesson 2 counts active units; none active is posterior collapse."""
    return int(active_units(encode_images(model, images).loc, **kwargs).sum())


def test_encode_images_means_are_the_encoders_means(small_vae, shapes_small):
    images = shapes_small[0][:20]
    expected = small_vae.encode(to_unit_interval(images, dequantize=False)).loc
    torch.testing.assert_close(encode_images(small_vae, images, batch_size=7).loc, expected.detach())


def test_active_units_thresholds_the_unbiased_variance_of_the_means(small_vae, shapes_small):
    images = shapes_small[0][:50]
    means = encode_images(small_vae, images).loc  # (50, 16)
    by_hand = ((means.double() - means.double().mean(0)) ** 2).sum(0) / (len(means) - 1)  # unbiased variance
    active = active_units(means)
    assert active.dtype == torch.bool and active.shape == (16,)
    # Each unit is active just below its variance and inactive just above it: the variance active_units
    # thresholds is by_hand to 1e-4 (the biased variance would be off by 2 %).
    for unit, variance in enumerate(by_hand.tolist()):
        assert active_units(means, threshold=variance * (1 - 1e-4) - 1e-10)[unit], unit
        assert not active_units(means, threshold=variance * (1 + 1e-4) + 1e-10)[unit], unit
    with pytest.raises(ValueError, match="N >= 2"):
        active_units(means[:1])


def test_a_constant_encoder_is_collapsed_and_a_spread_one_is_not(shapes_small):
    images = shapes_small[0][:64]
    model = VAE(16, "small").eval()
    with torch.no_grad():
        model.fc_mu.weight.zero_()  # every image gets the same posterior mean
    assert count_active_units(model, images) == 0  # collapsed
    with torch.no_grad():
        model.fc_mu.weight.normal_(std=30.0)  # means now move a lot with the image
    assert count_active_units(model, images) == 16  # not collapsed
    assert count_active_units(model, images, threshold=1e9) == 0


def test_beta_sweep_keeps_the_code_at_beta_1_and_collapses_when_the_kl_wins(tiny_sweep):
    points, _ = tiny_sweep
    assert [p.beta for p in points] == [1.0, 1e6]  # sorted
    low, high = points
    assert low.active_units > 0 and not low.collapsed
    assert high.active_units == 0 and high.collapsed
    assert low.kl > high.kl
    assert high.equivalent_sigma == pytest.approx(0.1 * 1000)
    assert math.isclose(low.elbo, low.recon - low.kl, rel_tol=1e-5)  # measured with beta = 1


def test_sweep_table_has_one_row_per_beta(tiny_sweep):
    points, _ = tiny_sweep
    lines = sweep_table(points).splitlines()
    assert len(lines) == 2 + len(points)
    assert lines[-1].startswith("| 1e+06 |") and lines[-1].endswith("| yes |")


def test_beta_sweep_rejects_bad_betas(shapes_small):
    images = shapes_small[0][:8]
    for betas, message in (([], "betas must be a non-empty list"),
                           ([1.0, -2.0], "every beta must be a positive number, got -2.0")):
        with pytest.raises(ValueError, match=message):
            beta_sweep(betas, images, images, TrainConfig())


# --- figures and explorers ---


def test_image_mosaic_places_rows_and_checks_them():
    rows = [torch.zeros(4, 3, 32, 32), torch.ones(4, 3, 32, 32)]
    mosaic = shared_figures.image_mosaic(rows, gap=1)
    assert mosaic.shape == (2 * 33 - 1, 4 * 33 - 1, 3)
    assert mosaic[0, 0].sum() == 0 and mosaic[40, 0].sum() == 3  # first row black, second white
    with pytest.raises(ValueError, match="row 1"):
        shared_figures.image_mosaic([torch.zeros(4, 3, 32, 32), torch.zeros(3, 3, 32, 32)])


def test_lesson2_figures_have_labelled_axes():
    x = torch.rand(4, 3, 32, 32)
    figure = shared_figures.image_rows_figure({"x": x, "x again": x}, "two rows")
    assert isinstance(figure, Figure) and figure.axes[0].get_title() == "two rows"
    maps = figures.scale_maps_figure({"one σ": torch.tensor(-1.0), "σ per channel": torch.zeros(3, 1, 1),
                                   "σ per pixel": torch.randn(3, 32, 32)})
    assert maps.axes[1].get_title() == "σ per channel: R 1.000 G 1.000 B 1.000"
    assert maps.axes[0].get_xlabel() == "pixel column"
    ladder = figures.bits_per_dim_ladder([("uniform", 8.0), ("NVAE", 2.91)], {"ours": 5.0})
    assert "bits per dimension" in ladder.axes[0].get_xlabel()
    labels = [t.get_text() for t in ladder.axes[0].get_yticklabels()]
    assert labels == ["NVAE", "ours", "uniform"]  # best first


def test_sigma_explorer_redraws_and_finds_the_rms_error(decoder_output):
    x, x_hat = decoder_output
    x, x_hat = x[:4].clamp(0, 1), x_hat[:4]
    kl = torch.full((4,), 10.0)
    explorer = explorers.sigma_explorer(x, x_hat, kl, sigma=1.0)
    first_png, first = explorer.output.value, dict(explorer.values)
    explorer.controls["sigma"].value = 0.3
    assert explorer.output.value != first_png and explorer.values["scale"] == pytest.approx(0.3, rel=1e-3)
    expected = gaussian_log_likelihood(x_hat, torch.tensor(0.3).log(), x).mean().item()
    assert explorer.values["log p(x|z)"] == pytest.approx(expected, rel=1e-3)
    assert explorer.values["ELBO"] == pytest.approx(expected - 10.0, rel=1e-3)
    assert explorer.values["log p(x|z)"] != first["log p(x|z)"]
    explorer.buttons["best"].click()
    rms = ((x - x_hat) ** 2).mean().sqrt().item()
    assert explorer.values["best scale"] == pytest.approx(rms, rel=1e-5)
    assert explorer.values["scale"] == pytest.approx(rms, rel=0.03)  # the slider's step is 10^0.01
    assert "log p(x|z)" in explorer.readouts["log p(x|z)"].value
    with pytest.raises(ValueError, match="sigma_range"):
        explorers.sigma_explorer(x, x_hat, kl, sigma=5.0)


def test_sigma_explorer_switches_to_the_discretised_logistic(decoder_output):
    x, x_hat = decoder_output
    x, x_hat = x[:4].clamp(0, 1), x_hat[:4]
    explorer = explorers.sigma_explorer(x, x_hat, torch.full((4,), 10.0), sigma=0.3)
    gaussian_png, gaussian_recon = explorer.output.value, explorer.values["log p(x|z)"]
    renders = explorer.renderer.full_renders
    explorer.controls["family"].value = "logistic"
    expected = discretized_logistic_log_likelihood(x_hat, torch.tensor(0.3).log(), x).mean().item()
    assert explorer.values["log p(x|z)"] == pytest.approx(expected, rel=1e-4) != gaussian_recon
    assert explorer.output.value != gaussian_png
    assert explorer.renderer.full_renders == renders + 1  # new curves: one full render
    assert "s of p(x|z)" in explorer.figure.axes[0].get_xlabel()
    grid = explorer.sigmas
    on_grid = torch.stack([discretized_logistic_log_likelihood(x_hat, s.log(), x).mean() for s in grid])
    explorer.buttons["best"].click()
    assert explorer.values["best scale"] == pytest.approx(grid[on_grid.argmax()].item(), rel=1e-6)
    assert explorer.values["log p(x|z)"] == pytest.approx(on_grid.max().item(), rel=0.01)
    explorer.controls["family"].value = "scalar"  # and back: the Gaussian's numbers again
    assert "σ of p(x|z)" in explorer.figure.axes[0].get_xlabel()
    assert explorer.values["best scale"] == pytest.approx(((x - x_hat) ** 2).mean().sqrt().item(), rel=1e-5)


def test_beta_explorer_shows_each_beta(tiny_sweep):
    points, test_images = tiny_sweep
    explorer = explorers.beta_explorer(points, test_images[:4])
    assert explorer.values["β"] == 1.0 and explorer.values["posterior collapse"] == "no"
    first_png = explorer.output.value
    explorer.controls["beta"].value = 1
    assert explorer.values["β"] == 1e6 and explorer.values["posterior collapse"] == "yes"
    assert explorer.values["active units"] == "0 of 16"
    assert explorer.output.value != first_png and explorer.redraws == 2
    with pytest.raises(ValueError, match="at least one"):
        explorers.beta_explorer([], test_images[:4])


def test_sweep_point_equivalent_sigma():
    point = SweepPoint(beta=100.0, sigma=0.1, model=VAE(4, "small"), elbo=0.0, kl=0.0, recon=0.0,
                       active_units=0, collapsed=True, seconds=0.0)
    assert point.equivalent_sigma == pytest.approx(1.0)  # beta 100 at σ 0.1 is σ = 1 at beta 1


def test_explorer_redraws_only_what_moves_and_the_picture_matches_a_full_render(decoder_output):
    """Blitting (lessons.shared.explorer.BlitRenderer): one full render, then only the animated artists."""
    x, x_hat = decoder_output
    explorer = explorers.sigma_explorer(x[:4].clamp(0, 1), x_hat[:4], torch.full((4,), 10.0), sigma=1.0)
    moving = explorer.figure.findobj(lambda artist: artist.get_animated())
    assert len(moving) == 3  # the σ marker, the pictures and their title
    for sigma in (0.5, 0.2, 0.05):  # left of the legend (lower right): nothing static lies on the marker
        explorer.controls["sigma"].value = sigma
    assert explorer.renderer.full_renders == 1 and explorer.redraws == 4
    assert differing_share(explorer) == 0  # the same picture as a full render
    explorer.figure.axes[0].set_ylim(-1e4, 1e4)  # a change to a static part ...
    explorer.controls["sigma"].value = 0.1
    assert explorer.renderer.full_renders == 2  # ... is seen: the figure is rendered whole again


# --- the literature table (lesson 2 shows it first) ---


def test_literature_rows_say_their_kind_and_the_caption_which_compare():
    from vae_tutorial.lessons.shared.literature import CAPTION, CIFAR10_BITS_PER_DIM, bits_per_dim_table

    assert all(result.kind and result.source for result in CIFAR10_BITS_PER_DIM)
    assert "single 256-d latent" in CAPTION and "the three baselines" in CAPTION
    assert bits_per_dim_table({"ours": 7.0}).startswith(CAPTION)
    uniform, gaussian = CIFAR10_BITS_PER_DIM[0], CIFAR10_BITS_PER_DIM[1]
    assert uniform.bits_per_dim == -math.log2(1 / 256)
    s = torch.tensor([63.0, 62.1, 66.7], dtype=torch.float64) / 255  # CIFAR-10's std per channel, by hand
    entropy_bits = 0.5 * torch.log2(2 * math.pi * math.e * s**2) + 8  # (3,): a fitted Gaussian's score
    assert gaussian.bits_per_dim == round(entropy_bits.mean().item(), 2)
