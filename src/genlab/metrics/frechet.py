"""Fréchet distance between two sets of features, in float64, for users who bring their own features.

FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)). The last trace is computed as the sum of the
square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2), a symmetric positive semi-definite matrix with
the same eigenvalues as S1 S2: two symmetric eigendecompositions instead of a general matrix square root,
so it is exact for singular covariances (fewer samples than dimensions) and fast for D = 2048.
"""

from __future__ import annotations

import numpy as np
import torch

from genlab.errors import ConfigError


def feature_matrix(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().to("cpu", torch.float64)
    if t.ndim != 2 or t.shape[0] < 2:
        raise ConfigError(f"{name} must be an (N, D) array with N >= 2, got shape {tuple(t.shape)}")
    return t


def _psd_sqrt(s: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(real_features, fake_features) -> float:
    """Fréchet distance between Gaussians fitted (unbiased covariance) to two (N, D) feature sets."""
    x, y = feature_matrix(real_features, "real_features"), feature_matrix(fake_features, "fake_features")
    if x.shape[1] != y.shape[1]:
        raise ConfigError(f"feature sizes differ: real {x.shape[1]}, fake {y.shape[1]}")
    return frechet_from_stats(*gaussian_stats(x), *gaussian_stats(y))


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 mean and unbiased covariance of (N, D) features: the statistics FID compares."""
    x = feature_matrix(features, "features")
    return x.mean(0), torch.cov(x.T).reshape(x.shape[1], -1)


def frechet_from_stats(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    """Fréchet distance between N(mu1, s1) and N(mu2, s2), computed in float64."""
    mu1, s1, mu2, s2 = (t.detach().to("cpu", torch.float64) for t in (mu1, s1, mu2, s2))
    root = _psd_sqrt(s1)
    middle = root @ s2 @ root
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    fd = (mu1 - mu2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * trace_sqrt
    return float(fd.clamp_min(0))
