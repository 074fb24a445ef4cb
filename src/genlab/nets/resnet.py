"""SNGAN-style residual generator and discriminator (Miyato et al., 2018; Gulrajani et al., 2017), with
conditional batch norm and a projection head when given a condition (Miyato & Koyama, 2018).

Tensors in, tensors out. Both take the image sides of `genlab.nets.dcgan` (b * 2**k, b in 4..7, k >= 1):
the generator maps z to b x b and doubles k times with residual up-blocks (batch norm, ReLU, nearest
upsampling, two 3x3 convolutions, a 1x1 shortcut where the width changes); the discriminator mirrors it
with down-blocks (average pooling) and sums its last feature map over space. Channels halve at each
doubling as in DCGAN (`width` is the channels at full resolution), which keeps the cost on a CPU close to
the DCGAN networks' for the same width.

With `cond_dim` > 0 the generator's batch norms are conditional (gain and bias predicted from [z, c]) and
the discriminator adds the projection <V c, phi(x)> of the condition on its pooled features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from genlab.errors import ConfigError
from genlab.nets.cgan import ConditionalNorm
from genlab.nets.dcgan import base_and_doublings, batch_spread

NORMS = ("batch", "none")


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ConfigError(f"normalisation {norm!r} is not known; use 'batch' or 'none'")


def _conv(c_in: int, c_out: int, kernel: int, gain: float) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain)  # SNGAN's initialisation: sqrt(2) in residual paths
    nn.init.zeros_(conv.bias)
    return conv


class _Norm(nn.Module):
    """Batch norm (or none), conditional on a vector s when the generator has a condition."""

    def __init__(self, channels: int, norm: str, s_dim: int):
        super().__init__()
        self.conditional = s_dim > 0
        if self.conditional:
            self.norm = ConditionalNorm(channels, s_dim, norm)
        else:
            self.norm = nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()

    def forward(self, x: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        return self.norm(x, s) if self.conditional else self.norm(x)


class UpBlock(nn.Module):
    """norm, ReLU, 2x nearest upsampling, conv3x3, norm, ReLU, conv3x3; shortcut: a 1x1 conv where the width
    changes, then upsampling (the same result as the other order, for a quarter of the work)."""

    def __init__(self, c_in: int, c_out: int, norm: str, s_dim: int):
        super().__init__()
        self.norm1, self.norm2 = _Norm(c_in, norm, s_dim), _Norm(c_out, norm, s_dim)
        self.conv1, self.conv2 = _conv(c_in, c_out, 3, math.sqrt(2)), _conv(c_out, c_out, 3, math.sqrt(2))
        self.shortcut = _conv(c_in, c_out, 1, 1.0) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, s)), scale_factor=2)
        h = self.conv2(F.relu(self.norm2(self.conv1(h), s)))
        return h + F.interpolate(self.shortcut(x), scale_factor=2)


class Generator(nn.Module):
    """z (B, latent_dim) [and cond (B, cond_dim) when cond_dim > 0] -> images (B, channels, image_size,
    image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 128, channels: int = 3, image_size: int = 32, width: int = 32,
                 norm: str = "batch", cond_dim: int = 0):
        super().__init__()
        _check_norm(norm)
        base, k = base_and_doublings(image_size)
        s_dim = latent_dim + cond_dim if cond_dim else 0
        self.base, self.cond_dim = base, cond_dim
        c = width * 2 ** k
        self.stem = nn.Linear(latent_dim + cond_dim, c * base * base)
        nn.init.xavier_uniform_(self.stem.weight)
        nn.init.zeros_(self.stem.bias)
        blocks = []
        for _ in range(k):
            blocks.append(UpBlock(c, c // 2, norm, s_dim))
            c //= 2
        self.blocks = nn.ModuleList(blocks)
        self.out_norm = _Norm(c, norm, s_dim)
        self.out = _conv(c, channels, 3, 1.0)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        z = z.flatten(1)
        s = torch.cat([z, cond.to(z.dtype)], 1) if self.cond_dim else None
        h = self.stem(z if s is None else s).view(z.shape[0], -1, self.base, self.base)
        for block in self.blocks:
            h = block(h, s)
        return torch.tanh(self.out(F.relu(self.out_norm(h, s))))


class DownBlock(nn.Module):
    """[ReLU], conv3x3, ReLU, conv3x3, 2x average pooling; shortcut: a 1x1 conv and pooling. The first
    block reads images, so it has no ReLU in front (SNGAN's "optimized" block)."""

    def __init__(self, c_in: int, c_out: int, wrap, first: bool):
        super().__init__()
        self.first = first
        self.conv1 = wrap(_conv(c_in, c_out, 3, math.sqrt(2)))
        self.conv2 = wrap(_conv(c_out, c_out, 3, math.sqrt(2)))
        self.shortcut = wrap(_conv(c_in, c_out, 1, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.first:  # pool before the 1x1 conv: the same result for a quarter of the work
            return F.avg_pool2d(h, 2) + self.shortcut(F.avg_pool2d(x, 2))
        return F.avg_pool2d(h, 2) + F.avg_pool2d(self.shortcut(x), 2)


class Discriminator(nn.Module):
    """images [and cond (B, cond_dim) when cond_dim > 0] -> one logit each (B,).

    `minibatch_std` adds the spread of each group of 4 samples as a feature map at the lowest resolution,
    read by one more 3x3 convolution (as StyleGAN's discriminator does)."""

    def __init__(self, channels: int = 3, image_size: int = 32, width: int = 32, spectral_norm: bool = True,
                 minibatch_std: bool = False, cond_dim: int = 0):
        super().__init__()
        _, k = base_and_doublings(image_size)
        wrap = _sn if spectral_norm else (lambda m: m)
        blocks, c_in, c = [], channels, width
        for i in range(k):
            blocks.append(DownBlock(c_in, c, wrap, first=i == 0))
            c_in, c = c, c * 2
        self.blocks = nn.Sequential(*blocks)
        c = c_in
        self.minibatch_std = minibatch_std
        self.spread_conv = wrap(_conv(c + 1, c, 3, math.sqrt(2))) if minibatch_std else None
        head = nn.Linear(c, 1)
        nn.init.xavier_uniform_(head.weight)
        self.head = wrap(head)
        self.project = None
        if cond_dim:
            project = nn.Linear(cond_dim, c, bias=False)
            nn.init.xavier_uniform_(project.weight)
            self.project = wrap(project)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(x)
        if self.minibatch_std:
            h = self.spread_conv(F.relu(torch.cat([h, batch_spread(h)], dim=1)))
        phi = F.relu(h).sum(dim=(2, 3))
        logit = self.head(phi).flatten()
        if self.project is not None:
            logit = logit + (self.project(cond.to(phi.dtype)) * phi).sum(1)
        return logit
