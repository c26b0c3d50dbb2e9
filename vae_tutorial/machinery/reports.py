"""What a run tells the learner when something is off: an optimiser that belongs to another model, and
what a NaN or infinite loss left behind; and the line printed after each epoch."""

from __future__ import annotations

import torch
from torch import nn

from vae_tutorial.history import History


def check_optimizer_of(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """Raise ``ValueError`` unless ``optimizer`` updates ``model``'s parameters and no others."""
    own = {id(p) for p in model.parameters()}
    foreign = sum(id(p) not in own for group in optimizer.param_groups for p in group["params"])
    if foreign or not optimizer.param_groups:
        raise ValueError(f"the optimizer does not update this model: {foreign} of its parameters belong to "
                         "another model; make one with make_optimizer(model, config), or let fit make it")


def non_finite_advice(vae: nn.Module, lr: float, scale_lr: float) -> str:
    """What a NaN or infinite loss leaves behind: are the model's parameters still finite?"""
    bad = [name for name, p in vae.named_parameters() if not torch.isfinite(p).all()]
    if not bad:
        return ("The step was not applied: the parameters are finite (the last step's), but they give this "
                "batch a non-finite loss, and may again. Try a smaller lr")
    return (f"The step was not applied, but the parameters are already NaN or infinite ({', '.join(bad[:3])}"
            f"{', ...' * (len(bad) > 3)}): an earlier step went wrong (lr {lr:g}, scale_lr {scale_lr:g} "
            f"too large?). Reload the last checkpoint and use a smaller lr")


def epoch_summary(history: History) -> str:
    """One line: epoch, train ELBO/KL/recon and bits/dim, and validation when present."""
    e = history.epochs - 1
    t = history.train
    line = (f"epoch {e + 1}: elbo {t['elbo'][e]:.1f}  kl {t['kl'][e]:.1f}  "
            f"recon {t['recon'][e]:.1f}  bits/dim {t['bits_per_dim'][e]:.3f}  "
            f"({history.epoch_seconds[e]:.1f} s)")
    if len(history.val["elbo"]) > e:
        line += f"  | val elbo {history.val['elbo'][e]:.1f}  bits/dim {history.val['bits_per_dim'][e]:.3f}"
    return line
