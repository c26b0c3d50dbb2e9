"""Lesson 0's exercises: every check passes the solution, fails wrong answers with expected-vs-got
and a hint, reports an untouched stub as not attempted, and the notebook holds stubs only."""

import json
import math
from pathlib import Path

import pytest
import torch

from vae_tutorial.lessons import solutions
from vae_tutorial.lessons.setup_check import exercises as lesson_0
from vae_tutorial.lessons.shared.exercises import CORRECT, NOT_ATTEMPTED, ExerciseError

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "00_setup_check.ipynb"


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


CHECKS = {  # check: (solution, wrong answers)
    lesson_0.check_conv_parameters: (solutions.conv_parameters, [conv_without_bias, conv_one_filter]),
    lesson_0.check_dequantize: (solutions.dequantize, [dequantize_by_255, dequantize_without_noise]),
    lesson_0.check_circle_area_ratio: (solutions.circle_area_ratio, [ratio_of_every_shape]),
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


def test_every_check_is_tested_and_the_notebook_holds_stubs_only():
    names = {name for name in dir(lesson_0) if name.startswith("check_")}
    assert names == {check.__name__ for check in CHECKS}
    cells = ["".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"]
             if cell["cell_type"] == "code"]
    for name in names:
        (cell,) = [source for source in cells if f"exercises.{name}(" in source]
        assert "raise NotImplementedError" in cell, cell
