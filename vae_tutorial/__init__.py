"""vae_tutorial: a variational autoencoder for colour images, in a few files you can read in one sitting.

The core, in reading order:

* ``elbo.py``: the ELBO's two terms (the KL and the reconstruction term), bits/dim, IWAE;
* ``likelihoods.py``: p(x|z): Gaussian, Bernoulli ("BCE") or discretised logistic;
* ``model.py`` and ``networks.py``: the VAE: encoder -> q(z|x), decoder -> p(x|z), prior p(z);
* ``data.py``: CIFAR-10, the offline shapes dataset, batches of uint8 images on the device;
* ``train.py``, ``history.py``, ``checkpoint.py``: the training run and what it keeps;
* ``checks.py``, ``settings.py``: argument checks and quick mode.

One folder down, marked as such, live what the lessons need (``vae_tutorial.lessons``:
experiments, figures, explorers) and the tools (``vae_tutorial.tools``: command line,
DDP, benchmark). A learner need not read those.
"""

from vae_tutorial.checkpoint import load_checkpoint, save_checkpoint
from vae_tutorial.data import batches, load_cifar10, shapes_dataset, to_unit_interval
from vae_tutorial.elbo import (
    ELBO,
    bits_per_dim,
    elbo,
    iwae_bound,
    kl_analytic,
    kl_monte_carlo,
)
from vae_tutorial.history import History
from vae_tutorial.likelihoods import gaussian_log_likelihood
from vae_tutorial.model import VAE, VAEConfig, count_parameters, encode_images
from vae_tutorial.settings import quick_or_full
from vae_tutorial.train import (
    NonFiniteLossError,
    TrainConfig,
    default_device,
    evaluate,
    fit,
    make_optimizer,
    train_step,
)

__version__ = "0.2.0"

__all__ = [
    "ELBO", "History", "NonFiniteLossError", "TrainConfig", "VAE", "VAEConfig", "batches", "bits_per_dim",
    "count_parameters", "default_device", "elbo", "encode_images", "evaluate", "fit",
    "gaussian_log_likelihood", "iwae_bound", "kl_analytic", "kl_monte_carlo", "load_checkpoint",
    "load_cifar10", "make_optimizer", "quick_or_full", "save_checkpoint", "shapes_dataset",
    "to_unit_interval", "train_step",
]
