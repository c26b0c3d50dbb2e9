"""The VAE: encoder -> q(z|x), decoder -> the parameters of p(x|z), a learned scale.

Introduced in lesson 2 (reconstruction) and trained at full size in lesson 3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from vae_tutorial.data import IMAGE_SHAPE, check_image_shape
from vae_tutorial.resnet import ResNet18Decoder, ResNet18Encoder
from vae_tutorial.small import SmallDecoder, SmallEncoder

BACKBONES = {"resnet18": (ResNet18Encoder, ResNet18Decoder), "small": (SmallEncoder, SmallDecoder)}
# Shape of log_scale for each choice of decoder scale (lesson 2 compares them).
LIKELIHOOD_SCALE_SHAPES = {"scalar": (), "channel": (IMAGE_SHAPE[0], 1, 1), "pixel": IMAGE_SHAPE}


@dataclass
class VAEConfig:
    """Everything needed to rebuild a ``VAE`` (stored in checkpoints)."""

    latent_dim: int = 256  # size of z; the article uses 256
    backbone: str = "resnet18"  # "resnet18" (the article, ~20 M parameters) or "small" (CPU)
    likelihood: str = "scalar"  # decoder scale: "scalar" (article), "channel" or "pixel"

    def validate(self) -> None:
        if not isinstance(self.latent_dim, int) or self.latent_dim <= 0:
            raise ValueError(f"latent_dim must be a positive integer, got {self.latent_dim!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {self.backbone!r}")
        if self.likelihood not in LIKELIHOOD_SCALE_SHAPES:
            raise ValueError(f"likelihood must be one of {list(LIKELIHOOD_SCALE_SHAPES)}, "
                             f"got {self.likelihood!r}")


class VAE(nn.Module):
    """A variational autoencoder for ``(3, 32, 32)`` images in ``[0, 1]``.

    * ``encode(x)``: ``(B, 3, 32, 32) -> Normal`` over ``(B, latent_dim)`` (q(z|x)).
    * ``decode(z)``: ``(B, latent_dim) -> x_hat (B, 3, 32, 32)``, the means of p(x|z).
    * ``log_scale``: log standard deviation of p(x|z), learned, initialised at 0.
    * ``prior``: p(z) = N(0, I) over ``latent_dim``.
    """

    def __init__(self, latent_dim: int = 256, backbone: str = "resnet18", likelihood: str = "scalar"):
        super().__init__()
        self.config = VAEConfig(latent_dim, backbone, likelihood)
        self.config.validate()
        encoder_class, decoder_class = BACKBONES[backbone]
        self.encoder = encoder_class()
        self.fc_mu = nn.Linear(encoder_class.feature_dim, latent_dim)
        self.fc_var = nn.Linear(encoder_class.feature_dim, latent_dim)  # predicts log variance
        self.decoder = decoder_class(latent_dim)
        self.log_scale = nn.Parameter(torch.zeros(LIKELIHOOD_SCALE_SHAPES[likelihood]))
        # The prior's parameters are buffers so that they follow the model between devices.
        self.register_buffer("prior_loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("prior_scale", torch.ones(latent_dim), persistent=False)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def prior(self) -> Normal:
        """p(z) = N(0, I), batch shape ``(latent_dim,)``; broadcasts against ``(B, latent_dim)``."""
        return Normal(self.prior_loc, self.prior_scale, validate_args=False)

    def encode(self, x: Tensor) -> Normal:
        """q(z|x): ``(B, 3, 32, 32)`` in ``[0, 1]`` -> Normal with batch shape ``(B, latent_dim)``."""
        check_image_shape(x, "x")
        h = self.encoder(x)  # (B, feature_dim)
        mu = self.fc_mu(h).float()  # (B, latent_dim)
        log_var = self.fc_var(h).float()  # (B, latent_dim)
        # validate_args=False: no per-call checks (they sync the GPU); NaN is caught in fit instead.
        return Normal(mu, torch.exp(log_var / 2), validate_args=False)  # std = exp(log_var / 2)

    def decode(self, z: Tensor) -> Tensor:
        """``z (B, latent_dim) -> x_hat (B, 3, 32, 32)``: parameters of p(x|z), not an image."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: Tensor) -> tuple[Normal, Tensor, Tensor]:
        """``x (B, 3, 32, 32) -> (q, z, x_hat)`` with ``z = q.rsample()`` (reparameterised)."""
        q = self.encode(x)
        z = q.rsample()  # (B, latent_dim), differentiable with respect to q's parameters
        return q, z, self.decode(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` images: ``z ~ N(0, I)``, decoded; returns ``(n, 3, 32, 32)`` in ``[0, 1]``.

        Shows the mean of p(x|z) (clamped to the pixel range) for each z. The article's
        sampler used a scale of 0 and so decoded z = 0 n times.
        """
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        device = self.prior_loc.device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)  # (n, latent_dim)
        return self.decode(z).float().clamp(0.0, 1.0)

    def config_dict(self) -> dict:
        """The constructor arguments as a plain dict (what checkpoints store)."""
        return asdict(self.config)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
