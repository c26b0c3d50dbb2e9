"""Checks of lesson 4's exercises (``notebooks/04_latent_space.ipynb``): each says what is wrong.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Every check calls the learner's function on inputs of its own and compares with an answer
computed independently (the package's least-squares correlation, a sort, the chi-square law
of the prior's norms). The solutions are in ``vae_tutorial.lessons.solutions`` (Lesson 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Chi2

from vae_tutorial.lessons.latent_space.factors import factor_correlations
from vae_tutorial.lessons.latent_space.paths import chi2_quantile
from vae_tutorial.lessons.shared.exercises import ExerciseError, expect_close, expect_equal, run_check


def check_circular_linear_correlation(circular_linear_correlation: Callable[[Tensor, Tensor], float]) -> str:
    """Exercise 1: Mardia's correlation of values and hues, against the least-squares fit on cos and sin."""
    generator = torch.Generator().manual_seed(0)
    hue = torch.rand(3000, dtype=torch.float64, generator=generator)
    noise = torch.randn(3000, dtype=torch.float64, generator=generator)
    values = torch.cos(2 * math.pi * (hue - 0.3)) + 0.7 * noise

    def trial() -> None:
        hint = ("R² = (r_zc² + r_zs² - 2 r_zc r_zs r_cs) / (1 - r_cs²) with angle = 2π hue; "
                "return R, its square root")
        expected = factor_correlations(values[:, None], {"hue": hue})[0, 0].item()
        expect_close(circular_linear_correlation(values, hue), expected,
                     "R of 3,000 noisy values of cos(2π(hue - 0.3))",
                     hint, rtol=1e-3, atol=1e-4)
        expect_close(circular_linear_correlation(values, (hue + 0.5) % 1.0), expected,
                     "R with the colour wheel turned half-way (red moved: R must not change)", hint,
                     rtol=1e-3, atol=1e-4)

    return run_check("Exercise 1 (circular-linear correlation)", trial)


def check_mutual_information_gap(mutual_information_gap: Callable[[Tensor], float]) -> str:
    """Exercise 2: the mean over factors of the best minus the second-best dimension's score."""
    table = torch.rand(5, 7, generator=torch.Generator().manual_seed(1))  # (factors, dims)

    def trial() -> None:
        ordered = table.sort(dim=1, descending=True).values  # (5, 7), each row largest first
        hint = "per row (factor): largest minus second largest (e.g. topk(2, dim=1)), then the mean over rows"
        expect_close(mutual_information_gap(table), (ordered[:, 0] - ordered[:, 1]).mean().item(),
                     "MIG of a random 5 × 7 table", hint, rtol=1e-5)
        expect_close(mutual_information_gap(torch.eye(4)), 1.0,
                     "MIG of the identity (one dimension per factor)",
                     hint, rtol=1e-6)

    return run_check("Exercise 2 (mutual information gap)", trial)


def check_dimensions_for_share(dimensions_for_share: Callable[[Tensor, float], int]) -> str:
    """Exercise 3: the fewest dimensions, most used first, whose KLs reach a share of the total."""
    kl = torch.tensor([0.5, 5.0, 0.0, 3.0, 1.5])  # sorted: 5, 3, 1.5, 0.5, 0 (total 10)

    def trial() -> None:
        hint = ("sort the KLs largest first, add them up (torch.cumsum), "
                "count how many it takes to reach share × total")
        for share, expected in ((0.3, 1), (0.5, 1), (0.51, 2), (0.8, 2), (0.9, 3), (1.0, 4)):
            expect_equal(dimensions_for_share(kl, share), expected,
                         f"dimensions_for_share({kl.tolist()}, {share})", hint)

    return run_check("Exercise 3 (dimensions that carry the code)", trial)


def midpoint_share_expected(dim: int, mass: float = 0.005) -> float:
    """P(||(a + b) / 2|| below the prior's ``mass`` norm quantile), a, b ~ N(0, I_dim): the closed form.

    ``(a + b) / 2 ~ N(0, I / 2)``, so ``2 ||midpoint||² ~ chi²(dim)``.
    """
    threshold = chi2_quantile(dim, mass)
    return Chi2(torch.tensor(float(dim), dtype=torch.float64)).cdf(torch.tensor(2 * threshold)).item()


def check_midpoint_inside_share(midpoint_inside_share: Callable[[int, int], float]) -> str:
    """Exercise 4 (an experiment): the share of straight-line midpoints inside the prior's shell."""
    pairs = 4000

    def trial() -> None:
        torch.manual_seed(0)
        hint = ("draw a, b = torch.randn(2, pairs, dim); the midpoint is (a + b) / 2; "
                "compare its squared norm with "
                "the 0.5 % quantile of the prior's squared norms (chi-square with dim degrees of freedom)")
        for dim in (1, 4, 16, 64, 256):
            expected = midpoint_share_expected(dim)
            noise = 4 * math.sqrt(max(expected * (1 - expected), 1e-4) / pairs)  # four standard errors
            got = midpoint_inside_share(dim, pairs)
            if not isinstance(got, float | int | Tensor) or abs(float(got) - expected) > noise:
                raise ExerciseError(f"midpoint_inside_share({dim}, {pairs}): "
                                    f"expected {expected:.3f} ± {noise:.3f}, "
                                    f"got {got!r}. Hint: {hint}")
        print("share of midpoints closer to 0 than 99.5 % of prior draws: "
              + ", ".join(f"{dim}-d {midpoint_share_expected(dim):.1%}" for dim in (1, 4, 16, 64, 256)))

    return run_check("Exercise 4 (the shell, by dimension)", trial)
