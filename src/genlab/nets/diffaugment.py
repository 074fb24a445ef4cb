"""Differentiable augmentation for data-efficient GANs (Zhao et al., 2020), applied to real and fake alike.

A policy is a comma-separated subset of "color", "translation", "cutout"; "" disables it.
Random draws are made for the global batch of a distributed run and sliced (genlab.utils.distributed), so
N processes augment each example as one process would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.errors import ConfigError
from genlab.utils.distributed import shard

POLICIES = ("color", "translation", "cutout")


def check_policy(policy: str) -> list[str]:
    parts = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in parts if p not in POLICIES]
    if unknown:
        raise ConfigError(f"model.diffaugment has unknown part(s) {unknown}; use a comma list of {list(POLICIES)}")
    return parts


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    for part in check_policy(policy):
        x = _AUGMENTS[part](x)
    return x


def _rand(x: torch.Tensor) -> torch.Tensor:
    return shard(lambda m: torch.rand(m, 1, 1, 1, device=x.device), x.shape[0])


def _randint(low: int, high: int, x: torch.Tensor) -> torch.Tensor:
    return shard(lambda m: torch.randint(low, high, (m, 1, 1), device=x.device), x.shape[0])


def _color(x: torch.Tensor) -> torch.Tensor:
    x = x + (_rand(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x) + 0.5) + mean


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx, ty = _randint(-sh, sh + 1, x), _randint(-sw, sw + 1, x)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox, oy = _randint(0, h + (1 - ch % 2), x), _randint(0, w + (1 - cw % 2), x)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


_AUGMENTS = {"color": _color, "translation": _translation, "cutout": _cutout}
