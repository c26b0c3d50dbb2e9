"""Lesson machinery for lesson 5, where the ELBO comes from (``notebooks/05_the_elbo_gap.ipynb``).

A learner need not read it. ``ppca``: probabilistic PCA, where log p(x), p(z|x) and the
gap are exact; ``explorers``: the gap explorer; ``gaps``: the approximation and amortisation
gaps of a trained VAE; ``aggregate``: the aggregate posterior against the prior;
``figures``; ``exercises``: the checks of the lesson's exercises.
"""

from vae_tutorial.lessons.elbo_gap.aggregate import (
    Surgery,
    aggregate_log_density,
    elbo_surgery,
    marginal_kl_on_grid,
    moment_matched_kl,
    prior_holes,
    sample_aggregate,
)
from vae_tutorial.lessons.elbo_gap.explorers import ElboGapExplorer, elbo_gap_explorer
from vae_tutorial.lessons.elbo_gap.figures import (
    aggregate_posterior_figure,
    inference_gaps_figure,
    iwae_closing_in_figure,
)
from vae_tutorial.lessons.elbo_gap.gaps import (
    FixedPosterior,
    InferenceGaps,
    inference_gaps,
    measure_inference_gaps,
    optimal_posterior,
)
from vae_tutorial.lessons.elbo_gap.ppca import PPCA, fit_ppca, grey_patches
from vae_tutorial.lessons.shared.bounds import iwae_curve

__all__ = ["PPCA", "ElboGapExplorer", "FixedPosterior", "InferenceGaps", "Surgery", "aggregate_log_density",
           "aggregate_posterior_figure", "elbo_gap_explorer", "elbo_surgery", "fit_ppca", "grey_patches",
           "inference_gaps", "inference_gaps_figure", "iwae_closing_in_figure", "marginal_kl_on_grid",
           "measure_inference_gaps", "moment_matched_kl", "iwae_curve", "optimal_posterior",
           "prior_holes", "sample_aggregate"]
