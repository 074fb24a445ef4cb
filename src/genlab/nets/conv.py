"""Convolutional encoder and decoder shared by the autoencoder family. Tensors in, tensors out.

The encoder halves the image `stages` times (conv stride 2, GroupNorm, SiLU, then a residual 3x3 block);
the decoder mirrors it with nearest upsampling. Heads turn the feature map into a vector and back.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.nets.dcgan import base_and_doublings


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1), _norm(c), nn.SiLU(),
                                  nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvEncoder(nn.Module):
    """(B, channels, S, S) -> (B, out_channels, S / 2**stages, S / 2**stages)."""

    def __init__(self, channels: int, width: int, stages: int, out_channels: int):
        super().__init__()
        layers, c = [nn.Conv2d(channels, width, 3, 1, 1)], width
        for i in range(stages):
            c_next = width * 2 ** min(i + 1, 3)
            layers += [_norm(c), nn.SiLU(), nn.Conv2d(c, c_next, 4, 2, 1), ResBlock(c_next)]
            c = c_next
        layers += [_norm(c), nn.SiLU(), nn.Conv2d(c, out_channels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchEncoder(nn.Module):
    """(B, channels, S, S) -> (B, out_channels, S / 2**stages, ...), each output from its own 2**stages-pixel
    patch alone (a patch embedding, then a per-patch MLP as 1x1 convolutions). Identical patches give
    identical outputs wherever they lie and whatever surrounds them: a uniform background is one vector."""

    def __init__(self, channels: int, width: int, stages: int, out_channels: int):
        super().__init__()
        patch, hidden = 2 ** stages, 4 * width * 2 ** min(stages, 3)
        self.net = nn.Sequential(nn.Conv2d(channels, hidden, patch, patch), nn.SiLU(), nn.Conv2d(hidden, hidden, 1),
                                 nn.SiLU(), nn.Conv2d(hidden, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """(B, in_channels, s, s) -> (B, channels, s * 2**stages, ...) in [-1, 1]."""

    def __init__(self, channels: int, width: int, stages: int, in_channels: int):
        super().__init__()
        c = width * 2 ** min(stages, 3)
        layers = [nn.Conv2d(in_channels, c, 3, 1, 1), ResBlock(c)]
        for i in reversed(range(stages)):
            c_next = width * 2 ** min(i, 3)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c_next, 3, 1, 1), ResBlock(c_next)]
            c = c_next
        layers += [_norm(c), nn.SiLU(), nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class VectorEncoder(nn.Module):
    """Image -> vector of `out_dim` (a conv encoder down to the smallest grid, then a linear layer)."""

    def __init__(self, channels: int, image_size: int, width: int, out_dim: int, grid_channels: int = 16):
        super().__init__()
        base, stages = base_and_doublings(image_size)
        self.conv = ConvEncoder(channels, width, stages, grid_channels)
        self.linear = nn.Linear(grid_channels * base * base, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(x).flatten(1))


class VectorDecoder(nn.Module):
    """Vector of `in_dim` -> image in [-1, 1]."""

    def __init__(self, channels: int, image_size: int, width: int, in_dim: int, grid_channels: int = 16):
        super().__init__()
        self.base, stages = base_and_doublings(image_size)
        self.grid_channels = grid_channels
        self.linear = nn.Linear(in_dim, grid_channels * self.base * self.base)
        self.conv = ConvDecoder(channels, width, stages, grid_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.linear(z).view(-1, self.grid_channels, self.base, self.base))
