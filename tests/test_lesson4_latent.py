"""Lesson 4: latent-space analysis (vae_tutorial.lessons.latent_space), its figures and the latent explorer.

Every measurement is compared with an independent computation: a formula written out by
hand, a brute-force sum, an eigen-decomposition, or Monte Carlo with a stated tolerance.
"""

import math

import pytest
import torch
from matplotlib.figure import Figure
from torch.distributions import Normal

from vae_tutorial import (
    VAE,
    encode_images,
    gaussian_log_likelihood,
    kl_analytic,
    shapes_dataset,
    to_unit_interval,
)
from vae_tutorial.elbo import importance_log_weights
from vae_tutorial.lessons.latent_space import explorers, figures
from vae_tutorial.lessons.latent_space.factors import (
    discrete_mutual_information,
    factor_correlations,
    factor_features,
    factor_mutual_information,
    factor_table,
    label_probe,
    linear_probe,
    multiple_correlation,
    principal_components,
    quantile_bins,
    ridge_regression,
)
from vae_tutorial.lessons.latent_space.paths import (
    chi2_quantile,
    lerp,
    prior_norm_band,
    prior_norm_quantile,
    slerp,
)
from vae_tutorial.lessons.latent_space.usage import decoder_sensitivity, rank_correlation
from vae_tutorial.lessons.shared.bounds import iwae_curve, iwae_from_log_weights
from vae_tutorial.lessons.shared.explorer import Explorer
from vae_tutorial.lessons.shared.posteriors import active_units, dimensions_by_kl, kl_per_dimension


@pytest.fixture(scope="module")
def images():
    return shapes_dataset(48, seed=3)[0]


# ---------------------------------------------------------------------------------------
# Posteriors and which dimensions they use
# ---------------------------------------------------------------------------------------

def test_encode_images_matches_the_model_and_does_not_depend_on_the_batch(small_vae, images):
    q = encode_images(small_vae, images, batch_size=7)
    with torch.no_grad():
        expected = small_vae.encode((images.float() + 0.5) / 256)  # pixel centres, no noise
    torch.testing.assert_close(q.loc, expected.loc)
    torch.testing.assert_close(q.scale, expected.scale)
    torch.testing.assert_close(encode_images(small_vae, images, batch_size=256).loc, q.loc)


def test_encode_images_uses_eval_mode_and_restores_training_mode(images):
    model = VAE(latent_dim=8, backbone="resnet18").train()  # batch norm: eval mode matters
    q_alone = encode_images(model, images[:1]).loc
    q_in_batch = encode_images(model, images[:16]).loc[:1]
    torch.testing.assert_close(q_alone, q_in_batch, rtol=1e-4, atol=1e-5)
    assert model.training


def test_encode_images_rejects_float_images(small_vae):
    with pytest.raises(TypeError, match="uint8"):
        encode_images(small_vae, torch.rand(2, 3, 32, 32))


def test_kl_per_dimension_is_the_closed_form_of_each_image_and_dimension():
    q = Normal(torch.randn(50, 6), torch.rand(50, 6) + 0.2)
    prior = Normal(torch.zeros(6), torch.ones(6))
    by_hand = 0.5 * (q.scale**2 + q.loc**2 - 1 - torch.log(q.scale**2))  # KL(N(m, s^2) || N(0, 1))
    torch.testing.assert_close(kl_per_dimension(q), by_hand)  # (50, 6): elementwise
    torch.testing.assert_close(kl_per_dimension(q).mean(dim=0), by_hand.mean(dim=0))
    torch.testing.assert_close(kl_per_dimension(q).mean(dim=0).sum(), kl_analytic(q, prior).mean())


def test_active_units_thresholds_the_variance_of_the_posterior_means():
    loc = torch.randn(4000, 3) * torch.tensor([1.0, 0.05, 0.2])  # variances 1, 0.0025, 0.04
    assert active_units(loc).tolist() == [True, False, True]
    assert active_units(loc, threshold=0.1).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="N >= 2"):
        active_units(torch.zeros(1, 3))


def test_dimensions_by_kl_sorts_by_kl_largest_first():
    assert dimensions_by_kl(torch.tensor([0.1, 3.0, 0.0, 1.0])).tolist() == [1, 3, 0, 2]


def test_decoder_sensitivity_is_zero_for_a_dimension_the_decoder_ignores(small_vae, images):
    with torch.no_grad():
        small_vae.decoder.linear.weight[:, 3] = 0.0  # the decoder can no longer see z[3]
    codes = torch.randn(6, 16)
    sensitivity = decoder_sensitivity(small_vae, codes, step=1.5)
    assert sensitivity.shape == (16,)
    assert sensitivity[3] == 0.0 and (sensitivity[torch.arange(16) != 3] > 0).all()
    with torch.no_grad():
        moved = codes.clone()
        moved[:, 5] += 1.5
        by_hand = (small_vae.decode(moved) - small_vae.decode(codes)).abs().mean()
    assert sensitivity[5].item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_rank_correlation_is_pearson_on_ranks():
    a = torch.tensor([0.1, 5.0, 2.0, 3.0])
    assert rank_correlation(a, a**3) == pytest.approx(1.0)  # any increasing function
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    ranks_a, ranks_b = torch.tensor([0.0, 3, 1, 2]), torch.tensor([1.0, 3, 0, 2])
    assert rank_correlation(a, torch.tensor([2.0, 9, 1, 4])) == pytest.approx(
        torch.corrcoef(torch.stack([ranks_a, ranks_b]))[0, 1].item())
    with pytest.raises(ValueError, match="n >= 2"):
        rank_correlation(a, a[:3])


# ---------------------------------------------------------------------------------------
# Interpolation and the prior's norms
# ---------------------------------------------------------------------------------------

def test_lerp_is_the_straight_line_with_both_ends():
    z0, z1 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    path = lerp(z0, z1, 5)
    assert path.shape == (5, 2)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path[2], torch.tensor([2.0, 0.0]))


def test_slerp_turns_at_constant_speed_on_the_circle():
    angle = 1.2
    z0, z1 = torch.tensor([2.0, 0.0]), 2.0 * torch.tensor([math.cos(angle), math.sin(angle)])
    path = slerp(z0, z1, 7)
    t = torch.linspace(0, 1, 7)
    expected = 2.0 * torch.stack([torch.cos(t * angle), torch.sin(t * angle)], dim=1)
    torch.testing.assert_close(path, expected, rtol=1e-5, atol=1e-5)


def test_slerp_keeps_the_norm_of_equal_norm_ends_in_high_dimensions():
    z0, z1 = torch.randn(2, 256)
    z1 = z1 * z0.norm() / z1.norm()
    norms = slerp(z0, z1, 11).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((11,), z0.norm().item()), rtol=1e-5, atol=1e-5)
    assert lerp(z0, z1, 11).norm(dim=1)[5] < 0.8 * z0.norm()  # the straight line cuts inside


def test_slerp_of_parallel_vectors_is_the_straight_line_and_opposite_ones_are_refused():
    z0 = torch.tensor([1.0, 2.0, 2.0])
    torch.testing.assert_close(slerp(z0, 3 * z0, 4), lerp(z0, 3 * z0, 4))
    with pytest.raises(ValueError, match="opposite"):
        slerp(z0, -z0, 4)
    with pytest.raises(ValueError, match="non-zero"):
        slerp(z0, torch.zeros(3), 4)
    with pytest.raises(ValueError, match="steps"):
        lerp(z0, z0, 1)
    with pytest.raises(ValueError, match="same size"):
        lerp(z0, torch.zeros(2), 3)


def test_prior_norm_quantile_matches_monte_carlo():
    draws = torch.randn(200_000, 10)
    radii = torch.tensor([[2.0] + [0.0] * 9, [3.0] + [0.0] * 9, [4.0] + [0.0] * 9])
    quantiles = prior_norm_quantile(radii)
    empirical = (draws.norm(dim=1)[None, :] <= radii.norm(dim=1)[:, None]).float().mean(dim=1)
    torch.testing.assert_close(quantiles, empirical, rtol=0, atol=0.005)


def test_prior_norm_band_in_one_dimension_is_the_half_normal_band():
    # In 1-D, ||z|| = |z|: the 0.5 % and 99.5 % quantiles of |z| come from the Normal's inverse cdf.
    standard = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    low, high = prior_norm_band(1, mass=0.99)
    assert low == pytest.approx(standard.icdf(torch.tensor(0.5025, dtype=torch.float64)).item(), rel=1e-6)
    assert high == pytest.approx(standard.icdf(torch.tensor(0.9975, dtype=torch.float64)).item(), rel=1e-6)


def test_chi2_quantile_inverts_the_cdf():
    for dof, p in [(3, 0.1), (32, 0.5), (256, 0.995)]:
        value = chi2_quantile(dof, p)
        cdf = torch.distributions.Chi2(torch.tensor(float(dof), dtype=torch.float64)).cdf(
            torch.tensor(value, dtype=torch.float64))
        assert cdf.item() == pytest.approx(p, abs=1e-9)


# ---------------------------------------------------------------------------------------
# Scores against known factors
# ---------------------------------------------------------------------------------------

def test_multiple_correlation_with_one_feature_is_the_absolute_pearson_correlation():
    x = torch.randn(500)
    targets = torch.stack([2 * x + torch.randn(500), -x + 0.1 * torch.randn(500)], dim=1)
    pearson = torch.stack([torch.corrcoef(torch.stack([x, t]))[0, 1] for t in targets.T]).abs()
    torch.testing.assert_close(multiple_correlation(x[:, None], targets), pearson, rtol=1e-5, atol=1e-5)


def test_multiple_correlation_on_an_angle_is_mardias_circular_linear_correlation():
    hue = torch.rand(2000, dtype=torch.float64)
    angle = 2 * math.pi * hue
    z = torch.cos(angle - 0.7) + 0.5 * torch.randn(2000, dtype=torch.float64)

    def r(a, b):
        return torch.corrcoef(torch.stack([a, b]))[0, 1]

    rzc, rzs, rcs = r(z, angle.cos()), r(z, angle.sin()), r(angle.cos(), angle.sin())
    mardia = torch.sqrt((rzc**2 + rzs**2 - 2 * rzc * rzs * rcs) / (1 - rcs**2))
    score = multiple_correlation(factor_features({"hue": hue})["hue"], z[:, None])
    assert score.item() == pytest.approx(mardia.item(), abs=1e-5)


def test_multiple_correlation_on_categories_is_the_correlation_ratio():
    shape = torch.randint(3, (900,))
    z = torch.tensor([0.0, 2.0, -1.0])[shape] + torch.randn(900)
    group_means = torch.stack([z[shape == c].mean() for c in range(3)])[shape]
    eta = torch.sqrt(((group_means - z.mean()) ** 2).sum() / ((z - z.mean()) ** 2).sum())
    score = multiple_correlation(factor_features({"shape": shape})["shape"], z[:, None])
    assert score.item() == pytest.approx(eta.item(), abs=1e-5)


def test_multiple_correlation_checks_shapes():
    with pytest.raises(ValueError, match="same N"):
        multiple_correlation(torch.zeros(5, 1), torch.zeros(4, 2))


def test_factor_features_handle_circular_and_categorical_factors():
    features = factor_features({"hue": torch.tensor([0.0, 0.25]), "shape": torch.tensor([0, 2]),
                                "x": torch.tensor([1.0, 3.0])})
    torch.testing.assert_close(features["hue"], torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64),
                               atol=1e-12, rtol=0)
    assert features["shape"].tolist() == [[0.0, 0.0], [0.0, 1.0]]  # category 0 is the intercept's
    assert features["x"].tolist() == [[1.0], [3.0]]


def test_factor_correlations_find_the_dimension_that_encodes_each_factor(shapes_small):
    _, factors = shapes_small
    angle = 2 * math.pi * factors["hue"]
    codes = torch.stack([factors["x"], torch.randn(512), torch.cos(angle), torch.sin(angle)], dim=1)
    table = factor_correlations(codes, factors)  # rows in the order of factors
    names = list(factors)
    assert table.shape == (len(names), 4)
    assert table[names.index("x"), 0] == pytest.approx(1.0, abs=1e-5)
    assert table[names.index("hue"), 2] == pytest.approx(1.0, abs=1e-5)  # a wrap-around-free match
    assert table[:, 1].max() < 0.2  # noise explains no factor


def test_linear_probe_sees_information_spread_over_rotated_dimensions(shapes_small):
    _, factors = shapes_small
    x, y = factors["x"] - 16, factors["y"] - 16
    codes = torch.stack([x + y, x - y, torch.randn(512)], dim=1)  # x and y, rotated by 45 degrees
    probe = linear_probe(codes, factors)
    names = list(factors)
    assert probe[names.index("x")] == pytest.approx(1.0, abs=1e-5)
    assert probe[names.index("y")] == pytest.approx(1.0, abs=1e-5)
    assert probe[names.index("size")] < 0.05
    assert factor_correlations(codes, {"x": factors["x"]}).max() < 0.8  # no single dimension is x


def test_linear_probe_is_scored_on_held_out_images():
    factor = {"x": torch.randn(400)}
    noise = torch.randn(400, 150)  # fitted in-sample, 150 noise columns would give R^2 near 150/400
    design = torch.cat([torch.ones(400, 1), noise], dim=1).double()
    target = factor["x"].double()[:, None]
    fitted = design @ torch.linalg.lstsq(design, target).solution
    assert 1 - (target - fitted).pow(2).sum() / (target - target.mean()).pow(2).sum() > 0.3
    assert linear_probe(noise, factor) < 0.05
    with pytest.raises(ValueError, match="train_fraction"):
        linear_probe(noise, factor, train_fraction=1.0)


def test_ridge_regression_with_no_penalty_is_least_squares():
    inputs, targets = torch.randn(300, 4, dtype=torch.float64), torch.randn(300, 2, dtype=torch.float64)
    design = torch.cat([torch.ones(300, 1, dtype=torch.float64), inputs], dim=1)
    least_squares = design @ torch.linalg.lstsq(design, targets).solution
    torch.testing.assert_close(ridge_regression(inputs, targets, 0.0)(inputs), least_squares)


def test_linear_probe_survives_nearly_collinear_codes(shapes_small):
    _, factors = shapes_small
    x = factors["x"].double()
    features = torch.randn(512, 20, dtype=torch.float64)
    codes = torch.cat([x[:, None] + 1e-7 * features, features], dim=1)  # 20 near-copies of x, rank 21
    assert linear_probe(codes, {"x": factors["x"]}) > 0.99


def test_label_probe_reads_classes_that_the_code_separates_and_not_noise():
    labels = torch.arange(600) % 3  # three classes
    centres = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    codes = torch.cat([centres[labels] + 0.3 * torch.randn(600, 2), torch.randn(600, 6)], dim=1)  # (600, 8)
    accuracy, chance = label_probe(codes, labels)
    assert accuracy == 1.0
    held_out = labels[300:]  # chance: the training half's most frequent class, scored on the held-out half
    assert chance == pytest.approx((held_out == torch.bincount(labels[:300]).argmax()).double().mean().item())
    noise_accuracy, noise_chance = label_probe(torch.randn(600, 8), labels)
    assert abs(noise_accuracy - noise_chance) < 0.1  # a code that carries nothing: about chance
    with pytest.raises(ValueError, match="labels"):
        label_probe(codes, labels[:10])


def test_factor_table_names_the_best_dimension_of_each_factor():
    correlation = torch.tensor([[0.1, 0.9], [0.8, 0.2]])
    information = torch.tensor([[0.0, 0.5], [0.4, 0.1]])
    table = factor_table(["x", "hue"], [7, 3], correlation, information, torch.tensor([0.95, 0.7]))
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[2] == "| x | z[3] | 0.90 | 0.50 | 0.95 |"
    assert lines[3] == "| hue | z[7] | 0.80 | 0.40 | 0.70 |"


def test_quantile_bins_hold_equal_counts():
    bins = quantile_bins(torch.randn(1000), 10)
    assert torch.bincount(bins).tolist() == [100] * 10


def brute_force_mutual_information(a, b):
    """I(a; b) by a double loop over the values, written independently of the vectorised code."""
    n, total = len(a), 0.0
    for u in set(a.tolist()):
        for v in set(b.tolist()):
            p_uv = ((a == u) & (b == v)).sum().item() / n
            if p_uv > 0:
                total += p_uv * math.log(p_uv / ((a == u).sum().item() / n * (b == v).sum().item() / n))
    return total


def test_discrete_mutual_information_matches_a_brute_force_sum():
    a = torch.randint(4, (300,))
    b = (a + torch.randint(2, (300,))) % 5
    assert discrete_mutual_information(a, b).item() == pytest.approx(brute_force_mutual_information(a, b),
                                                                     abs=1e-9)
    labels = torch.arange(8).repeat(10)
    assert discrete_mutual_information(labels, labels).item() == pytest.approx(math.log(8), abs=1e-9)


def test_factor_mutual_information_is_one_for_a_copy_and_near_zero_for_noise(shapes_small):
    _, factors = shapes_small
    subset = {"x": factors["x"], "shape": factors["shape"]}
    codes = torch.stack([factors["x"], factors["shape"].float() + 0.01 * torch.rand(512),
                         torch.randn(512)], dim=1)
    table = factor_mutual_information(codes, subset, bins=8)
    assert table[0, 0] == pytest.approx(1.0, abs=1e-6)  # x binned = x binned
    # Equal-count bins of the code do not fall on the category borders: a bin that straddles
    # two shapes loses a little information, so the score is high but below 1.
    assert 0.8 < table[1, 1] < 1.0
    assert factor_mutual_information(codes, subset, bins=64)[1, 1] > 0.95  # narrow bins straddle less
    # Noise: only the histogram's upward bias, about (bins - 1)^2 / (2 N) nats over H(x) = ln 8.
    assert table[0, 2] < 3 * (8 - 1) ** 2 / (2 * 512) / math.log(8)


# ---------------------------------------------------------------------------------------
# The 2-D projection
# ---------------------------------------------------------------------------------------

def test_principal_components_match_the_eigenvectors_of_the_covariance():
    codes = torch.randn(400, 5, dtype=torch.float64) @ torch.randn(5, 5, dtype=torch.float64)
    points, explained = principal_components(codes, 2)
    eigenvalues = torch.linalg.eigvalsh(torch.cov(codes.T)).flip(0)  # largest first
    torch.testing.assert_close(points.var(dim=0), eigenvalues[:2])
    torch.testing.assert_close(explained, eigenvalues[:2] / eigenvalues.sum())
    assert abs(points[:, 0] @ points[:, 1]) < 1e-8 * len(points)  # uncorrelated coordinates
    with pytest.raises(ValueError, match="n_components"):
        principal_components(codes, 6)


# ---------------------------------------------------------------------------------------
# The importance-weighted bound against k
# ---------------------------------------------------------------------------------------

def test_importance_log_weights_are_log_p_x_z_plus_log_p_z_minus_log_q(small_vae, images):
    x = to_unit_interval(images[:5])
    torch.manual_seed(7)
    log_w = importance_log_weights(small_vae, x, 3)
    assert log_w.shape == (3, 5)
    torch.manual_seed(7)
    by_hand = []
    with torch.no_grad():
        q = small_vae.encode(x)  # x is encoded once, its 3 samples drawn at once:
        for z in q.sample((3,)):  # the same draws as importance_log_weights's
            log_px_z = gaussian_log_likelihood(small_vae.decode(z), small_vae.log_scale, x)
            by_hand.append(log_px_z + small_vae.prior.log_prob(z).sum(1) - q.log_prob(z).sum(1))
    torch.testing.assert_close(log_w, torch.stack(by_hand), rtol=1e-5, atol=1e-3)


def test_iwae_from_log_weights_at_both_ends():
    log_w = torch.randn(8, 4) * 3
    torch.testing.assert_close(iwae_from_log_weights(log_w, 1), log_w.mean(dim=0))
    torch.testing.assert_close(iwae_from_log_weights(log_w, 8), torch.logsumexp(log_w, 0) - math.log(8))
    blocks_of_two = torch.stack([torch.logsumexp(log_w[i:i + 2], 0) - math.log(2) for i in (0, 2, 4, 6)])
    torch.testing.assert_close(iwae_from_log_weights(log_w, 2), blocks_of_two.mean(dim=0))
    with pytest.raises(ValueError, match="divisor"):
        iwae_from_log_weights(log_w, 3)


def test_iwae_curve_never_gets_looser_along_a_doubling_chain():
    for seed in range(20):  # heavy-tailed weights, the hard case for monotonicity
        generator = torch.Generator().manual_seed(seed)
        log_w = 10 * torch.randn(64, 3, generator=generator) ** 3
        curve = iwae_curve(log_w, [1, 2, 4, 8, 16, 32, 64])
        assert (curve.diff() >= -1e-4).all(), curve


def test_iwae_curve_approaches_log_p_x_for_a_model_with_known_likelihood():
    # Weights w = p(x, z) / q(z | x) with mean exactly 1 (log-normal): log p(x) = 0, the ELBO = -s^2/2.
    s = 1.0
    log_w = s * torch.randn(4096, 200, dtype=torch.float64) - s**2 / 2
    curve = iwae_curve(log_w, [1, 4096])
    assert curve[0].item() == pytest.approx(-s**2 / 2, abs=0.01)
    assert -0.01 < curve[1].item() <= 0.01


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

def titled_and_labelled(figure):
    axes = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    return all(ax.get_title() for ax in axes) and all(ax.get_xlabel() for ax in axes)


def test_lesson4_figures_are_titled_and_labelled():
    kl = torch.rand(16)
    drawn = [
        figures.kl_per_dimension_bars(kl, kl > 0.5),
        figures.path_norms_figure({"linear": torch.rand(20, 5), "spherical": torch.rand(20, 5)}, (0.2, 0.9)),
        figures.factor_heatmap({"R": torch.rand(6, 4), "MI": torch.rand(6, 4)}, list("abcdef"), [3, 1, 0, 2]),
        figures.iwae_curve_figure([1, 2, 4], torch.tensor([7.0, 6.9, 6.85])),
        figures.projection_scatter(torch.randn(30, 2), torch.randint(3, (30,)), torch.tensor([0.5, 0.2]),
                                   "shape", categories=["a", "b", "c"]),
        figures.projection_scatter(torch.randn(30, 2), torch.rand(30), torch.tensor([0.5, 0.2]), "hue",
                                   cyclic=True),
    ]
    for figure in drawn:
        assert isinstance(figure, Figure)
        assert titled_and_labelled(figure)


# ---------------------------------------------------------------------------------------
# The latent explorer, driven from Python
# ---------------------------------------------------------------------------------------

@pytest.fixture
def explorer(images):
    model = VAE(latent_dim=8, backbone="small").eval()
    return explorers.latent_explorer(model, images, dims=[3, 0, 5], start=2)


def test_latent_explorer_starts_at_the_code_of_the_image(explorer):
    assert isinstance(explorer, Explorer)
    assert list(explorer.controls) == ["shift z[3]", "shift z[0]", "shift z[5]"]
    # every slider starts at 0, an exact grid point the browser sends back unchanged
    assert [s.value for s in explorer.controls.values()] == [0.0, 0.0, 0.0]
    torch.testing.assert_close(explorer.explored_z(), explorer.code)
    assert explorer.values["image"] == 2
    assert explorer.values["distance from the code"] == 0.0
    assert explorer.values["mean |pixel change|"] == pytest.approx(0.0, abs=1e-6)
    code = explorer.code
    assert explorer.values["z on the sliders' dimensions"] == f"({code[3]:.2f}, {code[0]:.2f}, {code[5]:.2f})"
    assert explorer.output.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_moving_a_slider_shifts_its_dimension_and_redraws_the_decoded_image(explorer):
    png, redraws = explorer.output.value, explorer.redraws
    explorer.controls["shift z[0]"].value = 2.0
    assert explorer.redraws == redraws + 1
    assert explorer.output.value != png
    expected = explorer.code.clone()
    expected[0] += 2.0
    torch.testing.assert_close(explorer.explored_z(), expected)
    assert explorer.values["distance from the code"] == pytest.approx(2.0)
    assert explorer.values["mean |pixel change|"] > 0
    assert f", {expected[0]:.2f}, " in explorer.values["z on the sliders' dimensions"]
    assert "distance from the code" in explorer.readouts["distance from the code"].value


def test_another_image_resets_every_shift_with_one_redraw(explorer, images):
    explorer.controls["shift z[5]"].value = 2.5
    explorer.controls["shift z[3]"].value = -1.0
    redraws, png = explorer.redraws, explorer.output.value
    explorer.buttons["another image"].click()
    assert explorer.redraws == redraws + 1
    assert explorer.values["image"] == 3
    expected = encode_images(explorer.model, images[3:4]).loc[0]
    torch.testing.assert_close(explorer.code, expected)
    assert [s.value for s in explorer.controls.values()] == [0.0, 0.0, 0.0]
    torch.testing.assert_close(explorer.explored_z(), expected)
    assert explorer.values["distance from the code"] == 0.0
    assert explorer.output.value != png


def test_back_to_its_code_undoes_the_shifts_and_the_last_image_wraps(explorer, images):
    explorer.controls["shift z[3]"].value = -2.0
    explorer.buttons["back to its code"].click()
    assert explorer.values["image"] == 2
    assert explorer.values["distance from the code"] == 0.0
    explorer.recentre(len(images) - 1)
    explorer.buttons["another image"].click()
    assert explorer.values["image"] == 0


def test_latent_explorer_rejects_bad_arguments(images):
    model = VAE(latent_dim=8, backbone="small").eval()
    with pytest.raises(ValueError, match="dims"):
        explorers.latent_explorer(model, images, dims=[8])
    with pytest.raises(ValueError, match="dims"):
        explorers.latent_explorer(model, images, dims=[])
    with pytest.raises(ValueError, match="start"):
        explorers.latent_explorer(model, images, dims=[0], start=len(images))
    with pytest.raises(TypeError, match="uint8"):
        explorers.latent_explorer(model, images.float(), dims=[0])
    with pytest.raises(ValueError, match="slider_limit"):
        explorers.latent_explorer(model, images, dims=[0], slider_limit=0.0)
