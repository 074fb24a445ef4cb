"""genlab.metrics.frechet_distance against a float64 scipy.linalg.sqrtm reference (D <= 256 here)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from genlab.errors import ConfigError
from genlab.metrics import frechet_distance


def reference(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


@pytest.mark.parametrize("n,d", [(2, 16), (10, 64), (300, 64), (1000, 128), (5000, 32)])
def test_matches_scipy_reference(n, d):
    rng = np.random.default_rng(n * 1000 + d)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d)) @ rng.normal(scale=0.3, size=(d, d)) + 0.5
    ref, got = reference(x, y), frechet_distance(x, y)
    assert abs(got - ref) <= 1e-6 * abs(ref), (got, ref)


def test_equal_covariances_and_identical_sets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 32))
    shift = np.linspace(-1, 1, 32)
    scale = np.trace(np.cov(x, rowvar=False)) * 2
    assert abs(frechet_distance(x, x + shift) - (shift ** 2).sum()) <= 1e-9 * scale
    assert abs(frechet_distance(x, x)) <= 1e-9 * scale


def test_bad_shapes_are_named():
    with pytest.raises(ConfigError, match="N >= 2"):
        frechet_distance(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ConfigError, match="feature sizes differ"):
        frechet_distance(np.zeros((3, 4)), np.zeros((3, 5)))
