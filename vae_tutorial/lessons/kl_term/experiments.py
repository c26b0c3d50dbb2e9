"""Experiments on the KL term, the machinery behind lesson 1's widgets and measurements.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

* ``mc_estimate``: a Monte-Carlo average and its standard error.
* ``QDescent``: gradient descent on the Monte-Carlo KL that moves q = N(mu, sigma) onto p.
* ``kl_numerical``: KL(q || p) of two 1-D distributions by a numerical integral, for the
  pairs (Student-t, Normal ...) that have no closed form.
* ``batch_size_study``: bias and spread of the batch-mean Monte-Carlo KL and of its
  gradient, against batch size.

The lines that teach (draw z from q, ``kl_monte_carlo``) are written out in the notebook;
this module repeats them at scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, Normal

from vae_tutorial.checks import check_positive_int, check_positive_number, is_integer, is_real
from vae_tutorial.elbo import kl_analytic, kl_monte_carlo


def mc_estimate(log_ratio: Tensor) -> tuple[float, float]:
    """Mean of per-sample terms ``(n,)`` and its standard error ``std / sqrt(n)`` (lesson 1).

    With one sample the spread cannot be measured: the standard error is ``nan``.
    """
    if log_ratio.dim() != 1 or len(log_ratio) == 0:
        raise ValueError(f"log_ratio must be a non-empty 1-D tensor, got shape {tuple(log_ratio.shape)}")
    n = len(log_ratio)
    standard_error = log_ratio.std().item() / math.sqrt(n) if n > 1 else math.nan
    return log_ratio.mean().item(), standard_error


# --- Moving q toward p ---


@dataclass(frozen=True)
class DescentSettings:
    """One run of gradient descent on the Monte-Carlo KL(q || p), q = N(loc, scale)."""

    loc: float = 3.0  # q's starting mean
    scale: float = 0.25  # q's starting standard deviation
    lr: float = 0.05  # learning rate of plain gradient descent on (mean, log std)
    samples_per_step: int = 16  # z ~ q drawn at each step for the Monte-Carlo KL
    seed: int = 0  # seed of the noise: same settings and seed, same trajectory
    p_loc: float = 0.0  # p's mean (the prior N(0, 1) by default)
    p_scale: float = 1.0  # p's standard deviation

    def validate(self) -> None:
        if not is_real(self.loc):
            raise ValueError(f"loc must be a finite number, got {self.loc!r}")
        for name in ("scale", "lr", "p_scale"):
            check_positive_number(getattr(self, name), name)
        check_positive_int(self.samples_per_step, "samples_per_step")


# q has left the picture: |mean| or |log std| beyond these counts as diverged.
DIVERGED_LOC = 1e3
DIVERGED_LOG_SCALE = 20.0


class QDescent:
    """Gradient descent on the Monte-Carlo KL(q || p) with reparameterised samples (lesson 1).

    q = N(loc, exp(log_scale)); each step draws ``eps ~ N(0, 1)``, sets
    ``z = loc + scale * eps`` (so z depends on q's parameters), averages
    ``kl_monte_carlo(z, q, p)`` and steps both parameters against its gradient.
    Stepping in log std keeps the standard deviation positive.

    Attributes (one entry per visited q, index 0 = the start):
        locs, scales: q's parameters; mc_kls: the Monte-Carlo KL measured at each step
        (one fewer entry); exact_kls: the closed-form KL at each q; diverged_at: the step
        at which q flew off (None while it has not).
    """

    def __init__(self, settings: DescentSettings | None = None):
        self.settings = settings or DescentSettings()
        self.settings.validate()
        self.p = Normal(float(self.settings.p_loc), float(self.settings.p_scale))
        self.generator = torch.Generator().manual_seed(self.settings.seed)
        self.locs = [float(self.settings.loc)]
        self.scales = [float(self.settings.scale)]
        self.mc_kls: list[float] = []
        self.exact_kls = [self.exact_kl(self.locs[0], self.scales[0])]
        self.diverged_at: int | None = None

    @property
    def steps(self) -> int:
        """Number of steps taken so far."""
        return len(self.locs) - 1

    def exact_kl(self, loc: float, scale: float) -> float:
        return kl_analytic(Normal(loc, scale), self.p).item()

    def gradient(self) -> tuple[float, float, float]:
        """Monte-Carlo KL at the current q and its gradient w.r.t. (loc, log_scale)."""
        loc = torch.tensor(self.locs[-1], requires_grad=True)
        log_scale = torch.tensor(math.log(self.scales[-1]), requires_grad=True)
        eps = torch.randn(self.settings.samples_per_step, generator=self.generator)  # (n,)
        z = loc + log_scale.exp() * eps  # (n,) reparameterised: z ~ q, differentiable in loc, log_scale
        kl = kl_monte_carlo(z, Normal(loc, log_scale.exp()), self.p).mean()  # scalar
        grad_loc, grad_log_scale = torch.autograd.grad(kl, (loc, log_scale))
        return kl.item(), grad_loc.item(), grad_log_scale.item()

    def step(self) -> bool:
        """One gradient step. Returns False (and does nothing) once q has diverged."""
        if self.diverged_at is not None:
            return False
        kl, grad_loc, grad_log_scale = self.gradient()
        loc = self.locs[-1] - self.settings.lr * grad_loc
        log_scale = math.log(self.scales[-1]) - self.settings.lr * grad_log_scale
        if not (abs(loc) < DIVERGED_LOC and abs(log_scale) < DIVERGED_LOG_SCALE):  # also catches nan
            self.diverged_at = self.steps + 1
            return False
        self.mc_kls.append(kl)
        self.locs.append(loc)
        self.scales.append(math.exp(log_scale))
        self.exact_kls.append(self.exact_kl(loc, self.scales[-1]))
        return True

    def run_until(self, steps: int) -> QDescent:
        """Step until ``steps`` steps are done (or q diverges); returns self."""
        while self.steps < steps and self.step():
            pass
        return self


# --- KL without a closed form ---


def kl_numerical(q: Distribution, p: Distribution, lower: float, upper: float,
                 points: int = 200_001) -> float:
    """KL(q || p) = integral of q(z) (log q(z) - log p(z)) dz over [lower, upper] (lesson 1).

    Trapezoid rule in float64 on ``points`` evenly spaced z. ``q`` and ``p`` are 1-D
    (scalar batch shape); choose the interval wide enough that q's mass outside it is
    negligible (the integrand must vanish at both ends).
    """
    for name, distribution in (("q", q), ("p", p)):
        if not isinstance(distribution, Distribution) or distribution.batch_shape != torch.Size():
            raise ValueError(f"{name} must be a 1-D torch distribution (scalar parameters), "
                             f"got {distribution!r}")
    if not lower < upper:
        raise ValueError(f"need lower < upper, got [{lower}, {upper}]")
    check_positive_int(points, "points")
    z = torch.linspace(lower, upper, points, dtype=torch.float64)  # (points,)
    log_q, log_p = q.log_prob(z).double(), p.log_prob(z).double()  # (points,)
    integrand = torch.exp(log_q) * (log_q - log_p)  # (points,), 0 where q underflows
    return torch.trapezoid(integrand, z).item()


# --- How accurate is the one-sample estimate? ---


def example_posterior(latent_dim: int = 256, seed: int = 0) -> Normal:
    """A q(z|x) shaped like an encoder's output: means ~ N(0, 1), stds in [0.14, 1] (lesson 1).

    Returns a Normal with batch shape ``(latent_dim,)``.
    """
    check_positive_int(latent_dim, "latent_dim")
    # Offset seed: q's parameters must not repeat the noise that a small seed gives z (the
    # same stream would make eps equal to q's means, a badly non-random sample).
    generator = torch.Generator().manual_seed(1_000_003 + seed)
    loc = torch.randn(latent_dim, generator=generator)  # (latent_dim,)
    scale = torch.exp(-2.0 * torch.rand(latent_dim, generator=generator))  # (latent_dim,)
    return Normal(loc, scale)


def batch_mean_kl_and_gradients(q: Normal, p: Distribution, batch_size: int, repeats: int,
                                generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``repeats`` independent batch-mean Monte-Carlo KLs of q over ``latent_dim`` and their gradients.

    Each repeat draws ``batch_size`` samples ``z ~ q`` (one per "example", as in a VAE's
    batch), averages ``kl_monte_carlo`` over them and differentiates the average with
    respect to q's (loc, log scale).
    Returns: estimates ``(repeats,)`` and gradients ``(repeats, 2 * latent_dim)``.
    """
    latent_dim = q.loc.shape[-1]
    # One copy of q's parameters per repeat, so that each repeat gets its own gradient.
    locs = q.loc.detach().repeat(repeats, 1, 1).requires_grad_()  # (R, 1, D)
    log_scales = q.scale.detach().log().repeat(repeats, 1, 1).requires_grad_()  # (R, 1, D)
    scales = log_scales.exp()  # (R, 1, D)
    eps = torch.randn(repeats, batch_size, latent_dim, generator=generator)  # (R, B, D)
    z = locs + scales * eps  # (R, B, D) reparameterised: z ~ q, differentiable in q's parameters
    # kl_monte_carlo sums over every non-batch dimension, here B and D: dividing by B gives
    # the batch mean of the per-example KL estimates.
    estimates = kl_monte_carlo(z, Normal(locs, scales, validate_args=False), p) / batch_size  # (R,)
    grad_loc, grad_log_scale = torch.autograd.grad(estimates.sum(), (locs, log_scales))  # (R, 1, D) each
    grad_loc, grad_log_scale = grad_loc.squeeze(1), grad_log_scale.squeeze(1)  # (R, D) each
    return estimates.detach(), torch.cat([grad_loc, grad_log_scale], dim=1)  # (R,), (R, 2D)


def analytic_kl_and_gradient(q: Normal, p: Distribution) -> tuple[float, Tensor]:
    """Closed-form KL(q || p) summed over q's dimensions, and its gradient ``(2 * latent_dim,)``."""
    loc = q.loc.detach().clone().requires_grad_()
    log_scale = q.scale.detach().log().requires_grad_()
    kl = kl_analytic(Normal(loc, log_scale.exp()), p).sum()
    grad_loc, grad_log_scale = torch.autograd.grad(kl, (loc, log_scale))
    return kl.item(), torch.cat([grad_loc, grad_log_scale])


@dataclass
class BatchStudy:
    """Bias and spread of the batch-mean Monte-Carlo KL and its gradient, per batch size.

    Every list has one entry per batch size. KL numbers are in nats; gradient numbers
    are relative to the norm of the exact gradient, except ``grad_std`` (per coordinate).
    """

    batch_sizes: list[int]
    repeats: int  # independent batches per batch size
    analytic_kl: float  # the closed-form KL (what the estimate should average to)
    analytic_grad_norm: float  # norm of the closed-form gradient
    kl_bias: list[float]  # mean estimate - analytic KL
    kl_bias_error: list[float]  # standard error of that mean: |bias| within ~3 of these = unbiased
    kl_std: list[float]  # spread (std) of the estimate over repeats
    grad_std: list[float]  # spread of the gradient: root mean square over coordinates of its std
    grad_bias: list[float]  # |mean gradient - exact gradient| / |exact gradient|
    grad_error: list[float]  # typical |gradient - exact gradient| / |exact gradient| of one batch

    def table(self) -> str:
        """The measurements as a text table."""
        lines = [f"{'batch':>6} {'KL bias':>9} {'± s.e.':>8} {'KL std':>8} {'rel. std':>9} "
                 f"{'grad std':>9} {'grad rel. err':>13}"]
        for i, batch_size in enumerate(self.batch_sizes):
            lines.append(f"{batch_size:>6} {self.kl_bias[i]:>9.4f} {self.kl_bias_error[i]:>8.4f} "
                         f"{self.kl_std[i]:>8.4f} {self.kl_std[i] / self.analytic_kl:>9.2%} "
                         f"{self.grad_std[i]:>9.4f} {self.grad_error[i]:>13.2%}")
        return "\n".join(lines)


def log_log_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x: -0.5 means y is proportional to 1 / sqrt(x)."""
    log_x, log_y = torch.tensor(x, dtype=torch.float64).log(), torch.tensor(y, dtype=torch.float64).log()
    log_x = log_x - log_x.mean()
    return ((log_x * (log_y - log_y.mean())).sum() / (log_x * log_x).sum()).item()


def measure_batch_size(q: Normal, p: Distribution, batch_size: int, repeats: int,
                       generator: torch.Generator, exact_grad: Tensor) -> dict[str, float]:
    """The numbers of one row of ``BatchStudy``."""
    chunk = max(1, 2**11 // batch_size)  # repeats per call: small tensors stay in the CPU's cache
    parts = [batch_mean_kl_and_gradients(q, p, batch_size, min(chunk, repeats - start), generator)
             for start in range(0, repeats, chunk)]
    estimates = torch.cat([e for e, _ in parts])  # (R,)
    grads = torch.cat([g for _, g in parts])  # (R, 2D)
    norm = exact_grad.norm()
    return {"mean": estimates.mean().item(), "std": estimates.std().item(),
            "grad_std": grads.std(dim=0).pow(2).mean().sqrt().item(),
            "grad_bias": ((grads.mean(0) - exact_grad).norm() / norm).item(),
            "grad_error": ((grads - exact_grad).norm(dim=1).mean() / norm).item()}


def batch_size_study(q: Normal, p: Distribution, batch_sizes: Sequence[int], repeats: int,
                     seed: int = 0) -> BatchStudy:
    """Measure the batch-mean one-sample-per-example MC KL against the closed form (lesson 1).

    Args:
        q: Normal with batch shape ``(latent_dim,)``, shared by every example of a batch
            (its parameters stand for the encoder's shared weights).
        p: the prior, broadcasting against ``(B, latent_dim)``.
        batch_sizes: e.g. ``[1, 2, 4, ..., 1024]``.
        repeats: independent batches per batch size (at least 2).
    """
    if not isinstance(q, Normal) or q.loc.dim() != 1:
        raise ValueError(f"q must be a Normal with batch shape (latent_dim,), got {q!r}")
    if not is_integer(repeats) or repeats < 2:
        raise ValueError(f"repeats must be an integer of at least 2, got {repeats!r}")
    for batch_size in batch_sizes:
        check_positive_int(batch_size, "batch size")
    analytic, exact_grad = analytic_kl_and_gradient(q, p)
    generator = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: handing work between threads costs more than it saves
    try:
        rows = [measure_batch_size(q, p, b, repeats, generator, exact_grad) for b in batch_sizes]
    finally:
        torch.set_num_threads(threads)
    return BatchStudy(
        batch_sizes=list(batch_sizes), repeats=repeats, analytic_kl=analytic,
        analytic_grad_norm=exact_grad.norm().item(),
        kl_bias=[row["mean"] - analytic for row in rows],
        kl_bias_error=[row["std"] / math.sqrt(repeats) for row in rows],
        kl_std=[row["std"] for row in rows], grad_std=[row["grad_std"] for row in rows],
        grad_bias=[row["grad_bias"] for row in rows], grad_error=[row["grad_error"] for row in rows])
