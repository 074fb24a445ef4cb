"""Conditional GAN networks: a DCGAN generator with conditional batch norm, and a projection discriminator.
Tensors in, tensors out; the condition is a vector per sample (a condition encoder's pooled embedding).

- `ConditionalGenerator` (conditional batch norm: de Vries et al., 2017; Miyato & Koyama, 2018): z and the
  condition are concatenated into s = [z, c]; s feeds the first layer, and each batch norm (which has no
  affine parameters of its own) gets a per-sample gain 1 + W_g s and bias W_b s.
- `ProjectionDiscriminator` (Miyato & Koyama, 2018): the DCGAN discriminator's features phi(x) (the flattened
  last feature map, which its head reads linearly) give logit = head(phi(x)) + <V c, phi(x)>.
Both accept the image sides of `genlab.nets.dcgan` (b * 2**k, b in 4..7, k >= 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from genlab.errors import ConfigError
from genlab.nets.dcgan import Discriminator, base_and_doublings, batch_spread, dcgan_init

NORMS = ("batch", "none")


class ConditionalNorm(nn.Module):
    """Batch norm without affine parameters (or no normalisation, norm="none"), then a gain and bias per
    sample and channel predicted from a vector `s`. Both predictions start at zero: gain 1, bias 0."""

    def __init__(self, channels: int, cond_dim: int, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ConfigError(f"normalisation {norm!r} is not known; use 'batch' or 'none'")
        self.norm = nn.BatchNorm2d(channels, affine=False) if norm == "batch" else nn.Identity()
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        for layer in (self.gain, self.bias):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * (1 + self.gain(s))[:, :, None, None] + self.bias(s)[:, :, None, None]


def _init_convs(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        dcgan_init(m)


class ConditionalGenerator(nn.Module):
    """(z (B, latent_dim), cond (B, cond_dim)) -> images (B, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 128, cond_dim: int = 128, channels: int = 3, image_size: int = 32,
                 width: int = 64, norm: str = "batch"):
        super().__init__()
        base, k = base_and_doublings(image_size)
        s_dim = latent_dim + cond_dim
        c = width * 2 ** (k - 1)
        self.stem = nn.ConvTranspose2d(s_dim, c, base, 1, 0, bias=False)
        norms, ups = [ConditionalNorm(c, s_dim, norm)], []
        for _ in range(k - 1):
            ups.append(nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False))
            norms.append(ConditionalNorm(c // 2, s_dim, norm))
            c //= 2
        self.ups, self.norms = nn.ModuleList(ups), nn.ModuleList(norms)
        self.out = nn.ConvTranspose2d(c, channels, 4, 2, 1)
        self.apply(_init_convs)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        s = torch.cat([z.flatten(1), cond.to(z.dtype)], 1)
        h = F.relu(self.norms[0](self.stem(s[:, :, None, None]), s))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = F.relu(norm(up(h), s))
        return torch.tanh(self.out(h))


class ProjectionDiscriminator(Discriminator):
    """(images, cond (B, cond_dim)) -> one logit each (B,): the DCGAN discriminator plus the projection
    <V cond, phi(x)>, V spectrally normalised with the rest when `spectral_norm` is on."""

    def __init__(self, cond_dim: int = 128, channels: int = 3, image_size: int = 32, width: int = 64,
                 norm: str = "none", spectral_norm: bool = False, minibatch_std: bool = False):
        super().__init__(channels, image_size, width, norm, spectral_norm, minibatch_std)
        base, k = base_and_doublings(image_size)
        project = nn.Linear(cond_dim, width * 2 ** (k - 1) * base * base, bias=False)
        nn.init.normal_(project.weight, 0.0, 0.02)
        self.project = _sn(project) if spectral_norm else project

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        phi = h.flatten(1)
        if self.minibatch_std:
            h = torch.cat([h, batch_spread(h)], dim=1)
        return self.head(h).flatten() + (self.project(cond.to(phi.dtype)) * phi).sum(1)
