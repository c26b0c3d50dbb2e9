"""Lesson 1 (the KL term): its experiments, their figures and the two explorers.

Every number is checked against an independent computation: a formula derived by hand,
``torch.distributions.kl_divergence``, or a long Monte-Carlo run, with a stated tolerance.
"""

from __future__ import annotations

import math

import pytest
import torch
from blitting import assert_same_moving_parts, differing_share
from matplotlib.figure import Figure
from torch import Tensor
from torch.distributions import Laplace, Normal, StudentT, kl_divergence

from vae_tutorial.lessons.kl_term import experiments, figures
from vae_tutorial.lessons.kl_term.experiments import DescentSettings, QDescent
from vae_tutorial.lessons.kl_term.explorers import MAX_KL_SAMPLES, kl_explorer, move_q_explorer
from vae_tutorial.lessons.shared.figures import z_range_of

PRIOR = Normal(0.0, 1.0)


def normal_log_ratio_variance(loc: Tensor, scale: Tensor) -> Tensor:
    """Var over z ~ N(loc, scale) of log q(z) - log N(z; 0, 1), by hand, per dimension.

    With z = loc + scale * eps the log-ratio is -log scale + (scale² - 1) eps² / 2 + loc scale eps
    + loc² / 2, so its variance is (scale² - 1)² / 2 + loc² scale².
    """
    return (scale**2 - 1) ** 2 / 2 + loc**2 * scale**2


def assert_figure_labelled(figure: Figure) -> None:
    """Every axes of a lesson figure has a title (or a legend that names what it draws), a y
    label and an x label (its own or, for stacked axes sharing x, the one under it)."""
    assert isinstance(figure, Figure) and figure.axes
    for ax in figure.axes:
        shared = ax.get_shared_x_axes().get_siblings(ax)
        assert any(sibling.get_xlabel() for sibling in shared), "x label missing"
        assert ax.get_ylabel(), "y label missing"
        assert ax.get_title() or ax.get_legend(), "title missing"


# --- mc_estimate ---


def test_mc_estimate_is_mean_and_standard_error():
    values = torch.tensor([1.0, 2.0, 4.0, 7.0])
    mean, standard_error = experiments.mc_estimate(values)
    assert mean == pytest.approx(3.5)
    sample_std = math.sqrt(((values - 3.5) ** 2).sum().item() / 3)  # unbiased, by hand
    assert standard_error == pytest.approx(sample_std / 2.0)


def test_mc_estimate_of_one_sample_has_no_standard_error():
    mean, standard_error = experiments.mc_estimate(torch.tensor([2.5]))
    assert mean == 2.5 and math.isnan(standard_error)


@pytest.mark.parametrize("bad", [torch.tensor(1.0), torch.zeros(0), torch.zeros(2, 3)])
def test_mc_estimate_rejects_non_vectors(bad):
    with pytest.raises(ValueError, match="1-D"):
        experiments.mc_estimate(bad)


# --- QDescent ---


def test_one_descent_step_matches_the_hand_derived_gradient():
    settings = DescentSettings(loc=1.5, scale=0.5, lr=0.1, samples_per_step=8, seed=3)
    descent = QDescent(settings)
    descent.step()
    eps = torch.randn(8, generator=torch.Generator().manual_seed(3))  # the same noise
    z = 1.5 + 0.5 * eps
    # d/dloc [log q(z) - log p(z)] = z and d/dlog_scale = -1 + scale * eps * z (p = N(0, 1)).
    grad_loc, grad_log_scale = z.mean().item(), (-1 + 0.5 * eps * z).mean().item()
    assert descent.locs[1] == pytest.approx(1.5 - 0.1 * grad_loc, abs=1e-6)
    assert math.log(descent.scales[1]) == pytest.approx(math.log(0.5) - 0.1 * grad_log_scale, abs=1e-6)
    log_ratio = Normal(1.5, 0.5).log_prob(z) - PRIOR.log_prob(z)
    assert descent.mc_kls[0] == pytest.approx(log_ratio.mean().item(), abs=1e-5)
    assert descent.exact_kls[1] == pytest.approx(
        kl_divergence(Normal(descent.locs[1], descent.scales[1]), PRIOR).item(), abs=1e-6)


def test_monte_carlo_gradient_is_unbiased():
    """Averaged over many samples, the reparameterised gradient is the closed form's (mu, sigma² - 1)."""
    descent = QDescent(DescentSettings(loc=2.0, scale=1.5, samples_per_step=200_000))
    _, grad_loc, grad_log_scale = descent.gradient()
    assert grad_loc == pytest.approx(2.0, abs=0.02)
    assert grad_log_scale == pytest.approx(1.5**2 - 1, abs=0.05)


@pytest.mark.parametrize("start", [(3.0, 0.3), (2.0, 4.0), (-4.0, 0.1)])
def test_descent_moves_q_onto_p(start):
    descent = QDescent(DescentSettings(loc=start[0], scale=start[1], lr=0.05)).run_until(400)
    assert descent.steps == 400 and descent.diverged_at is None
    assert abs(descent.locs[-1]) < 0.15 and abs(descent.scales[-1] - 1) < 0.15
    assert descent.exact_kls[-1] < 0.02 < descent.exact_kls[0]


def test_descent_to_a_moved_p():
    descent = QDescent(DescentSettings(p_loc=-1.0, p_scale=2.0, lr=0.05)).run_until(600)
    assert descent.locs[-1] == pytest.approx(-1.0, abs=0.25)
    assert descent.scales[-1] == pytest.approx(2.0, abs=0.25)


def test_descent_is_reproducible_and_seeded():
    first, again = QDescent().run_until(20), QDescent().run_until(20)
    other_seed = QDescent(DescentSettings(seed=1)).run_until(20)
    assert first.locs == again.locs and first.scales == again.scales
    assert first.locs != other_seed.locs


def test_learning_rate_between_one_and_two_oscillates():
    """Near p, log std maps to about (1 - 2 lr) log std: for 1 < lr < 2 it overshoots forever."""
    descent = QDescent(DescentSettings(lr=1.5)).run_until(300)
    assert descent.diverged_at is None
    assert max(abs(scale - 1) for scale in descent.scales[-20:]) > 0.2


def test_too_large_a_step_diverges_and_stops():
    descent = QDescent(DescentSettings(lr=2.5)).run_until(300)
    assert descent.diverged_at is not None and descent.steps < 300
    steps = descent.steps
    assert descent.step() is False and descent.steps == steps


@pytest.mark.parametrize("bad", [{"lr": 0.0}, {"scale": -1.0}, {"samples_per_step": 0},
                                 {"samples_per_step": 2.5}, {"loc": math.nan}, {"p_scale": 0.0}])
def test_descent_settings_are_checked(bad):
    with pytest.raises(ValueError):
        QDescent(DescentSettings(**bad))


# --- kl_numerical ---


@pytest.mark.parametrize("q", [Normal(2.0, 4.0), Normal(-1.0, 0.3), Laplace(1.0, 0.5), Laplace(0.0, 2.0)])
def test_numerical_kl_matches_closed_forms(q):
    numerical = experiments.kl_numerical(q, PRIOR, -80.0, 80.0)
    assert numerical == pytest.approx(kl_divergence(q, PRIOR).item(), rel=1e-5, abs=1e-6)


def test_numerical_kl_of_student_t_matches_a_long_monte_carlo_run():
    q = StudentT(5.0, 1.0, 0.5)  # no closed form against a Normal
    with pytest.raises(NotImplementedError):
        kl_divergence(q, PRIOR)
    torch.manual_seed(0)
    z = q.sample((400_000,))
    estimate, standard_error = experiments.mc_estimate(q.log_prob(z) - PRIOR.log_prob(z))
    assert abs(experiments.kl_numerical(q, PRIOR, -200.0, 200.0) - estimate) < 4 * standard_error


@pytest.mark.parametrize("q, lower, upper", [(Normal(torch.zeros(2), 1.0), -5.0, 5.0),
                                             ("not a distribution", -5.0, 5.0),
                                             (Normal(0.0, 1.0), 5.0, -5.0)])
def test_numerical_kl_rejects_bad_input(q, lower, upper):
    with pytest.raises(ValueError):
        experiments.kl_numerical(q, PRIOR, lower, upper)


# --- the batch-size study ---


def test_example_posterior_is_a_fixed_diagonal_normal():
    q = experiments.example_posterior(256, seed=0)
    assert q.loc.shape == (256,) and q.scale.shape == (256,)
    assert 0.13 < q.scale.min() and q.scale.max() <= 1.0
    assert torch.equal(q.loc, experiments.example_posterior(256, seed=0).loc)
    with pytest.raises(ValueError):
        experiments.example_posterior(0)


def test_batch_mean_kl_and_gradients_by_hand():
    q = experiments.example_posterior(8, seed=1)
    generator = torch.Generator().manual_seed(5)
    estimates, gradients = experiments.batch_mean_kl_and_gradients(q, PRIOR, 3, 2, generator)
    eps = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(5))  # (R, B, D), the same noise
    z = q.loc + q.scale * eps
    log_ratio = (q.log_prob(z) - PRIOR.log_prob(z)).sum(-1)  # (R, B)
    assert torch.allclose(estimates, log_ratio.mean(1), atol=1e-4)
    grad_loc = z.mean(1)  # (R, D): d/dloc of the batch mean, derived by hand
    grad_log_scale = (-1 + q.scale * eps * z).mean(1)  # (R, D)
    assert torch.allclose(gradients, torch.cat([grad_loc, grad_log_scale], 1), atol=1e-5)


def test_log_log_slope_of_a_power_law():
    sizes = [1, 2, 4, 8, 16]
    assert experiments.log_log_slope(sizes, [3.0 * b**-0.5 for b in sizes]) == pytest.approx(-0.5)
    assert experiments.log_log_slope(sizes, [2.0 * b for b in sizes]) == pytest.approx(1.0)


def test_batch_size_study_is_unbiased_with_spread_falling_as_one_over_root_batch():
    q = experiments.example_posterior(32, seed=2)
    study = experiments.batch_size_study(q, PRIOR, [1, 4, 16, 64, 256], repeats=400, seed=0)
    assert study.analytic_kl == pytest.approx(kl_divergence(q, PRIOR).sum().item(), rel=1e-6)
    for bias, error in zip(study.kl_bias, study.kl_bias_error, strict=True):
        assert abs(bias) < 4 * error
    assert experiments.log_log_slope(study.batch_sizes, study.kl_std) == pytest.approx(-0.5, abs=0.08)
    assert experiments.log_log_slope(study.batch_sizes, study.grad_std) == pytest.approx(-0.5, abs=0.08)
    # The spread of one sample, from the variance formula derived by hand.
    one_sample_std = normal_log_ratio_variance(q.loc, q.scale).sum().sqrt().item()
    for batch_size, std in zip(study.batch_sizes, study.kl_std, strict=True):
        assert std * math.sqrt(batch_size) == pytest.approx(one_sample_std, rel=0.15)
    for bias, error in zip(study.grad_bias, study.grad_error, strict=True):
        assert bias < 1.5 * error / math.sqrt(study.repeats)  # the mean gradient is off by noise only
    assert len(study.table().splitlines()) == 1 + len(study.batch_sizes)


def test_batch_size_study_leaves_torch_threads_alone():
    threads = torch.get_num_threads()
    experiments.batch_size_study(experiments.example_posterior(4), PRIOR, [1, 2], repeats=4)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("q, sizes, repeats", [(Normal(0.0, 1.0), [1], 4),
                                               (experiments.example_posterior(4), [0], 4),
                                               (experiments.example_posterior(4), [1], 1)])
def test_batch_size_study_rejects_bad_input(q, sizes, repeats):
    with pytest.raises(ValueError):
        experiments.batch_size_study(q, PRIOR, sizes, repeats)


# --- figures ---


def test_lesson_figures_are_labelled():
    q = Normal(2.0, 4.0)
    z = q.sample((50,))
    log_ratio = q.log_prob(z) - PRIOR.log_prob(z)
    assert_figure_labelled(figures.kl_estimate_figure(q, PRIOR, z, log_ratio, 8.0, 1.0, 8.1))
    assert_figure_labelled(figures.kl_estimate_figure(q, PRIOR, z[:1], log_ratio[:1], 8.0, math.nan, 8.1))
    descent = QDescent().run_until(30)
    assert_figure_labelled(figures.descent_figure(descent.locs, descent.scales, descent.mc_kls,
                                                descent.exact_kls, descent.p))
    assert_figure_labelled(figures.compare_densities({"Laplace": Laplace(0.0, 1.0)}, PRIOR, (-6.0, 6.0)))
    posterior = experiments.example_posterior(16)
    assert_figure_labelled(figures.per_dimension_kl_figure(kl_divergence(posterior, PRIOR),
                                                         torch.zeros(16)))
    study = experiments.batch_size_study(posterior, PRIOR, [1, 2, 4], repeats=8)
    assert_figure_labelled(figures.batch_study_figure(study))


def test_z_range_covers_both_distributions():
    low, high = z_range_of(Normal(2.0, 4.0), PRIOR)
    assert (low, high) == pytest.approx((-14.0, 18.0))


# --- the KL explorer's figure: still axes, moving curves ---


def kl_figure_state(q: Normal, p: Normal, seed: int = 0):
    """What the KL explorer draws for q and p: (q, p, samples, log-ratios, estimate, s.e., exact)."""
    z = q.loc + q.scale * torch.randn(100, generator=torch.Generator().manual_seed(seed))
    log_ratio = q.log_prob(z) - p.log_prob(z)
    estimate, standard_error = experiments.mc_estimate(log_ratio)
    return q, p, z, log_ratio, estimate, standard_error, kl_divergence(q, p).item()


def view_of(q: Normal, margin: float = 0.0) -> figures.KLView:
    q, p, _, log_ratio, estimate, _, exact = kl_figure_state(q, PRIOR)
    return figures.kl_view(q, p, log_ratio, estimate, exact, margin)


def test_kl_view_holds_what_fits_and_not_what_leaves_or_shrinks():
    view = view_of(Normal(2.0, 4.0), margin=0.15)
    assert view.holds(view_of(Normal(2.3, 4.0)))  # a small move stays in the view
    assert not view.holds(view_of(Normal(8.0, 4.0)))  # q leaves it
    assert not view.holds(view_of(Normal(0.0, 0.2)))  # q's peak rises above it
    assert not view.holds(figures.KLView((-1.0, 1.0), 0.05, (-1.0, 1.0)))  # a corner of the view


def test_updating_the_kl_figure_draws_what_drawing_it_anew_does():
    """update_kl_estimate_figure against kl_estimate_figure built from scratch, same view."""
    first, second = kl_figure_state(Normal(2.0, 4.0), PRIOR), kl_figure_state(Normal(2.5, 3.0), PRIOR, seed=1)
    view = view_of(first[0], margin=0.15)
    updated = figures.kl_estimate_figure(*first, view=view)
    figures.update_kl_estimate_figure(updated, *second)
    fresh = figures.kl_estimate_figure(*second, view=view)
    assert_same_moving_parts(updated, fresh, figures.MOVING)
    assert [ax.get_xlim() for ax in updated.axes] == [ax.get_xlim() for ax in fresh.axes]


def test_kl_explorer_keeps_its_axes_while_q_moves_a_little_and_matches_a_full_render():
    explorer = kl_explorer()
    limits = [ax.get_xlim() + ax.get_ylim() for ax in explorer.figure.axes]
    for loc in (2.1, 2.3, 2.6, 2.2):
        explorer.controls["q_loc"].value = loc
    assert explorer.renderer.full_renders == 1 and explorer.redraws == 5  # four redraws of the curves only
    assert [ax.get_xlim() + ax.get_ylim() for ax in explorer.figure.axes] == limits
    assert differing_share(explorer) < 0.01  # the same picture
    explorer.controls["q_loc"].value = 8.0  # q leaves the view: new axes
    assert explorer.renderer.full_renders == 2
    assert explorer.figure.axes[0].get_xlim()[1] > limits[0][1]


# --- the KL explorer ---


def test_kl_explorer_starts_on_the_articles_example():
    explorer = kl_explorer()
    exact = kl_divergence(Normal(2.0, 4.0), PRIOR).item()
    assert explorer.values["closed-form KL"] == pytest.approx(exact, rel=1e-6)
    assert explorer.values["samples"] == 100
    assert "prior" in explorer.values["p"]
    assert explorer.output.value[:4] == b"\x89PNG"
    assert set(explorer.readouts) == set(explorer.values)


def test_kl_explorer_redraws_when_q_moves():
    explorer = kl_explorer()
    before_png, before = explorer.output.value, dict(explorer.values)
    explorer.controls["q_loc"].value = 0.5
    assert explorer.values["closed-form KL"] != before["closed-form KL"]
    assert explorer.values["MC estimate"] != before["MC estimate"]
    assert explorer.output.value != before_png
    explorer.controls["q_scale"].value = 0.5
    exact = kl_divergence(Normal(0.5, 0.5), PRIOR).item()
    assert explorer.values["closed-form KL"] == pytest.approx(exact, rel=1e-5)
    assert str(round(exact, 2))[:3] in explorer.readouts["closed-form KL"].value


def test_kl_explorer_estimate_agrees_with_the_closed_form():
    explorer = kl_explorer(num_samples=MAX_KL_SAMPLES)
    values = explorer.values
    assert abs(values["MC estimate"] - values["closed-form KL"]) < 4 * values["standard error"]


def test_kl_explorer_standard_error_shrinks_with_samples_and_vanishes_when_q_is_p():
    explorer = kl_explorer(num_samples=10)
    few = explorer.values["standard error"]
    explorer.controls["num_samples"].value = 1000
    assert explorer.values["standard error"] < few / 3  # ~ 1 / sqrt(100) = 1/10 of it
    explorer.controls["num_samples"].value = 1
    assert explorer.values["standard error"] == "n/a with one sample"
    explorer.controls["num_samples"].value = 50
    explorer.controls["q_loc"].value, explorer.controls["q_scale"].value = 0.0, 1.0
    assert explorer.values["MC estimate"] == pytest.approx(0.0, abs=1e-6)  # every log-ratio is 0
    assert explorer.values["standard error"] == pytest.approx(0.0, abs=1e-6)
    assert explorer.values["closed-form KL"] == pytest.approx(0.0, abs=1e-6)


def test_kl_explorer_p_moves_only_behind_its_toggle():
    explorer = kl_explorer()
    c = explorer.controls
    assert c["p_loc"].layout.display == "none" and c["p_scale"].layout.display == "none"
    c["p_loc"].value = 2.0  # hidden and ignored while the toggle is off
    assert explorer.values["closed-form KL"] == pytest.approx(kl_divergence(Normal(2.0, 4.0), PRIOR).item())
    c["move_p"].value = True
    assert c["p_loc"].layout.display is None
    assert explorer.values["closed-form KL"] == pytest.approx(
        kl_divergence(Normal(2.0, 4.0), Normal(2.0, 1.0)).item(), rel=1e-5)
    assert "prior" not in explorer.values["p"]
    c["move_p"].value = False
    assert c["p_loc"].layout.display == "none" and "prior" in explorer.values["p"]


def test_kl_explorer_resample_draws_new_samples():
    explorer = kl_explorer()
    before_png, before = explorer.output.value, dict(explorer.values)
    explorer.buttons["resample"].click()
    assert explorer.values["MC estimate"] != before["MC estimate"]
    assert explorer.values["closed-form KL"] == before["closed-form KL"]
    assert explorer.output.value != before_png


@pytest.mark.parametrize("bad", [{"num_samples": MAX_KL_SAMPLES + 1}, {"num_samples": 0},
                                 {"q_scale": 50.0}, {"q_loc": -20.0}])
def test_kl_explorer_rejects_values_outside_its_sliders(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        kl_explorer(**bad)


def test_move_q_explorer_rejects_a_start_outside_its_sliders():
    with pytest.raises(ValueError, match="start scale"):
        move_q_explorer(DescentSettings(scale=100.0))
    with pytest.raises(ValueError, match="lr"):
        move_q_explorer(DescentSettings(lr=-1.0))


# --- the "move q toward p" explorer ---


def test_move_q_step_button_takes_one_step():
    explorer = move_q_explorer()
    assert explorer.values["step"] == 0
    before_png, before = explorer.output.value, dict(explorer.values)
    explorer.buttons["step"].click()
    assert explorer.values["step"] == 1
    assert explorer.values["q mean"] != before["q mean"]
    assert explorer.values["KL(q || p)"] < before["KL(q || p)"]
    assert explorer.output.value != before_png


def test_move_q_play_moves_q_onto_p_like_the_descent_it_shows():
    explorer = move_q_explorer()
    explorer.controls["play"].value = 300  # 300 ticks of the play clock = 300 steps
    descent = QDescent(DescentSettings()).run_until(300)
    assert explorer.values["step"] == 300
    assert explorer.values["q mean"] == pytest.approx(descent.locs[-1])
    assert abs(explorer.values["q mean"]) < 0.15 and abs(explorer.values["q std"] - 1) < 0.15
    assert explorer.values["status"].startswith("q is on p")


def test_move_q_new_settings_restart_and_buttons_restart():
    explorer = move_q_explorer()
    explorer.controls["play"].value = 20
    explorer.controls["lr"].value = 0.1
    assert explorer.values["step"] == 0 and explorer.values["q mean"] == pytest.approx(3.0)
    explorer.controls["play"].value = 30  # 10 more ticks
    assert explorer.values["step"] == 10
    at_ten = explorer.values["q mean"]
    explorer.buttons["restart"].click()
    assert explorer.values["step"] == 0
    explorer.controls["play"].value = 40
    assert explorer.values["q mean"] == pytest.approx(at_ten)  # same noise, same path
    explorer.buttons["new noise"].click()
    explorer.controls["play"].value = 50
    assert explorer.values["step"] == 10 and explorer.values["q mean"] != pytest.approx(at_ten)


def test_move_q_large_learning_rate_diverges_and_stops_playing():
    explorer = move_q_explorer()
    explorer.controls["lr"].value = 3.0
    explorer.controls["play"].playing = True
    explorer.controls["play"].value = 100
    assert explorer.values["status"].startswith("diverged")
    assert explorer.controls["play"].playing is False
    assert explorer.values["step"] < 100


def test_updating_the_descent_figure_draws_what_drawing_it_anew_does():
    descent = QDescent().run_until(12)
    early = (descent.locs[:4], descent.scales[:4], descent.mc_kls[:3], descent.exact_kls[:4])
    later = (descent.locs, descent.scales, descent.mc_kls, descent.exact_kls)
    view = figures.descent_view(*later, descent.p, margin=0.25)
    moved = figures.descent_figure(*early, descent.p, view=view)
    figures.update_descent_figure(moved, *later)
    fresh = figures.descent_figure(*later, descent.p, view=view)
    assert_same_moving_parts(moved, fresh, [name for name in figures.DESCENT_PARTS if "legend" not in name])
    assert [ax.get_xlim() + ax.get_ylim() for ax in moved.axes] == [
        ax.get_xlim() + ax.get_ylim() for ax in fresh.axes]


def test_move_q_explorer_draws_new_steps_in_still_axes():
    explorer = move_q_explorer()
    for _ in range(30):
        explorer.buttons["step"].click()
    assert explorer.values["step"] == 30
    assert explorer.renderer.full_renders < 10  # new axes only when the descent outgrows them
    assert differing_share(explorer) < 0.01  # the same picture


def test_move_q_explorer_play_takes_one_step_per_tick_like_qdescent():
    """Lesson 1 used to check this in a cell: the play control's ticks are QDescent's steps."""
    explorer = move_q_explorer()
    explorer.controls["play"].value = 40  # 40 ticks of the play control
    reference = QDescent(DescentSettings()).run_until(40)
    assert explorer.values["step"] == 40
    assert explorer.values["q mean"] == reference.locs[-1]
    assert explorer.values["q std"] == reference.scales[-1]
