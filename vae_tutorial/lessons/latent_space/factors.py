"""What the code means, scored against the shapes' known factors (lesson 4).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Correlation and mutual information between posterior means and the generative factors of
the shapes data, a linear probe from the whole code, and a 2-D projection of the means.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

# How each factor of the shapes data enters a regression (see ``factor_features``).
CIRCULAR_FACTORS = ("hue",)  # hue 0.99 and hue 0.01 are neighbours on the colour wheel
CATEGORICAL_FACTORS = ("shape",)  # an index into SHAPE_NAMES: its order means nothing


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


def label_probe(q_loc: Tensor, labels: Tensor, train_fraction: float = 0.5,
                ridge: float = 1e-3) -> tuple[float, float]:
    """Held-out accuracy of a linear classifier from the code to class labels, and chance's.

    What CIFAR-10 has instead of known factors: its labels. A ridge regression onto one-hot
    labels (``ridge_regression``), fitted on the first ``train_fraction`` of the images, predicts
    the class with the largest output on the rest. Chance is the accuracy, on the same held-out
    images, of always answering the most frequent class of the training part.
    Args: ``q_loc (N, latent_dim)``, ``labels (N,)`` integers. Returns ``(accuracy, chance)``.
    """
    n_train = int(len(q_loc) * train_fraction)
    if labels.shape != (len(q_loc),) or not 0 < n_train < len(q_loc):
        raise ValueError(f"need (N, latent_dim) codes, (N,) labels and images on both sides of the "
                         f"split, got shapes {tuple(q_loc.shape)} and {tuple(labels.shape)}, "
                         f"train_fraction {train_fraction!r}")
    labels = labels.long()
    one_hot = torch.nn.functional.one_hot(labels).double()  # (N, classes)
    predict = ridge_regression(q_loc[:n_train].double(), one_hot[:n_train], ridge)
    guesses = predict(q_loc[n_train:].double()).argmax(dim=1)  # (N - n_train,)
    accuracy = (guesses == labels[n_train:]).double().mean().item()
    most_frequent = torch.bincount(labels[:n_train]).argmax()
    return accuracy, (labels[n_train:] == most_frequent).double().mean().item()



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


