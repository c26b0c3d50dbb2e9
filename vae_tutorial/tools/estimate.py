"""Tool: how long a training run will take, measured from a few steps before it starts (lesson 3).

The article's model needs about 7.8 GFLOP per training image: 18 epochs of CIFAR-10 are
minutes on a recent GPU and a day or more on a laptop CPU. Lesson 3 measures a few steps
on the learner's device and stops before a run that would take hours.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from vae_tutorial.checks import check_positive_int
from vae_tutorial.model import unwrap
from vae_tutorial.train import TrainConfig, fit


@dataclass(frozen=True)
class RunEstimate:
    """A training run's length, from measured steps."""

    seconds_per_step: float  # wall time of one optimiser step, measured after a warm-up step
    steps_per_epoch: int
    epochs: int
    device: str  # where it was measured

    @property
    def seconds(self) -> float:
        """Estimated wall time of the whole run (training steps only)."""
        return self.seconds_per_step * self.steps_per_epoch * self.epochs

    def __str__(self) -> str:
        return (f"{self.epochs} epochs × {self.steps_per_epoch} steps × {self.seconds_per_step:.3g} s "
                f"per step ≈ {format_duration(self.seconds)}")


def estimate_run(model: nn.Module, images: Tensor, num_images: int, config: TrainConfig,
                 device: str | torch.device | None = None, steps: int = 3) -> RunEstimate:
    """Time ``steps`` steps of ``fit`` on a copy of ``model``; project a run of ``config.epochs`` epochs.

    Args:
        model: the ``VAE`` to be trained (left untouched: a copy takes the steps).
        images: ``uint8 (n, 3, 32, 32)``, at least ``steps * config.batch_size`` of them; any
            images of the right size do (speed does not depend on what they show).
        num_images: how many images one epoch of the real run trains on.
        config, device: those of the real run.
        steps: timed steps, after one untimed warm-up step (memory allocation, kernel choice).
    """
    check_positive_int(steps, "steps")
    batch_size = config.batch_size
    if len(images) < steps * batch_size:
        raise ValueError(f"need at least steps * batch_size = {steps * batch_size} images, got {len(images)}")
    trial = copy.deepcopy(unwrap(model))
    one_epoch = replace(config, epochs=1, compile=False)
    fit(trial, images[:batch_size], one_epoch, device=device, progress=False)  # warm-up
    history = fit(trial, images[:steps * batch_size], one_epoch, device=device, progress=False)
    steps_per_epoch = math.ceil(num_images / batch_size)
    device_name = str(next(trial.parameters()).device)
    return RunEstimate(history.epoch_seconds[0] / steps, steps_per_epoch, config.epochs, device_name)


def format_duration(seconds: float) -> str:
    """``42 s``, ``12.5 min`` or ``3.1 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
