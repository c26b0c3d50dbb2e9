"""Images: CIFAR-10, the offline ``shapes`` dataset, and batching (every lesson).

Images are stored as ``uint8 (N, 3, 32, 32)`` (150 MB for CIFAR-10's training set) and turned
into ``float32`` in ``[0, 1)`` one batch at a time, on the device that trains.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from vae_tutorial.checks import check_positive_int
from vae_tutorial.machinery.files import cifar10_error
from vae_tutorial.machinery.tensor_checks import check_uint8_images

SHAPE_NAMES = ("square", "circle", "triangle")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
# lightning-bolts' cifar10_normalization(), which the article's data module applies: per-channel
# mean and std of CIFAR-10 in [0, 1] units. We do not normalise (lesson 2 says why).
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


# --- uint8 -> float ---

def to_unit_interval(images: Tensor, dequantize: bool = True,
                     generator: torch.Generator | None = None) -> Tensor:
    """``uint8 (B, 3, 32, 32)`` -> ``float32`` in ``[0, 1)``.

    With ``dequantize`` each value ``v`` becomes ``(v + u) / 256``, ``u ~ U[0, 1)``: a
    continuous density on these values lower-bounds the probability of the 8-bit image,
    so bits/dim are valid (Theis et al. 2016). Without it, the centre ``(v + 0.5) / 256``.
    """
    check_uint8_images(images)
    x = images.float()
    if dequantize:
        noise = torch.rand(x.shape, device=x.device, generator=generator)
        return (x + noise.clamp_(max=1 - 2**-16)) / 256.0  # in float32 v + u must stay below v + 1
    return (x + 0.5) / 256.0


def batches(images: Tensor, batch_size: int, shuffle: bool = True, dequantize: bool = True,
            generator: torch.Generator | None = None) -> Iterator[Tensor]:
    """Yield float batches ``(b, 3, 32, 32)`` from ``uint8`` images already on the device.

    The images stay where they are (put them on the GPU once); only indices and one
    batch at a time are made, so there is no ``DataLoader`` and no host-device copy.
    The last batch may be smaller.
    """
    check_uint8_images(images)
    check_positive_int(batch_size, "batch_size")
    n = images.shape[0]
    if shuffle:
        order = torch.randperm(n, generator=generator).to(images.device)
    else:
        order = torch.arange(n, device=images.device)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield to_unit_interval(images[index], dequantize)


def num_batches(n: int, batch_size: int) -> int:
    """How many batches ``batches`` yields for ``n`` images."""
    return math.ceil(n / batch_size)


# --- The shapes dataset: known generative factors, offline, deterministic ---

def hue_to_rgb(hue: Tensor) -> Tensor:
    """Fully saturated, full-value colours: ``hue (N,)`` in ``[0, 1)`` -> ``(N, 3)`` in ``[0, 1]``."""
    offsets = torch.tensor([5.0, 3.0, 1.0])  # HSV -> RGB, for channels R, G, B
    k = (offsets + hue[:, None] * 6.0) % 6.0  # (N, 3)
    return 1.0 - torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def sample_shape_factors(n: int, generator: torch.Generator) -> dict[str, Tensor]:
    """Draw the generative factors of ``n`` shapes images (each a ``(n,)`` tensor)."""
    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    return {
        "shape": torch.randint(len(SHAPE_NAMES), (n,), generator=generator),  # index into SHAPE_NAMES
        "x": uniform(10.0, 22.0),  # centre column, pixels
        "y": uniform(10.0, 22.0),  # centre row, pixels
        "size": uniform(4.0, 9.0),  # half-width, pixels
        "hue": torch.rand(n, generator=generator),  # shape colour, [0, 1)
        "background": uniform(0.0, 0.6),  # grey level of the background
    }


def render_shapes(factors: dict[str, Tensor]) -> Tensor:
    """Draw images from factors: ``(n,)`` tensors -> ``uint8 (n, 3, 32, 32)``."""
    coords = torch.arange(32, dtype=torch.float32) + 0.5  # pixel centres
    dy = coords[None, :, None] - factors["y"][:, None, None]  # (n, 32, 1)
    dx = coords[None, None, :] - factors["x"][:, None, None]  # (n, 1, 32)
    size = factors["size"][:, None, None]  # (n, 1, 1)
    square = (dx.abs() <= size) & (dy.abs() <= size)  # (n, 32, 32)
    circle = dx**2 + dy**2 <= size**2
    # Apex up: the half-width grows from 0 at the top (dy = -size) to size at the bottom.
    triangle = (dy.abs() <= size) & (dx.abs() <= (dy + size) / 2)
    shape = factors["shape"][:, None, None]
    mask = torch.where(shape == 0, square, torch.where(shape == 1, circle, triangle))
    colour = hue_to_rgb(factors["hue"])[:, :, None, None]  # (n, 3, 1, 1)
    background = factors["background"][:, None, None, None].expand(-1, 3, 1, 1)
    pixels = torch.where(mask[:, None], colour, background)  # (n, 3, 32, 32)
    return (pixels * 255.0).round().to(torch.uint8)


def shapes_dataset(n: int, seed: int = 0, chunk_size: int = 10_000) -> tuple[Tensor, dict[str, Tensor]]:
    """Coloured shapes on grey backgrounds, with their generative factors (every lesson).

    Offline and deterministic: the same ``(n, seed)`` always gives the same images.

    Returns:
        images: ``uint8 (n, 3, 32, 32)``.
        factors: dict of ``(n,)`` tensors: ``shape`` (index into ``SHAPE_NAMES``), ``x``,
            ``y``, ``size`` (pixels), ``hue`` (``[0, 1)``), ``background`` (grey level).
    """
    check_positive_int(n, "n (the number of images)")
    generator = torch.Generator().manual_seed(seed)
    factors = sample_shape_factors(n, generator)
    # Rendering in chunks keeps the (chunk, 32, 32) float masks small.
    images = torch.cat([
        render_shapes({name: values[start:start + chunk_size] for name, values in factors.items()})
        for start in range(0, n, chunk_size)
    ])
    return images, factors


# --- CIFAR-10 ---

def load_cifar10(root: str | Path = "data", train: bool = True, download: bool = True,
                 hint: str = "dataset='shapes'") -> tuple[Tensor, Tensor]:
    """CIFAR-10 through ``torchvision.datasets.CIFAR10`` (lesson 3): the 50,000 training images
    (else the 10,000 test images) under ``root/cifar-10-batches-py``, downloaded when missing and
    ``download``; ``uint8 (N, 3, 32, 32)`` images and ``int64 (N,)`` labels (``CIFAR10_CLASSES``).
    Raises ``FileNotFoundError`` saying what is missing or damaged and what to do (``hint``: how
    the caller asks for the shapes data instead).
    """
    from torchvision.datasets import CIFAR10  # imported here: only lesson 3 needs torchvision

    root = Path(root).expanduser()
    try:
        dataset = CIFAR10(str(root), train=train, download=download)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as error:
        raise FileNotFoundError(cifar10_error(root, download, error, hint)) from error  # missing or damaged
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
    labels = torch.tensor(dataset.targets, dtype=torch.int64)
    return images, labels
