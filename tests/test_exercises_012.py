"""Lessons 0 to 2's exercises: every check passes the solution, fails a wrong answer, spares the stub.

A wrong answer must raise ``ExerciseError`` with a message that says what was expected and what
came back; the untouched stub (``raise NotImplementedError``) must report "not attempted yet"
without raising, so that the notebook still runs from top to bottom. Lesson 0's notebook
holds the stubs only (the solutions live in ``vae_tutorial.lessons.solutions``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from vae_tutorial.lessons import solutions
from vae_tutorial.lessons.kl_term import exercises as lesson_1
from vae_tutorial.lessons.reconstruction_term import exercises as lesson_2
from vae_tutorial.lessons.setup_check import exercises as lesson_0
from vae_tutorial.lessons.shared.exercises import CORRECT, NOT_ATTEMPTED, ExerciseError


def stub(*args, **kwargs):
    raise NotImplementedError


def conv_without_bias(in_channels, out_channels, kernel_size, bias):  # the bias forgotten
    return out_channels * in_channels * kernel_size**2


def conv_one_filter(in_channels, out_channels, kernel_size, bias):  # k x k x c_in, once
    return in_channels * kernel_size**2 + bias


def dequantize_by_255(images, noise):  # 255 + u / 255 > 1
    return (images.float() + noise) / 255


def dequantize_without_noise(images, noise):
    return images.float() / 256


def ratio_of_every_shape(images, factors):  # squares and triangles too
    background = (factors["background"] * 255).round().to(torch.uint8)
    drawn = (images != background[:, None, None, None]).any(dim=1).sum(dim=(1, 2))
    return (drawn / (math.pi * factors["size"] ** 2)).mean().item()


def kl_without_the_half(mu, sigma):
    return -torch.log(sigma) + (sigma**2 + mu**2) / 2  # forgets the -1/2


def samples_without_the_mean_term(mu, sigma, target):
    return max(1, math.ceil((sigma**2 - 1) ** 2 / 2 / target**2))  # forgets mu² sigma²


def step_with_z_held_still(mu, log_sigma, eps, lr):
    z = mu + math.exp(log_sigma) * eps  # differentiates log q only: -1 per unit of log sigma
    return mu - lr * z.mean().item(), log_sigma - lr * -1.0


def spread_not_relative(q, batch_size, repeats):
    return solutions.relative_spread(q, batch_size, repeats) * 100  # a std in nats, not relative


def spread_summed_over_batch(q, batch_size, repeats):
    p = torch.distributions.Normal(0.0, 1.0)
    z = q.sample((repeats, batch_size))
    estimates = (q.log_prob(z) - p.log_prob(z)).sum(dim=(1, 2))  # summed over the batch, not averaged
    return (estimates.std() / torch.distributions.kl_divergence(q, p).sum()).item()


def likelihood_without_constant(x_hat, log_scale, x):
    return (-(x - x_hat) ** 2 / (2 * torch.exp(2 * log_scale))).sum(dim=(1, 2, 3))


def one_sigma_for_all_channels(x_hat, x):
    return ((x - x_hat) ** 2).mean().sqrt().expand(3, 1, 1)


def active_units_by_std(means, threshold=0.01):
    return int((means.std(dim=0) > threshold).sum())


def bits_without_the_eight(train_images, test_images):
    return solutions.gaussian_per_pixel_bits(train_images, test_images) - 8


def logistic_without_the_tails(x_hat, log_scale, x):
    """The end bins get only their own width: the mass below 0 and above 1 is lost."""
    v = torch.floor(x * 256).clamp(0, 255)
    s = torch.exp(log_scale)
    return torch.log(torch.sigmoid(((v + 1) / 256 - x_hat) / s) - torch.sigmoid((v / 256 - x_hat) / s))


def free_bits_per_image(mu, sigma, free_bits):  # the floor on each image, not on the batch mean
    kl = 0.5 * (mu**2 + sigma**2 - 1) - torch.log(sigma)
    return kl.clamp(min=free_bits).mean(dim=0).sum()


CHECKS = {  # check: (solution, wrong answers)
    lesson_0.check_conv_parameters: (solutions.conv_parameters, [conv_without_bias, conv_one_filter]),
    lesson_0.check_dequantize: (solutions.dequantize, [dequantize_by_255, dequantize_without_noise]),
    lesson_0.check_circle_area_ratio: (solutions.circle_area_ratio, [ratio_of_every_shape]),
    lesson_1.check_kl_normal_vs_standard: (solutions.kl_normal_vs_standard, [kl_without_the_half]),
    lesson_1.check_samples_needed: (solutions.samples_needed, [samples_without_the_mean_term]),
    lesson_1.check_gradient_step: (solutions.gradient_step, [step_with_z_held_still]),
    lesson_1.check_relative_spread: (solutions.relative_spread,
                                     [spread_not_relative, spread_summed_over_batch]),
    lesson_2.check_log_likelihood: (solutions.log_likelihood, [likelihood_without_constant]),
    lesson_2.check_best_sigma_per_channel: (solutions.best_sigma_per_channel, [one_sigma_for_all_channels]),
    lesson_2.check_active_units: (solutions.active_units, [active_units_by_std]),
    lesson_2.check_gaussian_per_pixel_bits: (solutions.gaussian_per_pixel_bits, [bits_without_the_eight]),
    lesson_2.check_discretized_logistic: (solutions.discretized_logistic, [logistic_without_the_tails]),
    lesson_2.check_free_bits_kl: (solutions.free_bits_kl, [free_bits_per_image]),
}
WRONG = [(check, wrong) for check, (_, wrongs) in CHECKS.items() for wrong in wrongs]


@pytest.mark.parametrize("check", list(CHECKS), ids=lambda check: check.__name__)
def test_the_solution_passes(check):
    assert check(CHECKS[check][0]) == CORRECT


@pytest.mark.parametrize("check, wrong", WRONG, ids=lambda f: f.__name__)
def test_a_wrong_answer_fails_saying_expected_and_got(check, wrong):
    with pytest.raises(ExerciseError) as error:
        check(wrong)
    message = str(error.value)
    assert "expected" in message and "got" in message and "Hint" in message, message


@pytest.mark.parametrize("check", list(CHECKS), ids=lambda check: check.__name__)
def test_the_untouched_stub_is_not_attempted_yet(check, capsys):
    assert check(stub) == NOT_ATTEMPTED
    assert "not attempted yet" in capsys.readouterr().out


def test_every_exercise_check_of_lessons_0_to_2_is_tested():
    for module in (lesson_0, lesson_1, lesson_2):
        names = {name for name in dir(module) if name.startswith("check_")}
        assert names == {check.__name__ for check in CHECKS if check.__module__ == module.__name__}


def test_lesson_0s_notebook_holds_stubs_only():
    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "00_setup_check.ipynb"
    cells = ["".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
             if cell["cell_type"] == "code"]
    for name in (name for name in dir(lesson_0) if name.startswith("check_")):
        (cell,) = [source for source in cells if f"exercises.{name}(" in source]
        assert "raise NotImplementedError" in cell, cell
