"""Checks of lesson 0's exercises (``notebooks/00_setup_check.ipynb``): each says what is wrong.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Every check calls the learner's function on inputs of its own and compares with an answer
computed independently (PyTorch's own ``nn.Conv2d``, the core's ``to_unit_interval`` with the
same noise, a pixel count of the shapes' masks). The solutions are in
``vae_tutorial.lessons.solutions`` (Lesson 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from vae_tutorial.data import shapes_dataset, to_unit_interval
from vae_tutorial.lessons.shared.exercises import ExerciseError, expect_close, expect_equal, run_check

CONVOLUTIONS = [(3, 64, 3, False), (64, 128, 3, False), (128, 128, 1, True), (512, 3, 3, True)]


def check_conv_parameters(conv_parameters: Callable[[int, int, int, bool], int]) -> str:
    """Exercise 1: the number of parameters of ``nn.Conv2d(c_in, c_out, k, bias=bias)``."""

    def trial() -> None:
        for c_in, c_out, k, bias in CONVOLUTIONS:
            expected = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias).parameters())
            expect_equal(conv_parameters(c_in, c_out, k, bias), expected,
                         f"conv_parameters({c_in}, {c_out}, {k}, bias={bias})",
                         "each of the c_out filters has c_in x k x k weights, plus one bias when bias=True")

    return run_check("Exercise 1 (parameters of a convolution)", trial)


def check_dequantize(dequantize: Callable[[Tensor, Tensor], Tensor]) -> str:
    """Exercise 2: ``(v + u) / 256`` for 8-bit values ``v`` and noise ``u`` in [0, 1)."""
    images = (torch.arange(2 * 3 * 32 * 32) % 256).to(torch.uint8).view(2, 3, 32, 32)  # every value, 0 to 255

    def trial() -> None:
        expected = to_unit_interval(images, generator=torch.Generator().manual_seed(5))  # the core's
        noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(5))  # the same draws
        got = dequantize(images, noise)
        hint = ("each 8-bit value v covers the bin [v, v + 1); add the noise inside it and divide by 256, "
                "not 255, so that 255 + u stays below 1")
        expect_close(got, expected, "dequantize(images, noise) against vae_tutorial.to_unit_interval", hint,
                     rtol=0.0, atol=1e-6)
        if not (0.0 <= float(got.min()) and float(got.max()) < 1.0):
            raise ExerciseError(f"values must lie in [0, 1), got [{float(got.min())}, {float(got.max())}]. "
                                f"Hint: {hint}")

    return run_check("Exercise 2 (dequantisation)", trial)


def circle_pixels(images: Tensor, factors: dict[str, Tensor]) -> Tensor:
    """Pixels of each circle image that differ from its grey background: ``(n_circles,)``."""
    circles = factors["shape"] == 1
    background = (factors["background"][circles] * 255).round().to(torch.uint8)  # (n_circles,)
    differs = images[circles] != background[:, None, None, None]  # (n_circles, 3, 32, 32)
    return differs.any(dim=1).sum(dim=(1, 2)).float()


def check_circle_area_ratio(circle_area_ratio: Callable[[Tensor, dict[str, Tensor]], float]) -> str:
    """Exercise 3 (an experiment): mean over circles of (pixels drawn) / (π size²)."""
    images, factors = shapes_dataset(600, seed=11)

    def trial() -> None:
        size = factors["size"][factors["shape"] == 1]  # (n_circles,) half-widths in pixels
        expected = (circle_pixels(images, factors) / (math.pi * size**2)).mean().item()
        expect_close(circle_area_ratio(images, factors), expected,
                     "circle_area_ratio on 600 shapes images (seed 11)",
                     "keep the circles (factors['shape'] == 1); a pixel is drawn when any channel differs "
                     "from the background grey round(background * 255); divide the count by π size²",
                     rtol=1e-4, atol=1e-6)
        print(f"  drawn pixels / (π size²) = {expected:.3f}: a circle of pixels covers about its area")

    return run_check("Exercise 3 (the area of a drawn circle)", trial)
