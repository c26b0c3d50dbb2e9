"""A small convolutional encoder and decoder that train fast on a laptop CPU.

Used by the quick lessons: three stride-2 convolutions down to ``(128, 4, 4)`` and three
transposed convolutions back up. No batch norm, so an image's posterior does not depend
on the other images in its batch.
"""

from __future__ import annotations

from torch import Tensor, nn

WIDTHS = (32, 64, 128)  # channels at 16x16, 8x8 and 4x4


class SmallEncoder(nn.Module):
    """``(B, 3, 32, 32) -> (B, 256)`` features."""

    feature_dim = 256

    def __init__(self):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(3, WIDTHS[0], 4, stride=2, padding=1), nn.SiLU(),  # (B, 32, 16, 16)
            nn.Conv2d(WIDTHS[0], WIDTHS[1], 4, stride=2, padding=1), nn.SiLU(),  # (B, 64, 8, 8)
            nn.Conv2d(WIDTHS[1], WIDTHS[2], 4, stride=2, padding=1), nn.SiLU(),  # (B, 128, 4, 4)
        )
        self.linear = nn.Linear(WIDTHS[2] * 4 * 4, self.feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.convs(x).flatten(1)  # (B, 2048)
        return self.linear(h).relu()  # (B, 256)


class SmallDecoder(nn.Module):
    """``(B, latent_dim) -> (B, 3, 32, 32)``."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.linear = nn.Linear(latent_dim, WIDTHS[2] * 4 * 4)
        self.deconvs = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose2d(WIDTHS[2], WIDTHS[1], 4, stride=2, padding=1), nn.SiLU(),  # 8x8
            nn.ConvTranspose2d(WIDTHS[1], WIDTHS[0], 4, stride=2, padding=1), nn.SiLU(),  # 16x16
            nn.ConvTranspose2d(WIDTHS[0], 3, 4, stride=2, padding=1),  # (B, 3, 32, 32)
        )

    def forward(self, z: Tensor) -> Tensor:
        h = self.linear(z).view(-1, WIDTHS[2], 4, 4)  # (B, 128, 4, 4)
        return self.deconvs(h)  # (B, 3, 32, 32)
