"""Lesson machinery for lesson 2, the reconstruction term (``notebooks/02_reconstruction_term.ipynb``).

A learner need not read it. ``scales``: the best σ of a decoder and short training runs;
``balance``: the β sweep, active units and posterior collapse; ``families``: the likelihood families side
by side; ``cures``: KL warm-up and free bits against collapse; ``figures`` and ``explorers``.
"""

from vae_tutorial.lessons.reconstruction_term.balance import SweepPoint, beta_sweep, sweep_table
from vae_tutorial.lessons.reconstruction_term.cures import (
    beta_objective,
    cure_points,
    cure_table,
    cures_figure,
)
from vae_tutorial.lessons.reconstruction_term.explorers import beta_explorer, sigma_explorer
from vae_tutorial.lessons.reconstruction_term.families import (
    bernoulli_mass,
    draw_from_likelihood,
    family_table,
    reconstructions,
)
from vae_tutorial.lessons.reconstruction_term.figures import (
    bits_per_dim_ladder,
    scale_comparison_figure,
    scale_maps_figure,
)
from vae_tutorial.lessons.reconstruction_term.scales import fix_scale, optimal_log_scale, train_small_vae

__all__ = ["SweepPoint", "bernoulli_mass", "beta_explorer", "beta_objective", "beta_sweep",
           "bits_per_dim_ladder", "cure_points", "cure_table", "cures_figure", "draw_from_likelihood",
           "family_table", "fix_scale", "optimal_log_scale", "reconstructions", "scale_comparison_figure",
           "scale_maps_figure", "sigma_explorer", "sweep_table", "train_small_vae"]
