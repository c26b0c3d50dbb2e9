"""Lessons 3 and 4's exercises: every check passes the solution, fails wrong answers with
expected-vs-got, reports an untouched stub as not attempted, and the notebooks hold stubs only."""

import json
import math
from pathlib import Path

import pytest
import torch

from vae_tutorial.lessons import solutions
from vae_tutorial.lessons.latent_space import exercises as lesson4
from vae_tutorial.lessons.shared.exercises import CORRECT, NOT_ATTEMPTED, ExerciseError
from vae_tutorial.lessons.train_on_cifar10 import exercises as lesson3

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def stub(*args, **kwargs):
    raise NotImplementedError


def first_record_in_use(track, threshold=0.1):  # the KL before training, not after
    loc, scale = track.locs[0], track.scales[0]
    kl = -torch.log(scale) + (scale**2 + loc**2 - 1) / 2
    return int((kl.mean(dim=0) > threshold).sum())


def naive_iwae(log_w):  # exp(-5000) underflows to 0: -inf
    return log_w.exp().mean(dim=0).log()


def iwae_without_the_mean(log_w):  # a log-sum, not a log-mean
    return torch.logsumexp(log_w, dim=0)


def sigma_not_log_sigma(x, x_hat, lr, steps):
    return math.exp(solutions.learned_log_scale(x, x_hat, lr, steps))


def ignores_the_step_size(x, x_hat, lr, steps):
    return solutions.learned_log_scale(x, x_hat, 5e-2, steps)


def plain_correlation(z, hue):  # hue is circular: a plain correlation misses it
    return torch.corrcoef(torch.stack([z, hue]))[0, 1].abs().item()


def largest_minus_smallest(information):
    return (information.max(dim=1).values - information.min(dim=1).values).mean().item()


def one_too_few(kl, share):
    return solutions.dimensions_for_share(kl, share) - 1


def midpoint_sum_not_half(dim, pairs):  # a + b instead of (a + b) / 2
    a, b = torch.randn(2, pairs, dim)
    threshold = torch.quantile(torch.randn(20_000, dim).norm(dim=1), 0.005)
    return (a + b).norm(dim=1).lt(threshold).float().mean().item()


EXERCISES = [  # (check, solution, wrong answers)
    (lesson3.check_dimensions_in_use, solutions.dimensions_in_use, [first_record_in_use]),
    (lesson3.check_iwae_from_log_weights, solutions.iwae_from_log_weights,
     [naive_iwae, iwae_without_the_mean]),
    (lesson3.check_learned_log_scale, solutions.learned_log_scale,
     [sigma_not_log_sigma, ignores_the_step_size]),
    (lesson4.check_circular_linear_correlation, solutions.circular_linear_correlation, [plain_correlation]),
    (lesson4.check_mutual_information_gap, solutions.mutual_information_gap, [largest_minus_smallest]),
    (lesson4.check_dimensions_for_share, solutions.dimensions_for_share, [one_too_few]),
    (lesson4.check_midpoint_inside_share, solutions.midpoint_inside_share, [midpoint_sum_not_half]),
]
IDS = [check.__name__ for check, _, _ in EXERCISES]


@pytest.mark.parametrize(("check", "solution", "wrong"), EXERCISES, ids=IDS)
def test_the_solution_passes_and_the_stub_is_not_attempted(check, solution, wrong, capsys):
    assert check(solution) == CORRECT
    assert check(stub) == NOT_ATTEMPTED
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize(("check", "solution", "wrong"), EXERCISES, ids=IDS)
def test_wrong_answers_fail_saying_what_was_expected(check, solution, wrong):
    for answer in wrong:
        with pytest.raises(ExerciseError, match=r"(?s)expected .*got .*Hint: "):
            check(answer)


def exercise_cells(name):
    cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
    return cells, ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and "exercises.check_" in
                   "".join(c["source"])]


@pytest.mark.parametrize(("name", "module"), [("03_train_on_cifar10.ipynb", lesson3),
                                              ("04_latent_space.ipynb", lesson4)])
def test_each_notebook_holds_a_stub_and_its_check_for_every_exercise_and_links_the_solutions(name, module):
    cells, sources = exercise_cells(name)
    checks = sorted(n for n in dir(module) if n.startswith("check_"))
    called = sorted(s.split("exercises.")[1].split("(")[0] for s in sources)
    assert called == checks and len(checks) >= 3
    for source in sources:  # the function's whole body is the stub: no solution above its check
        body = source.split("\n\n\n")[0].splitlines()[1:]
        assert [line.strip() for line in body] == ["raise NotImplementedError  # your code here"], source
    assert "vae_tutorial/lessons/solutions.py" in "".join(cells[-1]["source"])
