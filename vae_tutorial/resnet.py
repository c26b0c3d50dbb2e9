"""ResNet-18 encoder and decoder for 32x32 images, in plain PyTorch.

The article's networks (lightning-bolts' ``resnet18_encoder`` / ``resnet18_decoder``)
rewritten here so the package does not depend on lightning-bolts. The encoder uses the
CIFAR stem (one 3x3 convolution, no max-pool); the decoder mirrors it, doubling the
resolution with nearest-neighbour upsampling + convolution instead of striding.
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


class EncoderBlock(nn.Module):
    """The basic residual block: two 3x3 convolutions and a (projected) shortcut."""

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

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        return (out + self.shortcut(x)).relu()


class DecoderBlock(nn.Module):
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

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        return (out + self.shortcut(x)).relu()


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
