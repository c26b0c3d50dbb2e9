"""Probabilistic PCA: a latent-variable model whose log p(x), p(z|x) and ELBO gap are exact (lesson 5).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

The model is a VAE with a linear decoder and nothing learned in the encoder:
z ~ N(0, I) in L dimensions, x | z ~ N(W z + b, σ² I) in D dimensions (Tipping & Bishop 1999).
Everything is Gaussian, so every quantity the ELBO's derivation talks about has a closed form.
All computations are in float64: the identity ELBO + KL = log p(x) is checked to 1e-5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vae_tutorial.checks import check_positive_int
from vae_tutorial.machinery.tensor_checks import check_uint8_images


@dataclass
class PPCA:
    """z ~ N(0, I_L), x | z ~ N(W z + b, σ² I_D). ``W (D, L)``, ``b (D,)``, ``sigma`` (σ > 0)."""

    W: Tensor  # (D, L) float64: the linear decoder
    b: Tensor  # (D,) float64: the data's mean
    sigma: float  # the noise's standard deviation

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    def check_points(self, x: Tensor) -> Tensor:
        """``x (N, D)`` as float64, or a ``ValueError`` naming the shape expected."""
        if x.dim() != 2 or x.shape[1] != self.W.shape[0]:
            raise ValueError(f"x must be (N, {self.W.shape[0]}) points, got shape {tuple(x.shape)}")
        return x.double()

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z): ``x (N, D)``, ``z (..., N, L)`` -> ``(..., N)`` nats (the decoder's density)."""
        x_hat = z.double() @ self.W.T + self.b  # (..., N, D)
        return Normal(x_hat, self.sigma).log_prob(self.check_points(x)).sum(-1)

    def posterior(self, x: Tensor) -> MultivariateNormal:
        """The true posterior p(z|x) = N(M⁻¹ Wᵀ (x - b), σ² M⁻¹), M = WᵀW + σ² I.

        ``x (N, D)`` -> batch ``(N,)``, event ``(L,)`` (Bayes: Gaussian prior, linear-Gaussian p(x|z)).
        """
        x = self.check_points(x)
        M = self.W.T @ self.W + self.sigma**2 * torch.eye(self.latent_dim, dtype=torch.float64)  # (L, L)
        loc = torch.linalg.solve(M, self.W.T @ (x - self.b).T).T  # (N, L)
        return MultivariateNormal(loc, covariance_matrix=self.sigma**2 * torch.linalg.inv(M))

    def log_evidence(self, x: Tensor) -> Tensor:
        """log p(x) by Bayes' rule at z = the posterior mean: log p(x|z) + log p(z) - log p(z|x), ``(N,)``.

        The rule holds at every z; the posterior mean is just a convenient one. (The tests
        compare it with the marginal N(b, W Wᵀ + σ² I) and with an integral on a grid.)
        """
        posterior = self.posterior(x)
        z = posterior.mean  # (N, L)
        prior = Normal(torch.zeros_like(z), torch.ones_like(z))
        return self.log_likelihood(x, z) + prior.log_prob(z).sum(-1) - posterior.log_prob(z)

    def elbo(self, x: Tensor, q_loc: Tensor, q_scale: Tensor) -> Tensor:
        """The ELBO of a diagonal Gaussian q = N(q_loc, diag(q_scale²)), closed form: ``(N, L)`` -> ``(N,)``.

        E_q[log p(x|z)] needs only q's mean and variance, because log p(x|z) is quadratic in z:
        -D/2 log(2πσ²) - (‖x - b - W μ‖² + Σ_l τ_l² ‖W_l‖²) / (2σ²); minus KL(q ‖ N(0, I)).
        """
        x, q_loc, q_scale = self.check_points(x), q_loc.double(), q_scale.double()
        residual = x - self.b - q_loc @ self.W.T  # (N, D)
        spread = (q_scale**2 * (self.W**2).sum(0)).sum(-1)  # (N,): Σ_l τ_l² ‖W_l‖²
        dims = self.W.shape[0]
        expected_log_likelihood = (-dims / 2 * math.log(2 * math.pi * self.sigma**2)
                                   - ((residual**2).sum(-1) + spread) / (2 * self.sigma**2))
        prior = Normal(torch.zeros_like(q_loc), torch.ones_like(q_loc))
        return expected_log_likelihood - kl_divergence(Normal(q_loc, q_scale), prior).sum(-1)

    def gap(self, x: Tensor, q_loc: Tensor, q_scale: Tensor) -> Tensor:
        """KL(q ‖ p(z|x)) of a diagonal Gaussian q against the true posterior: ``(N, L)`` each -> ``(N,)``."""
        q = MultivariateNormal(q_loc.double(), scale_tril=torch.diag_embed(q_scale.double()))
        return kl_divergence(q, self.posterior(x))


def fit_ppca(points: Tensor, latent_dim: int = 1) -> PPCA:
    """The maximum-likelihood pPCA of ``points (N, D)`` in closed form (Tipping & Bishop 1999).

    σ² is the mean of the D - L smallest eigenvalues of the data's covariance, and
    W = U (Λ - σ² I)^½ from the L largest (its sign is chosen so that W's first column sums
    to a positive number: z then grows with the data).
    """
    check_positive_int(latent_dim, "latent_dim")
    if points.dim() != 2 or points.shape[1] <= latent_dim or len(points) < 2:
        raise ValueError(f"points must be (N >= 2, D > {latent_dim}), got shape {tuple(points.shape)}")
    points = points.double()
    b = points.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(points.T))  # ascending
    sigma2 = eigenvalues[:-latent_dim].mean()
    top, vectors = eigenvalues[-latent_dim:].flip(0), eigenvectors[:, -latent_dim:].flip(1)  # largest first
    W = vectors * (top - sigma2).clamp_min(0).sqrt()  # (D, L)
    W = W * torch.where(W.sum(0) < 0, -1.0, 1.0).double()
    return PPCA(W=W, b=b, sigma=float(sigma2.sqrt()))


def grey_patches(images: Tensor, n: int, size: int = 2, seed: int = 0) -> Tensor:
    """``n`` grey ``size × size`` patches cut at random places from uint8 images ``(N, 3, H, W)``.

    Returns ``(n, size²)`` float64 in [0, 1]: each row one patch's pixels, row by row. Next
    to each other, pixels of natural (and shapes) images are strongly correlated, so one
    latent number (how bright the patch is) explains most of a patch.
    """
    check_uint8_images(images, "images")
    check_positive_int(n, "n")
    generator = torch.Generator().manual_seed(seed)
    grey = images.double().mean(1) / 255  # (N, H, W)
    which = torch.randint(len(images), (n,), generator=generator)
    top, left = (torch.randint(images.shape[-1] - size + 1, (2, n), generator=generator))
    rows = top[:, None] + torch.arange(size)  # (n, size)
    cols = left[:, None] + torch.arange(size)
    patches = grey[which[:, None, None], rows[:, :, None], cols[:, None, :]]  # (n, size, size)
    return patches.flatten(1)
