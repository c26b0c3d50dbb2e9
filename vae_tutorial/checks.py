"""Checks of a learner's arguments: each error names the argument, what it must be and what came in."""

from __future__ import annotations

import math


def check_positive_int(value: object, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer of at least 1 (``True`` is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_positive_number(value: object, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number above zero."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
