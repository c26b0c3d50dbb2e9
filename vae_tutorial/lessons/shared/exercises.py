"""The exercises' checks: each says what is wrong, or that the exercise is not attempted yet.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

An exercise in a lesson is a function stub that raises ``NotImplementedError`` until the
learner writes it, followed by a ``check_<name>(their_function)`` call. The check runs the
function on inputs of its own and compares with an independent answer:

* the stub untouched (``NotImplementedError``): it prints "not attempted yet" and returns,
  so the notebook still runs from top to bottom;
* a wrong answer: it raises ``ExerciseError`` saying what was expected, what came back,
  and a hint;
* a right answer: it prints that it is correct.

Each lesson keeps its checks in its own ``exercises`` module; the solutions live in one
place, ``vae_tutorial.lessons.solutions``, and the tests run every check against the
solution (it must pass) and against wrong answers (they must fail).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

NOT_ATTEMPTED = "not attempted yet"
CORRECT = "correct"


class ExerciseError(AssertionError):
    """The learner's answer is wrong: the message says what was expected, what came, and a hint."""


def run_check(title: str, trial: Callable[[], None]) -> str:
    """Run ``trial`` (it calls the learner's function and compares); report and return the outcome.

    Returns ``NOT_ATTEMPTED`` while the learner's function still raises ``NotImplementedError``,
    ``CORRECT`` when every comparison holds; a wrong answer raises ``ExerciseError``.
    """
    try:
        trial()
    except NotImplementedError:
        print(f"{title}: {NOT_ATTEMPTED}. Replace the `raise NotImplementedError` line with your "
              "code and run it again with its check; the solutions are in vae_tutorial/lessons/solutions.py.")
        return NOT_ATTEMPTED
    print(f"{title}: {CORRECT}.")
    return CORRECT


def expect_close(got: object, expected: torch.Tensor | float, what: str, hint: str,
                 rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Raise ``ExerciseError`` unless ``got`` is a number or tensor close to ``expected``."""
    expected = torch.as_tensor(expected, dtype=torch.float64)
    try:
        got_tensor = torch.as_tensor(got, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ExerciseError(f"{what}: expected a number or tensor, got {type(got).__name__} ({error}). "
                            f"Hint: {hint}") from None
    if got_tensor.shape != expected.shape:
        raise ExerciseError(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got_tensor.shape)}. "
                            f"Hint: {hint}")
    if not torch.allclose(got_tensor, expected, rtol=rtol, atol=atol, equal_nan=False):
        worst = (got_tensor - expected).abs().argmax()
        raise ExerciseError(f"{what}: expected {short(expected, worst)}, got {short(got_tensor, worst)}. "
                            f"Hint: {hint}")


def expect_equal(got: object, expected: object, what: str, hint: str) -> None:
    """Raise ``ExerciseError`` unless ``got == expected`` (integers, strings, booleans)."""
    if got != expected:
        raise ExerciseError(f"{what}: expected {expected!r}, got {got!r}. Hint: {hint}")


def short(values: torch.Tensor, index: torch.Tensor) -> str:
    """A number, or a tensor's entry at the flat ``index`` with its position, for a message."""
    if values.dim() == 0:
        return f"{values.item():.6g}"
    position = tuple(int(i) for i in torch.unravel_index(index, values.shape))
    return f"{values.flatten()[index].item():.6g} at index {position}"
