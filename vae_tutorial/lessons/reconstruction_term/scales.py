"""The decoder's scale σ, best and learned (lesson 2).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

The decoder outputs the means x_hat of p(x|z) = N(x_hat, σ²); σ
is ``VAE.log_scale`` (log σ), one number (the article), one per channel or one per pixel.

For a fixed decoder the σ that maximises the likelihood has a closed form: with n
squared errors summing to SSE, ``d/dσ [-SSE / (2σ²) - n log σ] = SSE / σ³ - n / σ = 0``
gives ``σ² = SSE / n``, the mean squared error. The best σ is the RMS error
(Rybkin et al., "Simple and Effective VAE Training with Calibrated Decoders", ICML 2021).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vae_tutorial.checks import check_positive_number
from vae_tutorial.history import History
from vae_tutorial.machinery.tensor_checks import check_same_shape
from vae_tutorial.model import LIKELIHOOD_SCALE_SHAPES, VAE
from vae_tutorial.train import TrainConfig, fit

# Dimensions that share one σ, for each choice of scale: the errors pooled into one RMS.
SHARED_DIMS = {"scalar": (0, 1, 2, 3), "channel": (0, 2, 3), "pixel": (0,)}


def check_likelihood(likelihood: str) -> None:
    if likelihood not in LIKELIHOOD_SCALE_SHAPES:
        raise ValueError(f"likelihood must be one of {list(LIKELIHOOD_SCALE_SHAPES)}, got {likelihood!r}")


def optimal_log_scale(x_hat: Tensor, x: Tensor, likelihood: str = "scalar") -> Tensor:
    """log σ* maximising ``gaussian_log_likelihood(x_hat, log σ, x).sum()``: the log RMS error.

    Args:
        x_hat: ``(B, 3, 32, 32)`` decoder means, held fixed.
        x: ``(B, 3, 32, 32)`` images.
        likelihood: ``"scalar"``, ``"channel"`` or ``"pixel"``: which errors share a σ.
    Returns:
        log σ* shaped like ``VAE.log_scale``: ``()``, ``(3, 1, 1)`` or ``(3, 32, 32)``.
    """
    check_likelihood(likelihood)
    check_same_shape(x_hat, x)
    squared_error = (x.float() - x_hat.detach().float()) ** 2  # (B, 3, 32, 32)
    mse = squared_error.mean(dim=SHARED_DIMS[likelihood])  # (), (3,) or (3, 32, 32)
    return 0.5 * torch.log(mse).reshape(LIKELIHOOD_SCALE_SHAPES[likelihood])  # log sqrt(mse)


def fix_scale(model: VAE, sigma: float) -> VAE:
    """Set σ to ``sigma`` everywhere and freeze it (``requires_grad=False``); returns ``model``."""
    check_positive_number(sigma, "sigma")
    with torch.no_grad():
        model.log_scale.fill_(float(torch.log(torch.tensor(sigma))))
    model.log_scale.requires_grad_(False)
    return model


def train_small_vae(images: Tensor, config: TrainConfig, likelihood: str = "scalar", *, latent_dim: int = 16,
                    fixed_sigma: float | None = None, initial_sigma: float | None = None, seed: int = 0,
                    device: str | torch.device | None = None, progress: bool = False) -> tuple[VAE, History]:
    """Train a fresh small-backbone ``VAE`` with ``fit`` and ``config`` (lesson 2's side-by-side runs).

    Args:
        images: ``uint8 (N, 3, 32, 32)`` training images.
        config: the run's settings (epochs, batch size, step sizes, β).
        likelihood: the decoder scale, ``"scalar"``, ``"channel"`` or ``"pixel"``.
        latent_dim: the size of z.
        fixed_sigma: hold σ at this value instead of learning it.
        initial_sigma: start the learned σ here instead of the model's σ = 1 (log σ = 0).
        seed: seeds torch's global generator, so the same arguments give the same model.
    Returns:
        the trained model (in eval mode) and its ``History``.
    """
    check_likelihood(likelihood)
    torch.manual_seed(seed)
    model = VAE(latent_dim=latent_dim, backbone="small", likelihood=likelihood)
    if fixed_sigma is not None:
        fix_scale(model, fixed_sigma)
    elif initial_sigma is not None:
        fix_scale(model, initial_sigma).log_scale.requires_grad_(True)  # set it, and keep learning it
    history = fit(model, images, config, device=device, progress=progress)
    return model.eval(), history
