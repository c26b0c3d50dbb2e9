"""Published CIFAR-10 test likelihoods, to place our own numbers among them (lessons 2, 3 and 4).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Negative log-likelihood in bits per dimension, lower is better; 8.00 is a model that gives
every one of the 256 values of each sub-pixel the same probability. The numbers are those
collected in the project's notes on the source article (ARTICLE_NOTES.md); each row says what
kind of model it is, because only some of them are comparable with a VAE that has a single
256-dimensional latent code and independent Gaussian pixels, like the article's. The notes'
row "hierarchical ResNet VAE without IAF, 3.44 – 3.74" is left out until it is checked
against the IAF paper's table: no number is quoted here unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One published (or computed) number."""

    model: str
    bits_per_dim: float  # the value used to sort the table (upper end of a range)
    shown: str  # as the paper reports it: "≤ 3.11", "2.92"
    source: str
    kind: str  # what kind of model it is, so that a reader knows what it can be compared with


CIFAR10_BITS_PER_DIM = (
    Result("uniform over 256 values", 8.00, "8.00", "by definition", "baseline: no model at all"),
    Result("independent Gaussian per pixel", 8.05, "≈ 8.05",
           "computed: ½·log₂(2πe·s²) + 8 with s ≈ 0.25 (64 of 256), CIFAR-10's per-channel std",
           "baseline: no correlations between pixels; worse than uniform"),
    Result("multivariate Gaussian (full covariance)", 4.70, "4.70",
           "van den Oord et al., ICML 2016 (PixelRNN paper, CIFAR-10 table)",
           "baseline: one Gaussian over all 3,072 values, with every correlation"),
    Result("Conv DRAW", 3.58, "≤ 3.58", "Gregor et al., NeurIPS 2016",
           "recurrent VAE: a sequence of latents, drawn step by step"),
    Result("IAF-VAE", 3.11, "≤ 3.11", "Kingma et al., NeurIPS 2016",
           "deep hierarchical VAE with flow posteriors"),
    Result("PixelCNN++ (not a VAE)", 2.92, "2.92", "Salimans et al., ICLR 2017",
           "autoregressive: each sub-pixel given the previous ones; no latent code"),
    Result("NVAE", 2.91, "2.91", "Vahdat & Kautz, NeurIPS 2020", "deep hierarchical VAE"),
    Result("Very Deep VAE", 2.87, "2.87", "Child, ICLR 2021", "deep hierarchical VAE"),
)

CAPTION = ("CIFAR-10 test set, negative log-likelihood in bits/dim, lower is better. Comparable with a VAE "
           "that has a single 256-d latent code and independent Gaussian pixels (the article's, and ours): "
           "the three baselines, which it should beat. The VAEs below them have many layers of latents (or, "
           "for Conv DRAW, a sequence of them), and PixelCNN++ models every sub-pixel given the previous "
           "ones: a single-latent VAE is expected well above all of them.")


def bits_per_dim_table(ours: Mapping[str, float], dataset: str = "cifar10") -> str:
    """A markdown table of the published numbers with ``ours`` (name -> bits/dim) in their places.

    The caption (``CAPTION``) comes first and says which rows compare with a single-latent VAE;
    our rows are marked in bold and sorted in with the rest, worst first. When ``dataset``
    is not ``"cifar10"`` the caption also says that our numbers are on another dataset and do
    not compare with the published ones (the uniform baseline still does).
    """
    rows = [(r.bits_per_dim, r.model, r.shown, r.source, r.kind) for r in CIFAR10_BITS_PER_DIM]
    where = "this notebook" if dataset == "cifar10" else f"this notebook, on {dataset}, not CIFAR-10"
    rows += [(value, f"**{name}**", f"**{value:.2f}**", where, "ours") for name, value in ours.items()]
    caption = CAPTION if dataset == "cifar10" else (
        f"{CAPTION} Our numbers are measured on {dataset}, not CIFAR-10: only the uniform row compares.")
    lines = [caption, "", "| model | bits/dim | source | kind of model |", "| --- | ---: | --- | --- |"]
    lines += [f"| {model} | {shown} | {source} | {kind} |" for _, model, shown, source, kind in
              sorted(rows, key=lambda row: -row[0])]
    return "\n".join(lines)
