"""Precision and recall: identical Gaussians score high on both, far-apart Gaussians low on both."""

from __future__ import annotations

import numpy as np

from genlab.metrics.precision_recall import precision_recall


def test_identical_and_far_apart_gaussians():
    # k-NN balls shrink with dimension (16-D, k=3 gives about 0.79 for identical sets), hence 4-D here
    rng = np.random.default_rng(0)
    real, same = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4))
    far = rng.normal(loc=10.0, size=(1000, 4))
    p, r = precision_recall(real, same)
    assert p >= 0.9 and r >= 0.9, (p, r)
    p, r = precision_recall(real, far)
    assert p <= 0.1 and r <= 0.1, (p, r)


def test_collapsed_generator_has_precision_but_no_recall():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(1000, 8))
    collapsed = rng.normal(scale=0.05, size=(1000, 8))  # every sample near the mode
    p, r = precision_recall(real, collapsed)
    assert p >= 0.9 and r <= 0.3, (p, r)
