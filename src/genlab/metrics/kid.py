"""Kernel Inception Distance on any features: torchmetrics' unbiased polynomial-kernel MMD², in float64,
averaged over seeded random subsets (so the number is reproducible)."""

from __future__ import annotations

import torch
from torchmetrics.image.kid import poly_mmd

from genlab.metrics.frechet import feature_matrix


def kernel_distance(real_features, fake_features, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """(mean, std) of MMD² over `subsets` random subsets of `subset_size` (capped at the smaller set)."""
    x, y = feature_matrix(real_features, "real_features"), feature_matrix(fake_features, "fake_features")
    size = min(subset_size, x.shape[0], y.shape[0])
    gen = torch.Generator().manual_seed(seed)
    if size == x.shape[0] == y.shape[0] and subsets == 1:
        values = torch.stack([poly_mmd(x, y)])
    else:
        values = torch.stack([poly_mmd(x[torch.randperm(x.shape[0], generator=gen)[:size]],
                                       y[torch.randperm(y.shape[0], generator=gen)[:size]])
                              for _ in range(subsets)])
    return float(values.mean()), float(values.std()) if subsets > 1 else 0.0
