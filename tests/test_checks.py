"""vae_tutorial.checks: argument errors name the argument, what it must be and what came in."""

import math

import pytest

from vae_tutorial.checks import check_positive_int, check_positive_number


@pytest.mark.parametrize("value", [0, -3, 2.0, True, "4", None])
def test_positive_int_refuses_what_is_not_a_count(value):
    with pytest.raises(ValueError, match=rf"steps must be a positive integer, got {value!r}"):
        check_positive_int(value, "steps")


@pytest.mark.parametrize("value", [0, -0.5, math.inf, math.nan, "1"])
def test_positive_number_refuses_what_is_not_above_zero(value):
    with pytest.raises(ValueError, match="lr must be a positive number"):
        check_positive_number(value, "lr")


def test_good_values_pass():
    check_positive_int(1, "steps")
    check_positive_number(1e-4, "lr")
    check_positive_number(3, "lr")
