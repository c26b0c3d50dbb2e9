"""What a training run measured: per-epoch means of the ELBO and its terms (lesson 3's curves)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

METRICS = ("elbo", "kl", "recon", "bits_per_dim")  # per-epoch means, in nats (bits/dim for the last)


def empty_metrics() -> dict[str, list[float]]:
    return {name: [] for name in METRICS}


@dataclass
class History:
    """Per-epoch means of the ELBO terms (lists indexed by epoch), kept in checkpoints."""

    train: dict[str, list[float]] = field(default_factory=empty_metrics)
    val: dict[str, list[float]] = field(default_factory=empty_metrics)  # empty without val_images
    epoch_seconds: list[float] = field(default_factory=list)  # wall time of each epoch's training
    steps: int = 0  # optimiser steps taken in total
    interrupted: bool = False  # True when the last fit was stopped with Ctrl-C
    # The optimiser fit used (not stored with the history: save_checkpoint stores its state).
    optimizer: object = field(default=None, compare=False, repr=False)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train["elbo"])

    def to_dict(self) -> dict:
        values = asdict(replace(self, optimizer=None))  # plain lists and numbers
        del values["optimizer"]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> History:
        return cls(**values)
