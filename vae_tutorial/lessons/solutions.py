"""Solutions to the lessons' exercises, all in one place: try each exercise before you read its solution.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Each lesson ends with exercises: a function to write (its stub raises ``NotImplementedError``)
and a ``check_<name>`` call that says what is wrong. The functions below are the reference
answers, in the order of the lessons; the tests run every check against them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal, Normal

from vae_tutorial.elbo import log_mean_exp

# --- Lesson 0: the setup check (notebooks/00_setup_check.ipynb) ---------------------------


def conv_parameters(in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> int:
    """Exercise 1: out_channels filters of in_channels x k x k weights, plus a bias each."""
    return out_channels * in_channels * kernel_size**2 + (out_channels if bias else 0)


def dequantize(images: Tensor, noise: Tensor) -> Tensor:
    """Exercise 2: uint8 values v and noise u in [0, 1) of the same shape -> (v + u) / 256 in [0, 1)."""
    return (images.float() + noise) / 256


def circle_area_ratio(images: Tensor, factors: dict[str, Tensor]) -> float:
    """Exercise 3: mean over the circles of (pixels that differ from the background) / (π size²)."""
    circles = factors["shape"] == 1
    background = (factors["background"][circles] * 255).round().to(torch.uint8)  # (n,)
    drawn = (images[circles] != background[:, None, None, None]).any(dim=1).sum(dim=(1, 2))  # (n,)
    return (drawn / (math.pi * factors["size"][circles] ** 2)).mean().item()


# --- Lesson 1: the KL term (notebooks/01_kl_term.ipynb) -----------------------------------


def kl_normal_vs_standard(mu: Tensor, sigma: Tensor) -> Tensor:
    """Exercise 1: KL(N(mu, sigma²) || N(0, 1)) elementwise = -log sigma + (sigma² + mu² - 1) / 2."""
    return -torch.log(sigma) + (sigma**2 + mu**2 - 1) / 2


def samples_needed(mu: float, sigma: float, target: float) -> int:
    """Exercise 2: Var[log q - log p] = (sigma² - 1)²/2 + mu² sigma², and n = Var / target², rounded up."""
    variance = (sigma**2 - 1) ** 2 / 2 + mu**2 * sigma**2
    return max(1, math.ceil(variance / target**2))


def gradient_step(mu: float, log_sigma: float, eps: Tensor, lr: float) -> tuple[float, float]:
    """Exercise 3: one descent step on the mean of log q(z) - log p(z), z = mu + sigma * eps, by hand.

    log q(z) = -log sigma - eps²/2 + const: 0 per unit of mu, -1 per unit of log sigma.
    -log p(z) = z²/2 + const: z per unit of mu, z * sigma * eps per unit of log sigma.
    """
    sigma = math.exp(log_sigma)
    z = mu + sigma * eps  # (n,)
    grad_mu, grad_log_sigma = z.mean().item(), (-1 + sigma * eps * z).mean().item()
    return mu - lr * grad_mu, log_sigma - lr * grad_log_sigma


def relative_spread(q: Normal, batch_size: int, repeats: int) -> float:
    """Exercise 4: std over ``repeats`` batches of the batch-mean one-sample KL of ``q`` (batch shape
    ``(latent_dim,)``) against N(0, 1), divided by the closed-form KL."""
    p = Normal(0.0, 1.0)
    z = q.sample((repeats, batch_size))  # (repeats, batch_size, latent_dim)
    estimates = (q.log_prob(z) - p.log_prob(z)).sum(dim=2).mean(dim=1)  # (repeats,)
    exact = torch.distributions.kl_divergence(q, p).sum()
    return (estimates.std() / exact).item()


# --- Lesson 2: the reconstruction term (notebooks/02_reconstruction_term.ipynb) -----------


def log_likelihood(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """Exercise 1: log N(x; x_hat, exp(log_scale)²) summed over C, H, W: ``(B,)``."""
    per_value = -(x - x_hat) ** 2 / (2 * torch.exp(2 * log_scale)) - log_scale - 0.5 * math.log(2 * math.pi)
    return per_value.sum(dim=(1, 2, 3))


def best_sigma_per_channel(x_hat: Tensor, x: Tensor) -> Tensor:
    """Exercise 2: the RMS error of each channel, pooled over images and pixels: ``(3, 1, 1)``."""
    return ((x - x_hat) ** 2).mean(dim=(0, 2, 3)).sqrt().view(3, 1, 1)


def active_units(means: Tensor, threshold: float = 0.01) -> int:
    """Exercise 3: units whose posterior mean ``means (N, latent_dim)`` varies by more than ``threshold``."""
    return int((means.var(dim=0) > threshold).sum())


def gaussian_per_pixel_bits(train_images: Tensor, test_images: Tensor) -> float:
    """Exercise 4: an independent Gaussian per (c, h, w) fitted to dequantised ``train_images`` (uint8),
    scored on dequantised ``test_images`` in bits/dim."""
    x_train = (train_images.double() + torch.rand(train_images.shape, dtype=torch.float64)) / 256
    x_test = (test_images.double() + torch.rand(test_images.shape, dtype=torch.float64)) / 256
    fitted = Normal(x_train.mean(dim=0), x_train.std(dim=0))  # (3, 32, 32) means and stds
    nll = -fitted.log_prob(x_test).sum(dim=(1, 2, 3)).mean().item()  # nats per image
    return nll / (x_test[0].numel() * math.log(2)) + 8


def discretized_logistic(x_hat: Tensor, log_scale: Tensor, x: Tensor) -> Tensor:
    """Exercise 5: log P(v) of each 8-bit value v = floor(256 x), a logistic put in bins: ``(B, 3, 32, 32)``.

    In float64: far in a tail, F(upper) and F(lower) agree to more digits than float32 holds."""
    v = torch.floor(x.double() * 256).clamp(0, 255)
    x_hat, s = x_hat.double(), torch.exp(log_scale.double())
    upper = torch.sigmoid(((v + 1) / 256 - x_hat) / s)  # F at the bin's upper edge
    lower = torch.sigmoid((v / 256 - x_hat) / s)
    upper = torch.where(v == 255, torch.ones_like(upper), upper)  # the end bins take the tails
    lower = torch.where(v == 0, torch.zeros_like(lower), lower)
    return torch.log(upper - lower).float()


def free_bits_kl(mu: Tensor, sigma: Tensor, free_bits: float) -> Tensor:
    """Exercise 6: ``sum_j max(λ, mean_b KL_bj)`` for q = N(mu, sigma²), each ``(B, latent_dim)``: scalar."""
    kl = 0.5 * (mu**2 + sigma**2 - 1) - torch.log(sigma)  # (B, latent_dim), closed form per unit
    return kl.mean(dim=0).clamp(min=free_bits).sum()  # batch mean first, then the floor, then the sum


# --- Lesson 3: training on CIFAR-10 (notebooks/03_train_on_cifar10.ipynb) -----------------


def dimensions_in_use(track, threshold: float = 0.1) -> int:
    """Exercise 1: dimensions whose KL after the last record, mean over the images, exceeds ``threshold``."""
    loc, scale = track.locs[-1], track.scales[-1]  # (images, latent_dim)
    kl = -torch.log(scale) + (scale**2 + loc**2 - 1) / 2  # closed-form KL(q(z_d|x) || N(0, 1))
    return int((kl.mean(dim=0) > threshold).sum())


def iwae_from_log_weights(log_w: Tensor) -> Tensor:
    """Exercise 2: ``log (1/k) sum_i exp(log_w_i)`` of each image, ``(k, B) -> (B,)``, without overflow."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def learned_log_scale(x: Tensor, x_hat: Tensor, lr: float, steps: int) -> float:
    """Exercise 3: log σ after ``steps`` Adam steps of size ``lr`` from 0, the decoder output fixed."""
    log_scale = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.Adam([log_scale], lr=lr)
    for _ in range(steps):
        loss = -Normal(x_hat, log_scale.exp()).log_prob(x).sum()  # -log p(x|z) with the decoder fixed
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return log_scale.item()


# --- Lesson 4: the latent space (notebooks/04_latent_space.ipynb) -------------------------


def circular_linear_correlation(z: Tensor, hue: Tensor) -> float:
    """Exercise 1: Mardia's correlation between values ``z (N,)`` and hues in [0, 1) ``(N,)``, in [0, 1]."""
    angle = 2 * math.pi * hue

    def r(a: Tensor, b: Tensor) -> Tensor:
        return torch.corrcoef(torch.stack([a, b]))[0, 1]

    r_zc, r_zs, r_cs = r(z, angle.cos()), r(z, angle.sin()), r(angle.cos(), angle.sin())
    return math.sqrt((r_zc**2 + r_zs**2 - 2 * r_zc * r_zs * r_cs) / (1 - r_cs**2))


def mutual_information_gap(information: Tensor) -> float:
    """Exercise 2: mean over factors (rows of ``(factors, dims)``) of the best minus the second-best score."""
    two_best = information.topk(2, dim=1).values  # (factors, 2)
    return (two_best[:, 0] - two_best[:, 1]).mean().item()


def dimensions_for_share(kl: Tensor, share: float) -> int:
    """Exercise 3: fewest dimensions, most used first, whose KLs ``(latent_dim,)`` reach ``share`` of all."""
    cumulative = torch.cumsum(kl.sort(descending=True).values, dim=0)
    return int((cumulative < share * kl.sum() - 1e-6).sum().item()) + 1


def midpoint_inside_share(dim: int, pairs: int = 4000) -> float:
    """Exercise 4: share of midpoints of ``pairs`` prior-draw pairs closer to 0 than 99.5 % of prior draws.

    The 0.5 % quantile of the prior's norms is measured here too, on 50,000 fresh draws (in the
    notebook, ``lesson.prior_norm_band(dim)[0]`` gives it exactly).
    """
    a, b = torch.randn(2, pairs, dim)  # two (pairs, dim) batches of draws from N(0, I)
    threshold = torch.quantile(torch.randn(50_000, dim).norm(dim=1), 0.005)  # 0.5 % of prior norms lie below
    return ((a + b) / 2).norm(dim=1).lt(threshold).float().mean().item()


# --- Lesson 5: where the ELBO comes from (notebooks/05_the_elbo_gap.ipynb) -----------------


def log_evidence(x: Tensor, W: Tensor, b: Tensor, sigma: float) -> Tensor:
    """Exercise 1: log p(x) of probabilistic PCA, from its marginal N(b, W Wᵀ + σ² I): ``(N, D) -> (N,)``."""
    covariance = W @ W.T + sigma**2 * torch.eye(len(b), dtype=W.dtype)  # (D, D)
    return MultivariateNormal(b, covariance_matrix=covariance).log_prob(x)


def true_posterior(x: Tensor, w: Tensor, b: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """Exercise 2: mean ``(N,)`` and std of p(z|x) for z ~ N(0, 1), x|z ~ N(w z + b, σ² I)."""
    precision = 1 + (w @ w) / sigma**2  # 1/std²: the prior's 1 plus what x tells about z
    mean = ((x - b) @ w) / sigma**2 / precision  # (N,)
    return mean, 1 / math.sqrt(precision)


def prior_sampling_estimate(log_likelihood: Callable[[Tensor], Tensor], k: int) -> Tensor:
    """Exercise 3: log p(x) ≈ log mean_i p(x | z_i) with z_i ~ p(z) = N(0, 1), k samples."""
    z = torch.randn(k, dtype=torch.float64)  # (k,)
    return log_mean_exp(log_likelihood(z), dim=0)
