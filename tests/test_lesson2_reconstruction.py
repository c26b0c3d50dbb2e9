"""Lesson 2: the decoder scale (scales.py), the KL/reconstruction balance (balance.py),
and lesson 2's figures and explorers. Each formula is checked against an independent
computation (autograd, a brute-force search, torch's own variance) with a stated tolerance."""

import math

import pytest
import torch
from blitting import differing_share
from matplotlib.figure import Figure

from vae_tutorial import VAE, gaussian_log_likelihood, plots, to_unit_interval, widgets
from vae_tutorial.balance import (
    SweepPoint,
    active_units,
    beta_sweep,
    is_posterior_collapsed,
    posterior_means,
    sweep_table,
    unit_activity,
)
from vae_tutorial.scales import fix_scale, optimal_log_scale, train_small_vae
from vae_tutorial.train import make_optimizer

SCALE_SHAPES = {"scalar": (), "channel": (3, 1, 1), "pixel": (3, 32, 32)}


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
    points = beta_sweep([1e6, 1.0], images, test_images, sigma=0.1, epochs=2, batch_size=16, device="cpu")
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
    optimizer = make_optimizer(model, lr=1e-3, scale_lr=0.05)
    networks, scale = optimizer.param_groups
    assert scale["params"] == [model.log_scale] and scale["lr"] == 0.05
    assert networks["lr"] == 1e-3 and len(networks["params"]) == len(list(model.parameters())) - 1
    with pytest.raises(ValueError, match="positive"):
        make_optimizer(model, lr=0.0, scale_lr=0.05)


def test_fix_scale_sets_and_freezes_sigma():
    model = fix_scale(VAE(8, "small", "channel"), 0.25)
    assert torch.allclose(model.log_scale.exp(), torch.full((3, 1, 1), 0.25))
    assert not model.log_scale.requires_grad
    assert len(make_optimizer(model, 1e-3, 0.05).param_groups) == 1  # the frozen σ is left out
    with pytest.raises(ValueError, match="sigma must be positive"):
        fix_scale(model, 0.0)


def test_train_small_vae_learns_sigma_or_keeps_it_fixed(shapes_small):
    images = shapes_small[0][:128]
    learned, history = train_small_vae(images, "scalar", epochs=1, batch_size=32, device="cpu")
    assert history.epochs == 1 and history.steps == 4 and not learned.training
    assert learned.log_scale.item() < -0.05  # 4 steps at scale_lr 0.05 move log σ down from 0
    fixed, _ = train_small_vae(images, "scalar", epochs=1, batch_size=32, fixed_sigma=0.3, device="cpu")
    assert fixed.log_scale.exp().item() == pytest.approx(0.3)
    again, _ = train_small_vae(images, "scalar", epochs=1, batch_size=32, device="cpu")
    assert torch.equal(again.log_scale, learned.log_scale)  # seeded: the same run twice


# --- balance.py ---


def test_posterior_means_are_the_encoders_means(small_vae, shapes_small):
    images = shapes_small[0][:20]
    expected = small_vae.encode(to_unit_interval(images, dequantize=False)).loc
    torch.testing.assert_close(posterior_means(small_vae, images, batch_size=7), expected.detach())


def test_unit_activity_is_the_variance_of_the_means(small_vae, shapes_small):
    images = shapes_small[0][:50]
    means = posterior_means(small_vae, images).double()  # (50, 16)
    by_hand = ((means - means.mean(0)) ** 2).sum(0) / (len(means) - 1)  # unbiased variance
    torch.testing.assert_close(unit_activity(small_vae, images).double(), by_hand, rtol=1e-4, atol=1e-10)
    with pytest.raises(ValueError, match="at least 2"):
        unit_activity(small_vae, images[:1])


def test_a_constant_encoder_is_collapsed_and_a_spread_one_is_not(shapes_small):
    images = shapes_small[0][:64]
    model = VAE(16, "small").eval()
    with torch.no_grad():
        model.fc_mu.weight.zero_()  # every image gets the same posterior mean
    assert active_units(model, images) == 0 and is_posterior_collapsed(model, images)
    with torch.no_grad():
        model.fc_mu.weight.normal_(std=30.0)  # means now move a lot with the image
    assert active_units(model, images) == 16 and not is_posterior_collapsed(model, images)
    assert active_units(model, images, threshold=1e9) == 0


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
    for betas in ([], [1.0, -2.0]):
        with pytest.raises(ValueError, match="betas must be"):
            beta_sweep(betas, images, images)


# --- figures and explorers ---


def test_image_mosaic_places_rows_and_checks_them():
    rows = [torch.zeros(4, 3, 32, 32), torch.ones(4, 3, 32, 32)]
    mosaic = plots.image_mosaic(rows, gap=1)
    assert mosaic.shape == (2 * 33 - 1, 4 * 33 - 1, 3)
    assert mosaic[0, 0].sum() == 0 and mosaic[40, 0].sum() == 3  # first row black, second white
    with pytest.raises(ValueError, match="row 1"):
        plots.image_mosaic([torch.zeros(4, 3, 32, 32), torch.zeros(3, 3, 32, 32)])


def test_lesson2_figures_have_labelled_axes():
    x = torch.rand(4, 3, 32, 32)
    figure = plots.image_rows_figure({"x": x, "x again": x}, "two rows")
    assert isinstance(figure, Figure) and figure.axes[0].get_title() == "two rows"
    maps = plots.scale_maps_figure({"one σ": torch.tensor(-1.0), "σ per channel": torch.zeros(3, 1, 1),
                                   "σ per pixel": torch.randn(3, 32, 32)})
    assert maps.axes[1].get_title() == "σ per channel: R 1.000 G 1.000 B 1.000"
    assert maps.axes[0].get_xlabel() == "pixel column"
    ladder = plots.bits_per_dim_ladder([("uniform", 8.0), ("NVAE", 2.91)], {"ours": 5.0})
    assert "bits per dimension" in ladder.axes[0].get_xlabel()
    labels = [t.get_text() for t in ladder.axes[0].get_yticklabels()]
    assert labels == ["NVAE", "ours", "uniform"]  # best first


def test_sigma_explorer_redraws_and_finds_the_rms_error(decoder_output):
    x, x_hat = decoder_output
    x, x_hat = x[:4].clamp(0, 1), x_hat[:4]
    kl = torch.full((4,), 10.0)
    explorer = widgets.sigma_explorer(x, x_hat, kl, sigma=1.0)
    first_png, first = explorer.output.value, dict(explorer.values)
    explorer.controls["sigma"].value = 0.3
    assert explorer.output.value != first_png and explorer.values["σ"] == pytest.approx(0.3, rel=1e-3)
    expected = gaussian_log_likelihood(x_hat, torch.tensor(0.3).log(), x).mean().item()
    assert explorer.values["log p(x|z)"] == pytest.approx(expected, rel=1e-3)
    assert explorer.values["ELBO"] == pytest.approx(expected - 10.0, rel=1e-3)
    assert explorer.values["log p(x|z)"] != first["log p(x|z)"]
    explorer.buttons["best"].click()
    rms = ((x - x_hat) ** 2).mean().sqrt().item()
    assert explorer.values["best σ (RMS error)"] == pytest.approx(rms, rel=1e-5)
    assert explorer.values["σ"] == pytest.approx(rms, rel=0.03)  # the slider's step is 10^0.01
    assert "log p(x|z)" in explorer.readouts["log p(x|z)"].value
    with pytest.raises(ValueError, match="sigma_range"):
        widgets.sigma_explorer(x, x_hat, kl, sigma=5.0)


def test_beta_explorer_shows_each_beta(tiny_sweep):
    points, test_images = tiny_sweep
    explorer = widgets.beta_explorer(points, test_images[:4])
    assert explorer.values["β"] == 1.0 and explorer.values["posterior collapse"] == "no"
    first_png = explorer.output.value
    explorer.controls["beta"].value = 1
    assert explorer.values["β"] == 1e6 and explorer.values["posterior collapse"] == "yes"
    assert explorer.values["active units"] == "0 of 16"
    assert explorer.output.value != first_png and explorer.redraws == 2
    with pytest.raises(ValueError, match="at least one"):
        widgets.beta_explorer([], test_images[:4])


def test_sweep_point_equivalent_sigma():
    point = SweepPoint(beta=100.0, sigma=0.1, model=VAE(4, "small"), elbo=0.0, kl=0.0, recon=0.0,
                       active_units=0, collapsed=True, seconds=0.0)
    assert point.equivalent_sigma == pytest.approx(1.0)  # beta 100 at σ 0.1 is σ = 1 at beta 1


def test_explorer_redraws_only_what_moves_and_the_picture_matches_a_full_render(decoder_output):
    """Blitting (widgets.explorer.BlitRenderer): one full render, then only the animated artists."""
    x, x_hat = decoder_output
    explorer = widgets.sigma_explorer(x[:4].clamp(0, 1), x_hat[:4], torch.full((4,), 10.0), sigma=1.0)
    moving = explorer.figure.findobj(lambda artist: artist.get_animated())
    assert len(moving) == 3  # the σ marker, the pictures and their title
    for sigma in (0.5, 0.2, 0.05):  # left of the legend (lower right): nothing static lies on the marker
        explorer.controls["sigma"].value = sigma
    assert explorer.renderer.full_renders == 1 and explorer.redraws == 4
    assert differing_share(explorer) == 0  # the same picture as a full render
    explorer.figure.axes[0].set_ylim(-1e4, 1e4)  # a change to a static part ...
    explorer.controls["sigma"].value = 0.1
    assert explorer.renderer.full_renders == 2  # ... is seen: the figure is rendered whole again
