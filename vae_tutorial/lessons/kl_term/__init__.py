"""Lesson machinery for lesson 1, the KL term (``notebooks/01_kl_term.ipynb``): a learner need not read it.

``experiments``: Monte-Carlo estimates, gradient descent that moves q onto p, the batch-size
study; ``figures`` and ``explorers``: what the lesson draws and slides.
"""

from vae_tutorial.lessons.kl_term.experiments import (
    DescentSettings,
    QDescent,
    batch_size_study,
    example_posterior,
    kl_numerical,
    log_log_slope,
    mc_estimate,
)
from vae_tutorial.lessons.kl_term.explorers import kl_explorer, move_q_explorer
from vae_tutorial.lessons.kl_term.figures import (
    batch_study_figure,
    compare_densities,
    per_dimension_kl_figure,
)

__all__ = ["DescentSettings", "QDescent", "batch_size_study", "batch_study_figure", "compare_densities",
           "example_posterior", "kl_explorer", "kl_numerical", "log_log_slope", "mc_estimate",
           "move_q_explorer", "per_dimension_kl_figure"]
