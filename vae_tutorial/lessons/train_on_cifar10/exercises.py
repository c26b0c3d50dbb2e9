"""Checks of lesson 3's exercises (``notebooks/03_train_on_cifar10.ipynb``): each says what is wrong.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Every check calls the learner's function on inputs of its own and compares with an answer
computed independently (``torch.distributions``' KL, a log-mean-exp shifted by hand, the
closed-form optimum of σ). The solutions are in ``vae_tutorial.lessons.solutions`` (Lesson 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Normal, kl_divergence

from vae_tutorial.lessons.shared.exercises import ExerciseError, expect_close, expect_equal, run_check
from vae_tutorial.lessons.train_on_cifar10.tracking import PosteriorTrack


def example_track() -> PosteriorTrack:
    """Two records of 5 images in 6 dimensions, with KLs known by construction: a test track."""
    track = PosteriorTrack(torch.zeros(5, 3, 32, 32, dtype=torch.uint8))
    generator = torch.Generator().manual_seed(3)
    for epoch, spread in ((0, 0.01), (1, 1.0)):  # before training q is near p; afterwards some dims move
        loc = spread * torch.randn(5, 6, generator=generator) * torch.tensor([3.0, 2.0, 1.0, 0.5, 0.1, 0.0])
        scale = torch.tensor([0.1, 0.3, 0.6, 0.9, 1.0, 1.0]).expand(5, 6).clone()  # (5, 6)
        track.epochs.append(epoch)
        track.locs.append(loc)
        track.scales.append(scale if epoch else torch.ones(5, 6))
    return track


def check_dimensions_in_use(dimensions_in_use: Callable[[PosteriorTrack, float], int]) -> str:
    """Exercise 1: dimensions whose KL after the last record, averaged over images, exceeds a threshold."""
    track = example_track()

    def trial() -> None:
        kl = kl_divergence(Normal(track.locs[-1], track.scales[-1]), Normal(0.0, 1.0)).mean(dim=0)  # (6,)
        for threshold in (0.01, 0.1, 0.5, 2.0):
            expect_equal(dimensions_in_use(track, threshold), int((kl > threshold).sum()),
                         f"dimensions_in_use(track, threshold={threshold}) on a test track of 6 dimensions",
                         "use the LAST record (track.locs[-1], track.scales[-1]), the closed-form KL of each "
                         "(image, dimension), its mean over the images (dim=0), then count those above")

    return run_check("Exercise 1 (dimensions in use)", trial)


def check_iwae_from_log_weights(iwae_from_log_weights: Callable[[Tensor], Tensor]) -> str:
    """Exercise 2: log((1/k) sum_i exp(log_w_i)) per image, stable for log weights of -5,000 nats."""
    log_w = -5000 + 20 * torch.randn(64, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def trial() -> None:
        shift = log_w.max(dim=0).values  # (10,): written out by hand, shifted by the largest weight
        expected = shift + torch.log(torch.exp(log_w - shift).mean(dim=0))
        hint = ("exp(-5000) is 0 in floating point: use torch.logsumexp over the k samples (dim=0), "
                "then subtract log k for the mean")
        expect_close(iwae_from_log_weights(log_w), expected, "the bound of 10 images, 64 log weights each",
                     hint, rtol=1e-9, atol=1e-6)
        expect_close(iwae_from_log_weights(log_w[:1]), log_w[0], "with k = 1 (it is the ELBO itself)", hint,
                     rtol=1e-9, atol=1e-6)

    return run_check("Exercise 2 (the importance-weighted bound)", trial)


def example_reconstruction(rms: float = 0.1, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Images ``x (2, 3, 32, 32)`` in [0, 1] and a fixed "decoder output" ``x_hat``, RMS error ``rms``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, 32, 32, generator=generator)
    error = torch.randn(2, 3, 32, 32, generator=generator)
    return x, x + rms * error / error.pow(2).mean().sqrt()


def check_learned_log_scale(learned_log_scale: Callable[[Tensor, Tensor, float, int], float]) -> str:
    """Exercise 3 (an experiment): how far Adam takes log σ in a number of steps at a given step size."""
    x, x_hat = example_reconstruction(rms=0.1)
    optimum = math.log(0.1)  # the best σ for a fixed decoder is the RMS error (Rybkin et al. 2021)

    def trial() -> None:
        hint = ("start from log_scale = torch.zeros((), requires_grad=True), and each step minimise "
                "-Normal(x_hat, log_scale.exp()).log_prob(x).sum() with torch.optim.Adam([log_scale], lr=lr)")
        fast = learned_log_scale(x, x_hat, 5e-2, 200)
        expect_close(fast, optimum, "log σ after 200 Adam steps of size 5e-2 (it should reach log RMS = "
                     f"{optimum:.3f}, the optimum)", hint, rtol=0.0, atol=0.03)
        slow = learned_log_scale(x, x_hat, 1e-4, 200)
        travelled = -float(slow)
        if not 0.8 * 200 * 1e-4 <= travelled <= 1.05 * 200 * 1e-4:
            raise ExerciseError(f"log σ after 200 Adam steps of size 1e-4: expected about -{200 * 1e-4:.3f} "
                                f"(Adam moves about lr per step), got {float(slow):.4f}. Hint: {hint}")
        print(f"at lr 1e-4, log σ moved {travelled:.4f} in 200 steps: the {-optimum:.2f} to the optimum "
              f"would take about {-optimum / 1e-4:,.0f} steps")

    return run_check("Exercise 3 (how fast log σ learns)", trial)
