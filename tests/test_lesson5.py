"""Lesson 5: the ELBO's gap (vae_tutorial.lessons.elbo_gap), its explorer and its exercises.

Every quantity is compared with an independent computation: pPCA's log p(x) with an
integral on a grid and with torch.distributions' marginal, the posterior with Bayes' rule
on a grid, the VAE's ELBOs with the core's functions, the aggregate posterior with
brute-force sums and closed forms.
"""

import math
import time

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from tests.blitting import differing_share
from vae_tutorial import VAE, shapes_dataset, to_unit_interval
from vae_tutorial.elbo import importance_log_weights, log_mean_exp
from vae_tutorial.lessons import elbo_gap as lesson
from vae_tutorial.lessons import solutions
from vae_tutorial.lessons.elbo_gap import exercises
from vae_tutorial.lessons.elbo_gap.exercises import random_ppca
from vae_tutorial.lessons.shared.exercises import CORRECT, NOT_ATTEMPTED, ExerciseError

# --- probabilistic PCA: every term exact ---------------------------------------------------


def log_joint_on_grid(model, x, z):
    """log p(x|z) + log p(z) at every point of the 1-d grid ``z (n,)``: ``(n, N)``."""
    prior = Normal(0.0, 1.0).log_prob(z)[:, None]  # (n, 1)
    return model.log_likelihood(x, z[:, None, None].expand(-1, len(x), 1)) + prior


def grid_log_evidence(model, x, z):
    """log ∫ p(x|z) p(z) dz by the trapezoid rule on the 1-d grid ``z (n,)``: ``(N,)``."""
    return torch.log(torch.trapezoid(log_joint_on_grid(model, x, z).exp(), z, dim=0))  # (N,)


def test_log_evidence_matches_a_grid_integral_and_the_marginal():
    model, x = random_ppca(4, 1, seed=3)
    z = torch.linspace(-12, 12, 40_001, dtype=torch.float64)
    torch.testing.assert_close(model.log_evidence(x), grid_log_evidence(model, x, z), rtol=0, atol=1e-7)
    covariance = model.W @ model.W.T + model.sigma**2 * torch.eye(4, dtype=torch.float64)
    marginal = MultivariateNormal(model.b, covariance)
    torch.testing.assert_close(model.log_evidence(x), marginal.log_prob(x), rtol=0, atol=1e-9)


def test_log_evidence_with_a_2d_latent_matches_a_2d_grid_integral():
    model, x = random_ppca(3, 2, seed=4)
    z1 = torch.linspace(-7, 7, 701, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(z1, z1, indexing="ij"), -1).reshape(-1, 2)  # (701², 2)
    prior = Normal(0.0, 1.0).log_prob(grid).sum(-1)[:, None]  # (701², 1)
    log_joint = model.log_likelihood(x[:2], grid[:, None, :].expand(-1, 2, 2)) + prior
    integral = torch.log(log_joint.exp().sum(0) * (z1[1] - z1[0]) ** 2)  # (2,) a Riemann sum is enough here
    torch.testing.assert_close(model.log_evidence(x[:2]), integral, rtol=0, atol=1e-5)


def test_posterior_is_bayes_rule_on_a_grid():
    model, x = random_ppca(4, 1, seed=5)
    z = torch.linspace(-12, 12, 40_001, dtype=torch.float64)
    log_joint = log_joint_on_grid(model, x, z)  # (n, N)
    bayes = log_joint.exp() / torch.trapezoid(log_joint.exp(), z, dim=0)  # (n, N): p(z|x) on the grid
    posterior = model.posterior(x)
    exact = Normal(posterior.mean[:, 0], posterior.stddev[:, 0]).log_prob(z[:, None]).exp()
    torch.testing.assert_close(bayes, exact, rtol=0, atol=1e-6 * float(exact.max()))


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_elbo_plus_gap_is_log_evidence_for_any_q_and_the_gap_closes_at_the_posterior(latent_dim):
    model, x = random_ppca(5, latent_dim, seed=6)
    q_loc = 2 * torch.randn(5, latent_dim, dtype=torch.float64)
    q_scale = torch.exp(torch.randn(5, latent_dim, dtype=torch.float64))
    gap = model.gap(x, q_loc, q_scale)
    torch.testing.assert_close(model.elbo(x, q_loc, q_scale) + gap, model.log_evidence(x), rtol=0, atol=1e-9)
    assert (gap > 0).all()
    if latent_dim == 1:  # the posterior is itself a diagonal Gaussian
        posterior = model.posterior(x)
        at_posterior = model.gap(x, posterior.mean, posterior.stddev)
        torch.testing.assert_close(at_posterior, torch.zeros(5, dtype=torch.float64))


def test_closed_form_elbo_matches_monte_carlo():
    model, x = random_ppca(4, 2, seed=7)
    q = Normal(torch.randn(5, 2, dtype=torch.float64), 0.5 * torch.ones(5, 2, dtype=torch.float64))
    z = q.sample((50_000,))  # (S, 5, 2)
    terms = model.log_likelihood(x, z) + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
    error = (terms.mean(0) - model.elbo(x, q.loc, q.scale)).abs() / (terms.std(0) / math.sqrt(len(z)))
    assert error.max() < 5


def test_fit_ppca_is_the_maximum_likelihood():
    points = lesson.grey_patches(shapes_dataset(100, seed=5)[0], 500)
    model = lesson.fit_ppca(points)
    best = model.log_evidence(points).sum()
    for change in ({"sigma": model.sigma * 1.05}, {"sigma": model.sigma * 0.95}, {"W": model.W * 1.02},
                   {"b": model.b + 0.01}):
        nudged = lesson.PPCA(**{"W": model.W, "b": model.b, "sigma": model.sigma, **change})
        assert nudged.log_evidence(points).sum() < best, change


def test_grey_patches_are_cut_from_the_images():
    images = shapes_dataset(3, seed=0)[0]
    patches = lesson.grey_patches(images, 50, size=2, seed=1)
    assert patches.shape == (50, 4) and patches.min() >= 0 and patches.max() <= 1
    grey = images.double().mean(1) / 255  # (3, 32, 32)
    windows = grey.unfold(1, 2, 1).unfold(2, 2, 1).reshape(3, -1, 4)  # every 2x2 window
    for patch in patches[:10]:
        assert (windows - patch).abs().amax(-1).min() < 1e-12


def test_ppca_rejects_bad_input():
    model, _ = random_ppca(4, 1, seed=0)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        model.log_evidence(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="points"):
        lesson.fit_ppca(torch.zeros(10, 1))
    with pytest.raises(ValueError, match="1-d latent"):
        lesson.elbo_gap_explorer(random_ppca(4, 2, seed=0)[0], torch.zeros(4))


# --- the explorer -------------------------------------------------------------------------


@pytest.fixture
def explorer():
    model, x = random_ppca(4, 1, seed=8)
    return lesson.elbo_gap_explorer(model, x[0])


def test_explorer_readouts_are_the_closed_forms(explorer):
    model, x = explorer.model, explorer.x
    explorer.controls["q mean"].value = 0.7
    explorer.controls["q std"].value = 0.5
    loc, scale = torch.tensor([[0.7]], dtype=torch.float64), torch.tensor([[0.5]], dtype=torch.float64)
    values = explorer.values
    assert values["log p(x)"] == pytest.approx(float(model.log_evidence(x)), abs=1e-9)
    assert values["ELBO"] == pytest.approx(float(model.elbo(x, loc, scale)), abs=1e-9)
    assert values["gap KL(q ‖ p(z|x))"] == pytest.approx(float(model.gap(x, loc, scale)), abs=1e-9)
    assert values["ELBO + gap"] == pytest.approx(values["log p(x)"], abs=1e-9)
    assert values["KL(q ‖ p(z))"] == pytest.approx(float(kl_divergence(Normal(0.7, 0.5), Normal(0.0, 1.0))))
    assert "ELBO" in explorer.readouts["ELBO"].value


def test_explorer_redraws_when_a_slider_moves(explorer):
    before_png, before = explorer.output.value, dict(explorer.values)
    explorer.controls["q mean"].value = 1.5
    assert explorer.output.value != before_png
    assert explorer.values["ELBO"] != before["ELBO"] and explorer.values["log p(x)"] == before["log p(x)"]
    (q_line,) = explorer.figure.findobj(lambda artist: artist.get_gid() == "q")
    expected = Normal(1.5, 1.0).log_prob(explorer.z).exp()
    torch.testing.assert_close(torch.as_tensor(q_line.get_ydata()), expected)


def test_explorer_buttons_put_q_on_the_posterior_and_on_the_prior(explorer):
    explorer.buttons["q = p(z|x)"].click()
    assert explorer.values["gap KL(q ‖ p(z|x))"] == pytest.approx(0.0, abs=1e-9)
    assert explorer.values["ELBO"] == pytest.approx(explorer.values["log p(x)"], abs=1e-9)
    redraws = explorer.redraws
    explorer.buttons["q = p(z)"].click()
    assert explorer.redraws == redraws + 1  # one redraw for both sliders
    assert explorer.values["KL(q ‖ p(z))"] == pytest.approx(0.0, abs=1e-12)
    m, s = explorer.posterior.mean.item(), explorer.posterior.stddev.item()
    at_prior = math.log(s) + (1 + m**2) / (2 * s**2) - 0.5  # the gap is KL(N(0, 1) ‖ N(m, s²)) there
    assert explorer.values["gap KL(q ‖ p(z|x))"] == pytest.approx(at_prior, rel=1e-9) and at_prior > 0.1


def test_explorer_blits_small_moves_and_redraws_fast(explorer):
    explorer.buttons["q = p(z|x)"].click()  # settles the bar's scale
    full = explorer.renderer.full_renders
    start = time.process_time()  # CPU time: the same on a busy machine, unlike the wall clock
    for share in (1.05, 1.1, 1.0, 0.95, 0.9):
        explorer.controls["q std"].value = share * explorer.posterior.stddev.item()
    seconds_per_redraw = (time.process_time() - start) / 5
    assert explorer.renderer.full_renders == full  # only the moving parts were drawn
    assert differing_share(explorer) < 0.01  # and they look as a full render does
    assert seconds_per_redraw < 0.1, seconds_per_redraw


# --- a trained VAE's gaps -----------------------------------------------------------------


@pytest.fixture(scope="module")
def vae_and_x():
    torch.manual_seed(0)
    model = VAE(latent_dim=8, backbone="small").eval()
    with torch.no_grad():
        model.fc_mu.bias += 2.0  # a poor encoder: its q sits far from where the ELBO is best
    x = to_unit_interval(shapes_dataset(4, seed=2)[0], generator=torch.Generator().manual_seed(0))
    return model, x


def test_a_fixed_posterior_of_the_encoders_q_is_the_vae_to_the_core(vae_and_x):
    model, x = vae_and_x
    q = model.encode(x)
    fixed = lesson.FixedPosterior(model, q.loc, q.scale.log())
    torch.manual_seed(1)
    ours = importance_log_weights(fixed, x, 16)
    torch.manual_seed(1)
    torch.testing.assert_close(ours, importance_log_weights(model, x, 16))
    with pytest.raises(ValueError, match="holds q for 4 images"):
        fixed.encode(x[:2])


def test_optimal_posterior_beats_the_encoder_and_leaves_the_decoder_alone(vae_and_x):
    model, x = vae_and_x
    before = {name: p.clone() for name, p in model.named_parameters()}
    posterior = lesson.optimal_posterior(model, x, steps=40, lr=0.05)
    assert all(torch.equal(p, before[name]) and p.requires_grad for name, p in model.named_parameters())
    gaps = lesson.inference_gaps(model, x, posterior, k=64, elbo_samples=64)
    assert (gaps.amortisation > 0).all()
    assert gaps.approximation.mean() > -4 * gaps.elbo_optimal_se.mean()
    torch.testing.assert_close(gaps.approximation, gaps.log_px - gaps.elbo_optimal)
    batched = lesson.measure_inference_gaps(model, x, steps=2, k=4, elbo_samples=4, batch_size=3)
    assert batched.log_px.shape == (4,)


def test_iwae_curve_rises_and_ends_at_burdas_bound():
    log_w = 30 * torch.randn(64, 5)
    curve = lesson.iwae_curve(log_w, [1, 2, 4, 8, 16, 32, 64])
    assert (curve.diff() >= 0).all()
    torch.testing.assert_close(curve[0], log_w.mean())
    torch.testing.assert_close(curve[-1], (torch.logsumexp(log_w, 0) - math.log(64)).mean())
    with pytest.raises(ValueError, match="divisor"):
        lesson.iwae_curve(log_w, [3])


# --- the aggregate posterior --------------------------------------------------------------


@pytest.fixture
def posteriors():
    return Normal(1.5 * torch.randn(40, 3, dtype=torch.float64), 0.2 + torch.rand(40, 3, dtype=torch.float64))


def test_aggregate_log_density_is_the_mixture(posteriors):
    z = torch.randn(7, 3, dtype=torch.float64)
    brute = torch.stack([torch.log(sum(posteriors.log_prob(point).sum(-1).exp()) / 40) for point in z])
    torch.testing.assert_close(lesson.aggregate_log_density(z, posteriors, chunk_size=3), brute)


def test_elbo_surgery_adds_up_and_the_floors_hold(posteriors):
    surgery = lesson.elbo_surgery(posteriors, repeats=200)
    closed_form = kl_divergence(posteriors, Normal(0.0, 1.0)).sum(-1).mean()
    assert surgery.mean_kl == pytest.approx(float(closed_form))
    noise = 4 * math.hypot(surgery.mutual_information_se, surgery.aggregate_kl_se)
    assert abs(surgery.mutual_information + surgery.aggregate_kl - surgery.mean_kl) < noise
    assert 0 < surgery.mutual_information < math.log(40)
    assert surgery.aggregate_kl > lesson.moment_matched_kl(posteriors)
    marginal_sum = float(lesson.marginal_kl_on_grid(posteriors).sum())
    assert surgery.aggregate_kl > marginal_sum - 4 * surgery.aggregate_kl_se


def test_mutual_information_of_codes_that_ignore_the_image_is_zero_within_its_noise():
    """Lesson 5's assert: I(x; z) >= 0 holds for the estimate only to within 4 standard errors."""
    generator = torch.Generator().manual_seed(0)
    loc, scale = 0.01 * torch.randn(16, 8, generator=generator), torch.full((16, 8), 0.3)
    estimates = [lesson.elbo_surgery(Normal(loc, scale), seed=seed) for seed in range(20)]
    assert min(s.mutual_information for s in estimates) < -1e-3  # the estimate does dip below 0
    assert all(-4 * s.mutual_information_se - 1e-3 <= s.mutual_information < math.log(16) for s in estimates)
    same = lesson.elbo_surgery(Normal(loc[:1].expand(16, 8), scale))  # identical codes: every draw is 0
    assert abs(same.mutual_information) < 1e-6


def test_moment_matched_kl_is_the_gaussians_kl(posteriors):
    z = posteriors.sample((4000,)).reshape(-1, 3)  # samples of q(z): its mean and covariance
    m = posteriors.loc.mean(0)
    C = torch.cov(posteriors.loc.T, correction=0) + torch.diag((posteriors.scale**2).mean(0))
    torch.testing.assert_close(z.mean(0), m, atol=0.05, rtol=0)
    exact = kl_divergence(MultivariateNormal(m, C), MultivariateNormal(torch.zeros(3, dtype=torch.float64),
                                                                      torch.eye(3, dtype=torch.float64)))
    assert lesson.moment_matched_kl(posteriors) == pytest.approx(float(exact))


def test_marginal_kl_on_grid_matches_monte_carlo(posteriors):
    z = lesson.sample_aggregate(Normal(posteriors.loc.repeat(500, 1), posteriors.scale.repeat(500, 1)))
    mixture = Normal(posteriors.loc[:, 0], posteriors.scale[:, 0])
    log_q = log_mean_exp(mixture.log_prob(z[:, :1]), dim=1)  # (S,) log q(z_0)
    terms = log_q - Normal(0.0, 1.0).log_prob(z[:, 0])
    grid = lesson.marginal_kl_on_grid(posteriors)
    assert abs(float(grid[0]) - float(terms.mean())) < 4 * float(terms.std()) / math.sqrt(len(terms))


def test_prior_holes_are_where_the_aggregate_is_thinnest(posteriors):
    holes, dense, log_ratio = lesson.prior_holes(posteriors, num_prior=300, count=5)
    ratio = lambda z: lesson.aggregate_log_density(z, posteriors) - Normal(0.0, 1.0).log_prob(z).sum(-1)  # noqa: E731
    assert ratio(holes).max() <= log_ratio.sort().values[4] + 1e-9
    assert ratio(dense).min() >= log_ratio.sort().values[-5] - 1e-9


# --- the exercises --------------------------------------------------------------------------


def not_attempted(*args):
    raise NotImplementedError


def wrong_log_evidence(x, W, b, sigma):
    return MultivariateNormal(b, W @ W.T + sigma * torch.eye(len(b), dtype=W.dtype)).log_prob(x)  # σ, not σ²


def wrong_posterior(x, w, b, sigma):
    mean, std = solutions.true_posterior(x, w, b, sigma)
    return mean, std**2  # the variance, not the std


def wrong_estimate(log_likelihood, k):
    return log_likelihood(torch.randn(k, dtype=torch.float64)).mean()  # the mean of the logs: an ELBO


@pytest.mark.parametrize("check, solution, wrong", [
    (exercises.check_log_evidence, solutions.log_evidence, wrong_log_evidence),
    (exercises.check_true_posterior, solutions.true_posterior, wrong_posterior),
    (exercises.check_prior_sampling_estimate, solutions.prior_sampling_estimate, wrong_estimate),
], ids=["log_evidence", "true_posterior", "prior_sampling_estimate"])
def test_exercise_checks(check, solution, wrong, capsys):
    assert check(not_attempted) == NOT_ATTEMPTED
    assert "not attempted yet" in capsys.readouterr().out
    assert check(solution) == CORRECT
    with pytest.raises(ExerciseError, match="Hint"):
        check(wrong)
