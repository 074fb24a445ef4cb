"""DCGAN-style convolutional generator and discriminator (Radford et al., 2016). Tensors in, tensors out.

Both work for any image side b * 2**k with a base b in 4..7 and k >= 1 (8, 16, 28, 32, 64, 128, ...):
the generator projects z to b x b and doubles k times; the discriminator mirrors it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from genlab.errors import ConfigError


def base_and_doublings(image_size: int) -> tuple[int, int]:
    """(b, k) with image_size = b * 2**k, 4 <= b <= 7, k >= 1, or a ConfigError naming sizes that work."""
    size, k = image_size, 0
    while size > 7 and size % 2 == 0:
        size, k = size // 2, k + 1
    if not (isinstance(image_size, int) and 4 <= size <= 7 and k >= 1):
        raise ConfigError(f"image size {image_size} cannot be produced by the DCGAN networks: they need "
                          f"b * 2**k with b in 4..7 and k >= 1 (8, 16, 28, 32, 64, 128 ...); "
                          f"set data.image_size to one of those")
    return size, k


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"normalisation {kind!r} is not known; use 'batch' or 'none'")


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 128, channels: int = 3, image_size: int = 32, width: int = 64,
                 norm: str = "batch"):
        super().__init__()
        base, k = base_and_doublings(image_size)
        c = width * 2 ** (k - 1)
        layers = [nn.ConvTranspose2d(latent_dim, c, base, 1, 0, bias=norm == "none"), _norm(norm, c), nn.ReLU(True)]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=norm == "none"), _norm(norm, c // 2),
                       nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """images -> one logit each (B,). `features` gives the penultimate activations, flattened."""

    def __init__(self, channels: int = 3, image_size: int = 32, width: int = 64, norm: str = "batch",
                 spectral_norm: bool = False, minibatch_std: bool = False):
        super().__init__()
        base, k = base_and_doublings(image_size)
        wrap = _sn if spectral_norm else (lambda m: m)
        layers = [wrap(nn.Conv2d(channels, width, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        c = width
        for _ in range(k - 1):
            layers += [wrap(nn.Conv2d(c, c * 2, 4, 2, 1, bias=norm == "none")), _norm(norm, c * 2),
                       nn.LeakyReLU(0.2, True)]
            c *= 2
        self.body = nn.Sequential(*layers)
        self.minibatch_std = minibatch_std
        self.head = wrap(nn.Conv2d(c + int(minibatch_std), 1, base, 1, 0))
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if self.minibatch_std:
            h = torch.cat([h, batch_spread(h)], dim=1)
        return self.head(h).flatten()


def batch_spread(h: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Minibatch standard deviation (Karras et al., 2018) as one extra feature map: a batch of near-identical
    fakes is then visible to the discriminator, which counters mode collapse."""
    b, c, hh, ww = h.shape
    g = next((k for k in range(min(group, b), 1, -1) if b % k == 0), 1)  # group size dividing the batch
    if g == 1:
        return torch.zeros(b, 1, hh, ww, dtype=h.dtype, device=h.device)
    # sqrt(var + eps), not std: std's second derivative overflows where a group almost agrees, and the gradient
    # penalties (WGAN-GP, R1) differentiate twice (a WGAN-GP run on mnist5k went NaN at step 1,286)
    var = h.view(g, -1, c, hh, ww).var(dim=0, unbiased=False)
    spread = (var + 1e-8).sqrt().mean(dim=[1, 2, 3])  # one value per group
    return spread.repeat(g).view(b, 1, 1, 1).expand(b, 1, hh, ww)


def dcgan_init(m: nn.Module) -> None:
    """N(0, 0.02) weights, as in the DCGAN paper (spectral-normed layers keep their original weight)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
        nn.init.normal_(weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
