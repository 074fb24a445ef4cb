"""KID against a direct numpy computation of the unbiased polynomial-kernel MMD²."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.metrics.kid import kernel_distance


def numpy_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


@pytest.mark.parametrize("n,d", [(10, 8), (200, 64), (1000, 256)])
def test_matches_direct_numpy_mmd(n, d):
    rng = np.random.default_rng(n + d)
    x, y = rng.normal(size=(n, d)), rng.normal(loc=0.3, size=(n, d))
    got, std = kernel_distance(x, y, subsets=1, subset_size=n)
    ref = numpy_mmd2(x, y)
    assert abs(got - ref) <= 1e-6 * abs(ref) and std == 0.0


def test_subsets_are_seeded_and_separate_close_from_far():
    rng = np.random.default_rng(0)
    x, near, far = rng.normal(size=(600, 32)), rng.normal(size=(600, 32)), rng.normal(loc=1.0, size=(600, 32))
    a, b = kernel_distance(x, near, subsets=10, subset_size=200), kernel_distance(x, near, subsets=10, subset_size=200)
    assert a == b
    assert abs(a[0]) < 0.05 * kernel_distance(x, far, subsets=10, subset_size=200)[0]
