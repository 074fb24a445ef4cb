"""An exponential moving average of a network's weights, kept in a frozen copy (GAN generators, dalle)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(net: nn.Module) -> nn.Module:
    return copy.deepcopy(net).requires_grad_(False).eval()


@torch.no_grad()
def ema_update(average: nn.Module, net: nn.Module, step: int, decay: float) -> None:
    """Move `average` towards `net`. The decay warms up as (1 + step) / (10 + step) (as TensorFlow's
    ExponentialMovingAverage does), so early averages do not keep the random initialisation; step <= 0
    copies. Buffers (batch-norm statistics) are copied."""
    rate = min(decay, (1 + step) / (10 + step)) if step > 0 else 0.0
    for a, p in zip(average.parameters(), net.parameters()):
        a.lerp_(p.detach(), 1.0 - rate)
    for a, b in zip(average.buffers(), net.buffers()):
        a.copy_(b)
