"""vae_tutorial: the helper module of the VAE lessons.

The public API (see README): the ELBO terms, the model, the data, the training loop.
Plots and widgets are imported from their modules (``vae_tutorial.plots``,
``vae_tutorial.widgets``) so that importing the package stays light.
"""

from vae_tutorial.data import (
    CIFAR10_CLASSES,
    SHAPE_NAMES,
    batches,
    load_cifar10,
    shapes_dataset,
    to_unit_interval,
)
from vae_tutorial.elbo import (
    ELBO,
    bits_per_dim,
    elbo,
    gaussian_log_likelihood,
    iwae_bound,
    kl_analytic,
    kl_monte_carlo,
)
from vae_tutorial.model import VAE, VAEConfig, count_parameters
from vae_tutorial.settings import is_quick, quick_or_full

# The names from train.py are imported on first use, not here: `python -m vae_tutorial.train`
# imports this package first, and Python warns when the module it is about to run as the
# program has already been imported by its package.
TRAIN_NAMES = ("History", "NonFiniteLossError", "default_device", "evaluate", "fit",
               "load_checkpoint", "save_checkpoint")


def __getattr__(name: str):
    """``vae_tutorial.fit`` and friends: loaded from ``vae_tutorial.train`` when first asked for."""
    if name in TRAIN_NAMES:
        from vae_tutorial import train

        return getattr(train, name)
    raise AttributeError(f"module 'vae_tutorial' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "CIFAR10_CLASSES", "ELBO", "History", "NonFiniteLossError", "SHAPE_NAMES", "VAE", "VAEConfig",
    "batches", "bits_per_dim", "count_parameters", "default_device", "elbo", "evaluate", "fit",
    "gaussian_log_likelihood", "is_quick", "iwae_bound", "kl_analytic", "kl_monte_carlo",
    "load_checkpoint", "load_cifar10", "quick_or_full", "save_checkpoint", "shapes_dataset",
    "to_unit_interval",
]
