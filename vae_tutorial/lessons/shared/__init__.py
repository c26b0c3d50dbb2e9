"""Lesson machinery shared by several lessons: the explorer base, figures, posterior statistics, literature.

A learner need not read it.
"""

from vae_tutorial.lessons.shared.explorer import Explorer, figure_to_png
from vae_tutorial.lessons.shared.figures import densities, image_grid, image_rows_figure
from vae_tutorial.lessons.shared.literature import CIFAR10_BITS_PER_DIM, bits_per_dim_table
from vae_tutorial.lessons.shared.posteriors import active_units, dimensions_by_kl, kl_per_dimension

__all__ = ["CIFAR10_BITS_PER_DIM", "Explorer", "active_units", "bits_per_dim_table", "densities",
           "dimensions_by_kl", "figure_to_png", "image_grid", "image_rows_figure", "kl_per_dimension"]
