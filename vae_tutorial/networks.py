"""The encoder and decoder networks: the article's ResNet-18 pair, and a small pair for CPUs.

* ``ResNet18Encoder`` / ``ResNet18Decoder``: the article's networks (lightning-bolts'
  ``resnet18_encoder`` / ``resnet18_decoder``) in plain PyTorch, so the package does not
  depend on lightning-bolts. The encoder uses the CIFAR stem (one 3x3 convolution, no
  max-pool); the decoder mirrors it, doubling the resolution with nearest-neighbour
  upsampling + convolution instead of striding. About 20 M parameters together.
* ``SmallEncoder`` / ``SmallDecoder``: three stride-2 convolutions down to ``(128, 4, 4)``
  and three transposed convolutions back up; no batch norm, so an image's posterior does
  not depend on the other images in its batch. They train fast on a laptop CPU.

Every encoder maps ``(B, 3, 32, 32) -> (B, feature_dim)``; every decoder
``(B, latent_dim) -> (B, 3, 32, 32)``.
"""

from __future__ import annotations

from torch import Tensor, nn

STAGE_WIDTHS = (64, 128, 256, 512)  # channels of ResNet-18's four stages
BLOCKS_PER_STAGE = (2, 2, 2, 2)  # ResNet-18


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def resize_conv3x3(in_channels: int, out_channels: int, scale: int = 1) -> nn.Module:
    """3x3 convolution, after a ``scale``x nearest-neighbour upsampling when ``scale > 1``."""
    if scale == 1:
        return conv3x3(in_channels, out_channels)
    return nn.Sequential(nn.Upsample(scale_factor=scale), conv3x3(in_channels, out_channels))


class ResidualBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions with batch norm, plus a (projected) shortcut."""

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        return (out + self.shortcut(x)).relu()


class EncoderBlock(ResidualBlock):
    """The block of the encoder: the first convolution may stride (halve the resolution)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))


class DecoderBlock(ResidualBlock):
    """The encoder block mirrored: the second convolution upsamples by ``scale``."""

    def __init__(self, in_channels: int, out_channels: int, scale: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_channels, in_channels)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = resize_conv3x3(in_channels, out_channels, scale)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if scale != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Upsample(scale_factor=scale),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels))


def stage(block: type[nn.Module], in_channels: int, out_channels: int, num_blocks: int,
          step: int) -> nn.Sequential:
    """``num_blocks`` blocks; the first changes width and resolution (stride or scale)."""
    blocks = [block(in_channels, out_channels, step)]
    blocks += [block(out_channels, out_channels) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


class ResNet18Encoder(nn.Module):
    """``(B, 3, 32, 32) -> (B, 512)`` features, ~11.2 M parameters."""

    feature_dim = 512

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv3x3(3, 64), nn.BatchNorm2d(64), nn.ReLU())  # CIFAR stem
        widths = (64,) + STAGE_WIDTHS
        self.stages = nn.Sequential(*[
            stage(EncoderBlock, widths[i], widths[i + 1], BLOCKS_PER_STAGE[i], 1 if i == 0 else 2)
            for i in range(4)])
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stages(self.stem(x))  # (B, 512, 4, 4)
        return self.pool(h).flatten(1)  # (B, 512)


class ResNet18Decoder(nn.Module):
    """``(B, latent_dim) -> (B, 3, 32, 32)``, ~8.6 M parameters."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.linear = nn.Linear(latent_dim, 512 * 4 * 4)
        widths = STAGE_WIDTHS[::-1] + (64,)  # 512 -> 256 -> 128 -> 64 -> 64
        self.stages = nn.Sequential(*[
            stage(DecoderBlock, widths[i], widths[i + 1], BLOCKS_PER_STAGE[i], 2 if i < 3 else 1)
            for i in range(4)])
        self.to_pixels = nn.Conv2d(64, 3, 3, padding=1, bias=False)

    def forward(self, z: Tensor) -> Tensor:
        h = self.linear(z).view(-1, 512, 4, 4)  # (B, 512, 4, 4)
        h = self.stages(h)  # (B, 64, 32, 32)
        return self.to_pixels(h)  # (B, 3, 32, 32)


# --- the small pair -----------------------------------------------------------------

SMALL_WIDTHS = (32, 64, 128)  # channels at 16x16, 8x8 and 4x4


class SmallEncoder(nn.Module):
    """``(B, 3, 32, 32) -> (B, 256)`` features."""

    feature_dim = 256

    def __init__(self):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(3, SMALL_WIDTHS[0], 4, stride=2, padding=1), nn.SiLU(),  # (B, 32, 16, 16)
            nn.Conv2d(SMALL_WIDTHS[0], SMALL_WIDTHS[1], 4, stride=2, padding=1), nn.SiLU(),  # (B, 64, 8, 8)
            nn.Conv2d(SMALL_WIDTHS[1], SMALL_WIDTHS[2], 4, stride=2, padding=1), nn.SiLU(),  # (B, 128, 4, 4)
        )
        self.linear = nn.Linear(SMALL_WIDTHS[2] * 4 * 4, self.feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.convs(x).flatten(1)  # (B, 2048)
        return self.linear(h).relu()  # (B, 256)


class SmallDecoder(nn.Module):
    """``(B, latent_dim) -> (B, 3, 32, 32)``."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.linear = nn.Linear(latent_dim, SMALL_WIDTHS[2] * 4 * 4)
        self.deconvs = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose2d(SMALL_WIDTHS[2], SMALL_WIDTHS[1], 4, stride=2, padding=1), nn.SiLU(),  # 8x8
            nn.ConvTranspose2d(SMALL_WIDTHS[1], SMALL_WIDTHS[0], 4, stride=2, padding=1), nn.SiLU(),  # 16x16
            nn.ConvTranspose2d(SMALL_WIDTHS[0], 3, 4, stride=2, padding=1),  # (B, 3, 32, 32)
        )

    def forward(self, z: Tensor) -> Tensor:
        h = self.linear(z).view(-1, SMALL_WIDTHS[2], 4, 4)  # (B, 128, 4, 4)
        return self.deconvs(h)  # (B, 3, 32, 32)
