"""Checks of a learner's arguments: each error names the argument, what it must be and what came in.

``True`` is not a count, and ``nan`` is not a number a run can use; NumPy's integers and
floats are accepted like Python's. Each ``check_...(value, name)`` raises ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable


def is_integer(value: object) -> bool:
    """A Python or NumPy integer, but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A finite Python or NumPy number, but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def value_check(accepts: Callable[[object], bool], expected: str) -> Callable[[object, str], None]:
    """A check that raises ``ValueError("NAME must be EXPECTED, got VALUE")`` unless ``accepts(value)``."""
    def check(value: object, name: str) -> None:
        if not accepts(value):
            raise ValueError(f"{name} must be {expected}, got {value!r}")
    return check


check_positive_int = value_check(lambda v: is_integer(v) and v >= 1, "a positive integer")
check_non_negative_int = value_check(lambda v: is_integer(v) and v >= 0, "0 or a positive integer")
check_positive_number = value_check(lambda v: is_real(v) and v > 0, "a positive number")
check_non_negative_number = value_check(lambda v: is_real(v) and v >= 0, "0 or a positive number")


def check_choice(value: object, choices: Iterable[str], name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
