"""Matplotlib figures used by the lessons. Every ``*_figure`` function returns a ``Figure``.

Figures are made with ``matplotlib.figure.Figure`` directly (not ``pyplot``), so they
never pile up in pyplot's state and widgets can redraw them safely. In a notebook, a
returned figure is shown by ``display(fig)`` or by being the cell's last value.

One module per lesson, ``common`` for what every lesson uses; import them all from here:
``from vae_tutorial import plots; plots.image_grid(images)``.
"""

from vae_tutorial.plots.common import (
    densities,
    image_grid,
    image_mosaic,
    mosaic,
    training_curves,
    z_range_of,
)
from vae_tutorial.plots.kl import (
    batch_study_figure,
    compare_densities,
    descent_figure,
    descent_view,
    kl_estimate_figure,
    kl_view,
    per_dimension_kl_figure,
    update_descent_figure,
    update_kl_estimate_figure,
)
from vae_tutorial.plots.latent import (
    factor_heatmap,
    iwae_curve_figure,
    kl_per_dimension_bars,
    latent_explorer_figure,
    path_norms_figure,
    projection_scatter,
)
from vae_tutorial.plots.reconstruction import (
    beta_sweep_figure,
    bits_per_dim_ladder,
    image_rows_figure,
    scale_comparison_figure,
    scale_maps_figure,
    sigma_figure,
    update_beta_sweep_figure,
    update_sigma_figure,
)
from vae_tutorial.plots.training import posterior_through_training, show_epoch, training_dashboard

__all__ = [
    "batch_study_figure", "beta_sweep_figure", "bits_per_dim_ladder", "compare_densities", "densities",
    "descent_figure", "descent_view", "factor_heatmap", "image_grid", "image_mosaic",
    "image_rows_figure", "iwae_curve_figure", "kl_estimate_figure", "kl_per_dimension_bars", "kl_view",
    "latent_explorer_figure", "mosaic", "path_norms_figure", "per_dimension_kl_figure",
    "posterior_through_training", "projection_scatter", "scale_comparison_figure", "scale_maps_figure",
    "show_epoch", "sigma_figure", "training_curves", "training_dashboard", "update_beta_sweep_figure",
    "update_descent_figure", "update_kl_estimate_figure", "update_sigma_figure", "z_range_of",
]
