"""Lesson machinery for lesson 4, the latent space (``notebooks/04_latent_space.ipynb``).

A learner need not read it. ``usage``: the decoder's sensitivity to each dimension;
``paths``: interpolation and the prior's norms; ``factors``: scores against the shapes'
known factors (and CIFAR-10's labels); ``bounds``: the IWAE curve; ``figures`` and ``explorers``;
``exercises``: the checks of the lesson's exercises.
"""

from vae_tutorial.lessons.latent_space.explorers import LatentExplorer, latent_explorer
from vae_tutorial.lessons.latent_space.factors import (
    factor_correlations,
    factor_mutual_information,
    factor_table,
    label_probe,
    linear_probe,
    principal_components,
)
from vae_tutorial.lessons.latent_space.figures import (
    factor_heatmap,
    iwae_curve_figure,
    kl_per_dimension_bars,
    path_norms_figure,
    projection_scatter,
)
from vae_tutorial.lessons.latent_space.paths import lerp, prior_norm_band, prior_norm_quantile, slerp
from vae_tutorial.lessons.latent_space.usage import decoder_sensitivity, rank_correlation
from vae_tutorial.lessons.shared.bounds import iwae_curve, iwae_from_log_weights

__all__ = ["LatentExplorer", "decoder_sensitivity", "factor_correlations", "factor_heatmap",
           "factor_mutual_information", "factor_table", "iwae_curve", "iwae_curve_figure",
           "iwae_from_log_weights", "kl_per_dimension_bars", "label_probe", "latent_explorer", "lerp",
           "linear_probe",
           "path_norms_figure", "prior_norm_band", "prior_norm_quantile", "principal_components",
           "projection_scatter", "rank_correlation", "slerp"]
