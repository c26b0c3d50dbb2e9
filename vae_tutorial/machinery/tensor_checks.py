"""Checks of a learner's tensors: a wrong one gets an error that says what was expected and what came in."""

from __future__ import annotations

import torch
from torch import Tensor

IMAGE_SHAPE = (3, 32, 32)  # (C, H, W) of CIFAR-10 and of the shapes dataset


def check_image_shape(x: Tensor, what: str = "images") -> None:
    """Raise ``TypeError``/``ValueError`` unless ``x`` is a tensor of shape ``(N, 3, 32, 32)``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape (N, 3, 32, 32), got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE or len(x) == 0:
        raise ValueError(f"{what} must have shape (N, 3, 32, 32) with N >= 1 (colour 32x32 images), got "
                         f"{tuple(x.shape)}")


def check_uint8_images(images: Tensor, what: str = "images") -> None:
    """Stored images: ``uint8`` of shape ``(N, 3, 32, 32)``."""
    check_image_shape(images, what)
    if images.dtype != torch.uint8:
        raise TypeError(f"{what} must be stored as torch.uint8 values 0..255, got {images.dtype}")


def check_unit_images(x: Tensor, what: str = "x", dtype: torch.dtype | None = None) -> None:
    """Model input: floating point ``(B, 3, 32, 32)`` (of ``dtype``, the model's), finite, in ``[0, 1]``."""
    check_image_shape(x, what)
    if not x.is_floating_point():
        raise TypeError(f"{what} must be floating point in [0, 1], got {x.dtype}; "
                        "convert uint8 images with vae_tutorial.to_unit_interval")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{what} is {x.dtype} but the model's parameters are {dtype}: convert one to the "
                        f"other ({what}.to({dtype}), or model.to({x.dtype}))")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    low, high = x.min().item(), x.max().item()
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{what} must lie in [0, 1], got values in [{low:.3g}, {high:.3g}] "
                         "(normalised with a mean and std? The likelihood needs raw [0, 1] pixels)")


def check_same_shape(x_hat: Tensor, x: Tensor) -> None:
    """A decoder's output must match the images it is compared with: ``(B, 3, 32, 32)`` both."""
    check_image_shape(x_hat, "x_hat")
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat and x must have the same shape, got {tuple(x_hat.shape)}, {tuple(x.shape)}")
