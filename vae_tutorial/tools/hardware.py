"""Tool: what a benchmark reports about the hardware: model FLOPs per image, GPU peaks, device names.

``tools.bench`` uses these to turn images/second into model FLOPs utilisation (MFU)
and to say which device a measurement comes from.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vae_tutorial.elbo import elbo_terms
from vae_tutorial.model import VAE
from vae_tutorial.tools.reference import available_cpus

# Dense bf16 tensor-core peaks (FLOP/s) from NVIDIA's datasheets; first matching name wins.
PEAK_BF16_FLOPS = (
    (r"H100.*PCIe", 756e12),
    (r"H[12]00 NVL", 835e12),
    (r"GH200|H200|H100", 989e12),
    (r"A100", 312e12),
    (r"L40S", 362e12),
    (r"L40\b", 181e12),
    (r"\bL4\b", 121e12),
    (r"\bA10\b", 125e12),
)


def training_flops_per_image(backbone: str, batch_size: int = 2) -> float:
    """FLOPs of one training step (forward + backward) per image, counted by PyTorch.

    ``torch.utils.flop_counter`` counts matrix multiplications and convolutions (2 FLOPs
    per multiply-add), the usual basis of model FLOPs utilisation. The article's ResNet-18
    VAE comes to about 7.8 GFLOP per image. Counted on the "meta" device: shapes only, no arithmetic.
    """
    with torch.device("meta"):
        model = VAE(backbone=backbone)
        x = torch.rand(batch_size, 3, 32, 32)
    with FlopCounterMode(display=False) as counter:
        elbo_terms(model, x).loss.backward()
    return counter.get_total_flops() / batch_size


def peak_bf16_flops(device_name: str) -> float | None:
    """The dense bf16 peak (FLOP/s) of a known NVIDIA GPU, by name; None when unknown."""
    for pattern, flops in PEAK_BF16_FLOPS:
        if re.search(pattern, device_name):
            return flops
    return None


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux) and how many cores this process may use."""
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name} ({available_cpus()} cores)"


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
