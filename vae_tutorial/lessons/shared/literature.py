"""Published CIFAR-10 test likelihoods, to place our own numbers among them (lessons 3 and 4).

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Negative log-likelihood in bits per dimension, lower is better; 8.00 is a model that gives
every one of the 256 values of each sub-pixel the same probability. The numbers are
those collected in the project's notes on the source article (ARTICLE_NOTES.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One published number."""

    model: str
    bits_per_dim: float  # the value used to sort the table (upper end of a range)
    shown: str  # as the paper reports it: "≤ 3.11", "3.44 – 3.74"
    source: str


CIFAR10_BITS_PER_DIM = (
    Result("uniform over 256 values", 8.00, "8.00", "by definition"),
    Result("factorised Gaussian over pixels", 4.70, "≈ 4.70", "classic baseline"),
    Result("ResNet VAE, factorised Gaussian posterior", 3.74, "3.44 – 3.74",
           "Kingma et al., NeurIPS 2016 (IAF paper, Table 4)"),
    Result("Conv DRAW", 3.58, "≤ 3.58", "Gregor et al., NeurIPS 2016"),
    Result("IAF-VAE", 3.11, "≤ 3.11", "Kingma et al., NeurIPS 2016"),
    Result("PixelCNN++ (not a VAE)", 2.92, "2.92", "Salimans et al., ICLR 2017"),
    Result("NVAE", 2.91, "2.91", "Vahdat & Kautz, NeurIPS 2020"),
    Result("Very Deep VAE", 2.87, "2.87", "Child, ICLR 2021"),
)


def bits_per_dim_table(ours: Mapping[str, float], dataset: str = "cifar10") -> str:
    """A markdown table of the published numbers with ``ours`` (name -> bits/dim) in their places.

    Our rows are marked in bold and sorted in with the rest, worst first. When ``dataset``
    is not ``"cifar10"`` the caption says that our numbers are on another dataset and do
    not compare with the published ones (the uniform baseline still does).
    """
    rows = [(r.bits_per_dim, r.model, r.shown, r.source) for r in CIFAR10_BITS_PER_DIM]
    where = "this notebook" if dataset == "cifar10" else f"this notebook, on {dataset}, not CIFAR-10"
    rows += [(value, f"**{name}**", f"**{value:.2f}**", where) for name, value in ours.items()]
    lines = ["| model | bits/dim | source |", "| --- | ---: | --- |"]
    lines += [f"| {model} | {shown} | {source} |" for _, model, shown, source in
              sorted(rows, key=lambda row: -row[0])]
    return "\n".join(lines)
