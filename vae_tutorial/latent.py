"""The latent space of a trained VAE: which dimensions it uses, what they encode, how good it is.

Introduced in lesson 4. Everything here works on the posteriors ``q(z|x)`` of a set of
images (``balance.encode_images``) or on the model's importance weights (``importance_log_weights``):

* which dimensions are used: the KL of each dimension averaged over the data, active units;
* paths through z: linear and spherical interpolation, and where a path sits under the prior;
* what the code means: correlation and mutual information between posterior means and the
  known generative factors of the shapes data, and a 2-D projection of the posterior means;
* how good the model is: the importance-weighted bound for k = 1, 2, 4, ... samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Chi2, Distribution, Normal, kl_divergence

from vae_tutorial.balance import ACTIVE_UNIT_THRESHOLD
from vae_tutorial.checks import check_positive_int
from vae_tutorial.data import check_unit_images
from vae_tutorial.elbo import evaluating, iwae_bound

# How each factor of the shapes data enters a regression (see ``factor_features``).
CIRCULAR_FACTORS = ("hue",)  # hue 0.99 and hue 0.01 are neighbours on the colour wheel
CATEGORICAL_FACTORS = ("shape",)  # an index into SHAPE_NAMES: its order means nothing


# ---------------------------------------------------------------------------------------
# Posteriors of a data set, and which dimensions they use
# ---------------------------------------------------------------------------------------

def kl_per_dimension(q: Normal, prior: Distribution) -> Tensor:
    """KL(q(z_d|x) || p(z_d)) of each dimension d, averaged over the images: ``(latent_dim,)`` nats.

    ``q`` has batch shape ``(N, latent_dim)``; the sum of the result is the mean KL term of
    the ELBO, because a diagonal Normal's KL is the sum of its dimensions' KLs (lesson 1).
    """
    if q.batch_shape.numel() == 0 or len(q.batch_shape) != 2:
        raise ValueError(f"q must have batch shape (N, latent_dim), got {tuple(q.batch_shape)}")
    return kl_divergence(q, prior).mean(dim=0)  # (N, latent_dim) -> (latent_dim,)


def active_units(q_loc: Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> Tensor:
    """Which dimensions are active: ``Var_x(E_q[z_d | x]) > threshold`` (Burda et al. 2016).

    Args:
        q_loc: ``(N, latent_dim)`` posterior means of N >= 2 images.
    Returns:
        ``(latent_dim,)`` booleans. An inactive dimension has the same posterior mean for
        every image, so it tells the decoder nothing about the image.
    """
    if q_loc.dim() != 2 or len(q_loc) < 2:
        raise ValueError(f"q_loc must be (N, latent_dim) posterior means with N >= 2, "
                         f"got shape {tuple(q_loc.shape)}")
    return q_loc.var(dim=0) > threshold


def dimensions_by_use(kl: Tensor) -> Tensor:
    """Dimension indices sorted by their KL, most used first: ``(latent_dim,)`` -> ``(latent_dim,)``."""
    return torch.argsort(kl, descending=True)


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


# ---------------------------------------------------------------------------------------
# Paths through z
# ---------------------------------------------------------------------------------------

def check_endpoints(z0: Tensor, z1: Tensor, steps: int) -> None:
    if z0.dim() != 1 or z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must be two vectors of the same size, "
                         f"got shapes {tuple(z0.shape)} and {tuple(z1.shape)}")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (both ends included), got {steps!r}")


def lerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Linear interpolation ``z0 + t (z1 - z0)``, t evenly spaced in [0, 1]: ``(D,), (D,) -> (steps, D)``."""
    check_endpoints(z0, z1, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]  # (steps, 1)
    return z0 + t * (z1 - z0)


def slerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Spherical interpolation along the great circle from ``z0`` to ``z1``: ``(D,), (D,) -> (steps, D)``.

    ``sin((1-t) w) / sin(w) z0 + sin(t w) / sin(w) z1`` with ``w`` the angle between them
    (Shoemake 1985; White 2016 for generative models). For two vectors of equal norm the
    norm stays constant along the path, where the linear path cuts inside the sphere.
    Parallel vectors (``w`` = 0) give the straight line, the formula's limit.
    """
    check_endpoints(z0, z1, steps)
    norms = z0.norm() * z1.norm()
    if norms == 0:
        raise ValueError("slerp needs two non-zero vectors: the angle to a zero vector is undefined")
    omega = torch.arccos(torch.clamp(z0 @ z1 / norms, -1.0, 1.0))  # angle between z0 and z1
    if torch.sin(omega) < 1e-6:
        if omega > 1.0:
            raise ValueError("z0 and z1 point in opposite directions: no unique great circle joins them")
        return lerp(z0, z1, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]  # (steps, 1)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def prior_norm_quantile(z: Tensor) -> Tensor:
    """Where the norm of each z falls among draws from the prior N(0, I): ``(n, D) -> (n,)`` in [0, 1].

    Under N(0, I) in D dimensions ``||z||^2`` follows a chi-square with D degrees of freedom,
    so almost every draw lies near the sphere of radius sqrt(D). A quantile near 0 means
    "closer to the origin than almost every sample of the prior".
    """
    if z.dim() != 2:
        raise ValueError(f"z must be (n, D), got shape {tuple(z.shape)}")
    return Chi2(torch.tensor(float(z.shape[1]))).cdf(z.pow(2).sum(dim=1))


def prior_norm_band(latent_dim: int, mass: float = 0.99) -> tuple[float, float]:
    """The central ``mass`` of the prior's norms ``||z||``, z ~ N(0, I_latent_dim): ``(low, high)``."""
    check_positive_int(latent_dim, "latent_dim")
    if not 0 < mass < 1:
        raise ValueError(f"mass must be in (0, 1), got {mass!r}")
    tail = (1 - mass) / 2
    return (math.sqrt(chi2_quantile(latent_dim, tail)), math.sqrt(chi2_quantile(latent_dim, 1 - tail)))


def chi2_quantile(dof: int, probability: float) -> float:
    """The ``probability`` quantile of a chi-square with ``dof`` degrees of freedom.

    PyTorch has the chi-square's cdf but not its inverse, so bisect on the cdf.
    """
    chi2 = Chi2(torch.tensor(float(dof), dtype=torch.float64))
    low, high = 0.0, dof + 20.0 * math.sqrt(2.0 * dof) + 20.0  # the cdf is 1 to float precision there
    for _ in range(60):  # 60 halvings: the interval ends far below float precision
        middle = (low + high) / 2
        if chi2.cdf(torch.tensor(middle, dtype=torch.float64)) < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2


# ---------------------------------------------------------------------------------------
# What the code means: scores against known generative factors
# ---------------------------------------------------------------------------------------

def factor_features(factors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Each generative factor as regression inputs ``(N, k)``: what "a function of the factor" means.

    * a circular factor (hue in [0, 1)) -> ``(N, 2)``: cos and sin of its angle, so that
      hue 0.99 sits next to hue 0.01;
    * a categorical factor (shape index) -> ``(N, categories - 1)`` one-hot columns (the
      first category is the intercept's), so the order of the categories does not matter;
    * any other factor -> ``(N, 1)``, the value itself.
    """
    features = {}
    for name, values in factors.items():
        if name in CIRCULAR_FACTORS:
            angle = 2 * math.pi * values.double()
            features[name] = torch.stack([angle.cos(), angle.sin()], dim=1)  # (N, 2)
        elif name in CATEGORICAL_FACTORS:
            one_hot = torch.nn.functional.one_hot(values.long()).double()  # (N, categories)
            features[name] = one_hot[:, 1:]  # (N, categories - 1)
        else:
            features[name] = values.double()[:, None]  # (N, 1)
    return features


def multiple_correlation(features: Tensor, targets: Tensor) -> Tensor:
    """R = sqrt(R^2) of the least-squares fit of each target on ``features`` plus an intercept.

    With one feature this is |Pearson correlation|; with cos/sin of an angle it is the
    circular-linear correlation (Mardia 1976); with one-hot columns the correlation ratio.
    Args:
        features: ``(N, k)``; targets: ``(N, T)``.
    Returns:
        ``(T,)`` in [0, 1]: 1 when the target is an exact function of that form, 0 when the
        best such function is a constant.
    """
    if features.dim() != 2 or targets.dim() != 2 or len(features) != len(targets):
        raise ValueError(f"features (N, k) and targets (N, T) must have the same N, "
                         f"got {tuple(features.shape)} and {tuple(targets.shape)}")
    targets = targets.double()
    design = torch.cat([torch.ones(len(features), 1, dtype=torch.double), features.double()], dim=1)
    solution = torch.linalg.lstsq(design, targets).solution  # (k + 1, T)
    residual = targets - design @ solution  # (N, T)
    total = (targets - targets.mean(dim=0)).pow(2).sum(dim=0)  # (T,)
    r_squared = 1 - residual.pow(2).sum(dim=0) / total.clamp_min(1e-300)
    return r_squared.clamp(0.0, 1.0).sqrt().float()


def factor_correlations(q_loc: Tensor, factors: Mapping[str, Tensor]) -> Tensor:
    """R between each factor and each latent dimension's posterior mean: ``(F, latent_dim)``.

    Rows follow the order of ``factors``; each factor enters as ``factor_features`` says.
    """
    return torch.stack([multiple_correlation(features, q_loc)
                        for features in factor_features(factors).values()])


def ridge_regression(inputs: Tensor, targets: Tensor, ridge: float) -> Callable[[Tensor], Tensor]:
    """Fit targets ``(N, k)`` linearly on inputs ``(N, D)``, with a ridge penalty; returns the predictor.

    The inputs are standardised first, and ``ridge`` is the penalty per image on the squared
    weights: directions in which the standardised inputs vary less than about ``ridge``
    are shrunk away. Posterior means are often nearly collinear (their dimensions are
    linear maps of the same encoder features), and plain least squares would then fit
    noise with huge weights.
    """
    mean, std = inputs.mean(dim=0), inputs.std(dim=0).clamp_min(1e-12)
    standardised = (inputs - mean) / std  # (N, D)
    target_mean = targets.mean(dim=0)  # (k,)
    penalty = ridge * len(inputs) * torch.eye(inputs.shape[1], dtype=inputs.dtype)  # (D, D)
    gram = standardised.T @ standardised + penalty
    weights = torch.linalg.solve(gram, standardised.T @ (targets - target_mean))  # (D, k)
    return lambda new_inputs: ((new_inputs - mean) / std) @ weights + target_mean


def linear_probe(q_loc: Tensor, factors: Mapping[str, Tensor], train_fraction: float = 0.5,
                 ridge: float = 1e-3) -> Tensor:
    """Held-out R^2 of predicting each factor linearly from the whole code: ``(F,)`` in [0, 1].

    Asks whether the information is in the code at all, however it is spread over the
    dimensions. A ridge regression (``ridge_regression``) is fitted on the first
    ``train_fraction`` of the images and scored on the rest: fitted and scored on the same
    images, 256 dimensions would "explain" about 256 / N of the variance of pure noise.
    For a factor with several feature columns (hue, shape) the R^2 pools them:
    1 - residual / variance, both summed over the columns.
    """
    n_train = int(len(q_loc) * train_fraction)
    if not 0 < n_train < len(q_loc):
        raise ValueError(f"train_fraction must leave images on both sides, got {train_fraction!r} "
                         f"of {len(q_loc)} images")
    codes = q_loc.double()
    scores = []
    for features in factor_features(factors).values():
        predict = ridge_regression(codes[:n_train], features[:n_train], ridge)
        residual = features[n_train:] - predict(codes[n_train:])  # (N - n_train, k)
        variance = (features[n_train:] - features[n_train:].mean(dim=0)).pow(2).sum()
        scores.append(1 - residual.pow(2).sum() / variance)
    return torch.stack(scores).clamp_min(0.0).float()  # below 0: worse than predicting the mean


def quantile_bins(values: Tensor, bins: int) -> Tensor:
    """Integer bin of each value, bins holding equal counts: ``(N,)`` -> ``(N,)`` in ``0 .. bins-1``."""
    ranks = torch.argsort(torch.argsort(values))  # 0 .. N-1
    return ranks * bins // len(values)


def discrete_mutual_information(a: Tensor, b: Tensor) -> Tensor:
    """I(a; b) in nats of two integer labellings ``(N,)`` from their joint histogram."""
    a_count, b_count = int(a.max()) + 1, int(b.max()) + 1
    joint = torch.bincount(a * b_count + b, minlength=a_count * b_count).double()
    joint = joint.view(a_count, b_count) / len(a)  # p(a, b)
    independent = joint.sum(dim=1, keepdim=True) * joint.sum(dim=0, keepdim=True)  # p(a) p(b)
    terms = joint * torch.log(joint / independent)
    return terms[joint > 0].sum()


def factor_labels(name: str, values: Tensor, bins: int) -> Tensor:
    """A factor as integer labels: categories as they are, continuous values in equal-count bins.

    Hue needs no special care here: mutual information does not depend on how bins are
    ordered, so the wrap-around of the colour wheel costs nothing.
    """
    return values.long() if name in CATEGORICAL_FACTORS else quantile_bins(values, bins)


def factor_mutual_information(q_loc: Tensor, factors: Mapping[str, Tensor], bins: int = 20) -> Tensor:
    """Normalised mutual information I(z_d; factor) / H(factor): ``(F, latent_dim)`` in [0, 1].

    Posterior means and continuous factors are cut into ``bins`` equal-count bins (as in
    the MIG score of Chen et al. 2018). 1 means that the binned factor can be read off the
    binned dimension exactly. The histogram estimate is biased upwards by about
    ``(bins - 1)^2 / (2 N)`` nats: use N well above ``bins^2``.
    """
    table = torch.zeros(len(factors), q_loc.shape[1])
    codes = [quantile_bins(q_loc[:, d], bins) for d in range(q_loc.shape[1])]
    for row, (name, values) in enumerate(factors.items()):
        labels = factor_labels(name, values, bins)
        entropy = discrete_mutual_information(labels, labels)  # I(f; f) = H(f)
        for d, code in enumerate(codes):
            table[row, d] = discrete_mutual_information(code, labels) / entropy
    return table


def factor_table(names: Sequence[str], dims: Sequence[int], correlation: Tensor, information: Tensor,
                 probe: Tensor) -> str:
    """A markdown table: per factor, the dimension with the highest R, its R and MI, and the probe R^2.

    Args:
        names: the F factor names; dims: the latent dimensions the columns of
        ``correlation`` and ``information`` ``(F, len(dims))`` refer to; probe: ``(F,)``.
    """
    lines = ["| factor | best dimension | R | MI / H | R² from the whole code (held out) |",
             "| --- | --- | ---: | ---: | ---: |"]
    for row, name in enumerate(names):
        best = int(correlation[row].argmax())
        lines.append(f"| {name} | z[{dims[best]}] | {correlation[row, best]:.2f} | "
                     f"{information[row, best]:.2f} | {probe[row]:.2f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# A map of the code: the two directions in which the posterior means vary most
# ---------------------------------------------------------------------------------------

def principal_components(q_loc: Tensor, n_components: int = 2) -> tuple[Tensor, Tensor]:
    """Project posterior means onto their top principal components (PCA by SVD).

    Args:
        q_loc: ``(N, latent_dim)``.
    Returns:
        ``(N, n_components)`` coordinates and ``(n_components,)`` fraction of the total
        variance each component explains.
    """
    if q_loc.dim() != 2 or not 1 <= n_components <= min(q_loc.shape):
        raise ValueError(f"need (N, latent_dim) means and 1 <= n_components <= min(N, latent_dim), "
                         f"got shape {tuple(q_loc.shape)} and n_components={n_components}")
    centred = q_loc - q_loc.mean(dim=0)  # (N, latent_dim)
    _, singular_values, directions = torch.linalg.svd(centred, full_matrices=False)
    explained = singular_values.pow(2) / singular_values.pow(2).sum()  # (min(N, D),)
    return centred @ directions[:n_components].T, explained[:n_components]


# ---------------------------------------------------------------------------------------
# How good is the model: the importance-weighted bound against k
# ---------------------------------------------------------------------------------------

@torch.no_grad()
def importance_log_weights(model: nn.Module, x: Tensor, num_samples: int) -> Tensor:
    """``num_samples`` log importance weights ``log p(x|z) p(z) / q(z|x)``, z ~ q(z|x), in eval mode.

    Each is ``iwae_bound`` with k = 1: a one-sample ELBO. Args: ``x (B, 3, 32, 32)`` in
    [0, 1] (dequantised). Returns ``(num_samples, B)`` in nats.
    """
    check_unit_images(x)
    check_positive_int(num_samples, "num_samples")
    with evaluating(model) as vae:
        return torch.stack([iwae_bound(vae, x, k=1) for _ in range(num_samples)])  # (K, B)


def iwae_from_log_weights(log_w: Tensor, k: int) -> Tensor:
    """The k-sample bound from ``K`` log weights ``(K, B)``, averaged over the K/k disjoint blocks.

    Block j gives ``log (1/k) sum_{i in block j} w_i`` (Burda et al.'s estimator with k
    samples); averaging the K/k blocks uses every sample. Nesting is what makes the curve
    monotone: a block of 2k is two blocks of k, and ``log((A + B) / 2) >= (log A + log B) / 2``
    (the log is concave), so for k dividing m the value at m is never below the value at k.
    Returns ``(B,)`` nats.
    """
    num_samples = log_w.shape[0]
    if not isinstance(k, int) or k < 1 or num_samples % k:
        raise ValueError(f"k must be a positive divisor of the {num_samples} samples, got {k!r}")
    blocks = log_w.view(num_samples // k, k, -1)  # (K/k, k, B)
    return (torch.logsumexp(blocks, dim=1) - math.log(k)).mean(dim=0)  # (B,)


def iwae_curve(log_w: Tensor, ks: Sequence[int]) -> Tensor:
    """Mean over images of the k-sample bound for each k in ``ks``: ``(len(ks),)`` nats per image."""
    return torch.stack([iwae_from_log_weights(log_w, k).mean() for k in ks])
