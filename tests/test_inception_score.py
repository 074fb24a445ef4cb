"""Inception Score on torchmetrics: against a direct numpy formula, its known extremes, and the judge's
joint attribute log-probabilities it reads offline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import ConfigError
from genlab.metrics import inception_score
from genlab.metrics.inception_score import joint_log_probs


def numpy_is(logits: np.ndarray, splits: int, order: np.ndarray) -> tuple[float, float]:
    logits = logits[order]
    scores = []
    for part in np.array_split(logits, splits):
        p = np.exp(part - part.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        marginal = p.mean(0, keepdims=True)
        scores.append(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores, ddof=1)) if splits > 1 else 0.0


@pytest.mark.parametrize(("n", "k", "splits"), [(50, 10, 1), (300, 1008, 10), (1000, 240, 5)])
def test_matches_numpy(n, k, splits):
    rng = np.random.default_rng(n + k)
    logits = rng.normal(0, 3, (n, k))
    mean, std = inception_score(torch.from_numpy(logits), splits=splits, seed=7)
    torch.manual_seed(7)
    order = torch.randperm(n).numpy()  # the shuffle torchmetrics draws under the seed
    ref_mean, ref_std = numpy_is(logits, splits, order)
    assert abs(mean - ref_mean) <= 1e-6 * ref_mean
    assert abs(std - ref_std) <= 1e-6 * max(ref_std, 1e-12) + 1e-12


def test_extremes_and_determinism():
    assert inception_score(torch.zeros(64, 7), splits=1)[0] == pytest.approx(1.0, abs=1e-12)
    confident = torch.full((100, 10), -40.0)
    confident[torch.arange(100), torch.arange(100) % 10] = 40.0
    assert inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-9)
    logits = torch.randn(200, 20)
    assert inception_score(logits, seed=3) == inception_score(logits, seed=3)
    assert inception_score(logits, seed=3) != inception_score(logits, seed=4)
    with pytest.raises(ConfigError, match="splits=0 must be an integer from 1 to the number of images"):
        inception_score(logits, splits=0)


def test_joint_log_probs_multiply_the_heads():
    torch.manual_seed(0)
    heads = [torch.randn(5, 4), torch.randn(5, 6), torch.randn(5, 2)]
    joint = joint_log_probs(heads)
    assert joint.shape == (5, 48) and joint.dtype == torch.float64
    assert torch.allclose(joint.exp().sum(1), torch.ones(5, dtype=torch.float64))
    p = [h.double().softmax(1) for h in heads]
    assert torch.allclose(joint[:, (2 * 6 + 5) * 2 + 1].exp(), p[0][:, 2] * p[1][:, 5] * p[2][:, 1])
