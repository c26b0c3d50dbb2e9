"""Does the decoder listen to the dimensions the encoder uses? (lesson 4)

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vae_tutorial.model import evaluating


@torch.no_grad()
def decoder_sensitivity(model: nn.Module, codes: Tensor, step: float = 2.0) -> Tensor:
    """How much the decoded image changes when z moves along each dimension, in eval mode.

    Args:
        codes: ``(n, latent_dim)`` points to start from (e.g. posterior means).
        step: how far each code moves along one dimension at a time.
    Returns:
        ``(latent_dim,)``: mean |change| of the decoded pixel values (in [0, 1] units).
    """
    with evaluating(model) as vae:
        codes = codes.to(vae.prior_loc.device)
        start = vae.decode(codes).float()  # (n, 3, 32, 32)
        changes = []
        for d in range(codes.shape[1]):
            moved = codes.clone()
            moved[:, d] += step
            changes.append((vae.decode(moved).float() - start).abs().mean())
    return torch.stack(changes).cpu()


def rank_correlation(a: Tensor, b: Tensor) -> float:
    """Spearman's rank correlation of two ``(n,)`` tensors: Pearson's correlation of their ranks."""
    if a.shape != b.shape or a.dim() != 1 or len(a) < 2:
        raise ValueError(f"need two (n,) tensors with n >= 2, got {tuple(a.shape)} and {tuple(b.shape)}")
    ranks = torch.stack([torch.argsort(torch.argsort(v)) for v in (a, b)]).double()  # (2, n)
    return torch.corrcoef(ranks)[0, 1].item()


