"""Checks of a learner's arguments: each error names the argument, what it must be and what came in.

``True`` is not a count, and ``nan`` is not a number a run can use; NumPy's integers and
floats are accepted like Python's.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable


def is_integer(value: object) -> bool:
    """A Python or NumPy integer, but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A finite Python or NumPy number, but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_positive_int(value: object, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer of at least 1."""
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_non_negative_int(value: object, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer of at least 0."""
    if not is_integer(value) or value < 0:
        raise ValueError(f"{name} must be 0 or a positive integer, got {value!r}")


def check_positive_number(value: object, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number above zero."""
    if not is_real(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_non_negative_number(value: object, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number of at least zero."""
    if not is_real(value) or value < 0:
        raise ValueError(f"{name} must be 0 or a positive number, got {value!r}")


def check_choice(value: object, choices: Iterable[str], name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
