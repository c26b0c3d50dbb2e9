"""The IWAE bound for growing k, from one set of log weights (lessons 4 and 5).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

The log weights come from ``vae_tutorial.elbo.importance_log_weights``; here they are
grouped into nested blocks so that the measured curve never gets looser as k grows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from vae_tutorial.checks import is_integer
from vae_tutorial.elbo import log_mean_exp


def iwae_from_log_weights(log_w: Tensor, k: int) -> Tensor:
    """The k-sample bound from ``K`` log weights ``(K, B)``, averaged over the K/k disjoint blocks.

    Block j gives ``log (1/k) sum_{i in block j} w_i`` (Burda et al.'s estimator with k
    samples); averaging the K/k blocks uses every sample. Nesting is what makes the curve
    monotone: a block of 2k is two blocks of k, and ``log((A + B) / 2) >= (log A + log B) / 2``
    (the log is concave), so for k dividing m the value at m is never below the value at k.
    Returns ``(B,)`` nats.
    """
    num_samples = log_w.shape[0]
    if not is_integer(k) or k < 1 or num_samples % k:
        raise ValueError(f"k must be a positive divisor of the {num_samples} samples, got {k!r}")
    blocks = log_w.view(num_samples // k, k, -1)  # (K/k, k, B)
    return log_mean_exp(blocks, dim=1).mean(dim=0)  # (K/k, B) -> (B,)


def iwae_curve(log_w: Tensor, ks: Sequence[int]) -> Tensor:
    """Mean over images of the k-sample bound for each k in ``ks``: ``(len(ks),)`` nats per image."""
    return torch.stack([iwae_from_log_weights(log_w, k).mean() for k in ks])
