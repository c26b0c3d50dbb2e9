"""Lesson machinery for lesson 3, training on CIFAR-10 (``notebooks/03_train_on_cifar10.ipynb``).

A learner need not read it. ``tracking``: q(z|x) of a few images through training;
``figures`` and ``explorers``: the live training monitor and the posterior explorer;
``exercises``: the checks of the lesson's exercises.
"""

from vae_tutorial.lessons.train_on_cifar10.explorers import posterior_explorer, training_monitor
from vae_tutorial.lessons.train_on_cifar10.tracking import PosteriorTrack

__all__ = ["PosteriorTrack", "posterior_explorer", "training_monitor"]
