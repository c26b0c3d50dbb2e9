"""The scale σ of p(x|z): its best value for a fixed decoder, and short runs that learn it.

Introduced in lesson 2. The decoder outputs the means x_hat of p(x|z) = N(x_hat, σ²); σ
is ``VAE.log_scale`` (log σ), one number (the article), one per channel or one per pixel.

For a fixed decoder the σ that maximises the likelihood has a closed form: with n
squared errors summing to SSE, ``d/dσ [-SSE / (2σ²) - n log σ] = SSE / σ³ - n / σ = 0``
gives ``σ² = SSE / n``, the mean squared error. The best σ is the RMS error
(Rybkin et al., "Simple and Effective VAE Training with Calibrated Decoders", ICML 2021).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vae_tutorial.data import check_image_shape
from vae_tutorial.model import LIKELIHOOD_SCALE_SHAPES, VAE
from vae_tutorial.train import History, default_device, fit, make_optimizer

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
    check_image_shape(x_hat, "x_hat")
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat and x must have the same shape, "
                         f"got {tuple(x_hat.shape)} and {tuple(x.shape)}")
    squared_error = (x.float() - x_hat.detach().float()) ** 2  # (B, 3, 32, 32)
    mse = squared_error.mean(dim=SHARED_DIMS[likelihood])  # (), (3,) or (3, 32, 32)
    return 0.5 * torch.log(mse).reshape(LIKELIHOOD_SCALE_SHAPES[likelihood])  # log sqrt(mse)


def fix_scale(model: VAE, sigma: float) -> VAE:
    """Set σ to ``sigma`` everywhere and freeze it (``requires_grad=False``); returns ``model``."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    with torch.no_grad():
        model.log_scale.fill_(float(torch.log(torch.tensor(sigma))))
    model.log_scale.requires_grad_(False)
    return model


def train_small_vae(images: Tensor, likelihood: str = "scalar", *, latent_dim: int = 16, epochs: int = 3,
                    batch_size: int = 32, lr: float = 2e-3, scale_lr: float = 5e-2,
                    fixed_sigma: float | None = None, beta: float = 1.0, seed: int = 0,
                    device: str | torch.device | None = None,
                    progress: bool = False) -> tuple[VAE, History]:
    """Train a fresh small-backbone ``VAE`` briefly with ``fit`` (lesson 2's side-by-side runs).

    Args:
        images: ``uint8 (N, 3, 32, 32)`` training images.
        likelihood: the decoder scale, ``"scalar"``, ``"channel"`` or ``"pixel"``.
        latent_dim, epochs, batch_size: as in ``VAE`` and ``fit``.
        lr, scale_lr: Adam step sizes of the networks and of ``log_scale`` (``make_optimizer``).
        fixed_sigma: hold σ at this value instead of learning it.
        beta: weight of the KL term.
        seed: seeds torch's global generator, so the same arguments give the same model.
    Returns:
        the trained model (in eval mode) and its ``History``.
    """
    check_likelihood(likelihood)
    torch.manual_seed(seed)
    model = VAE(latent_dim=latent_dim, backbone="small", likelihood=likelihood)
    if fixed_sigma is not None:
        fix_scale(model, fixed_sigma)
    device = torch.device(device) if device is not None else default_device()
    model.to(device)  # before the optimiser is built, so that it holds the parameters where they train
    optimizer = make_optimizer(model, lr, scale_lr)
    history = fit(model, images, epochs, batch_size, device=device, optimizer=optimizer, beta=beta,
                  progress=progress)
    return model.eval(), history
