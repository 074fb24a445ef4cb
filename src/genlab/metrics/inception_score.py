"""Inception Score on torchmetrics' `InceptionScore`, from class logits computed once.

With `feature_extractor=inception` the logits are Inception's 1,008 unbiased logits (torch-fidelity's
"logits_unbiased", the standard IS input). With `feature_extractor=judge` they are the judge's joint
attribute log-probabilities (`joint_log_probs`): the same formula over the data set's own classes, offline,
whose maximum is the number of joint classes (10 for digits, 4 x 6 x 2 x 5 = 240 for shapes).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.inception import InceptionScore

from genlab.errors import ConfigError
from genlab.metrics.frechet import feature_matrix


class _Given(nn.Module):
    """The feature extractor torchmetrics calls when the logits are already computed."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


def joint_log_probs(head_logits: list[torch.Tensor]) -> torch.Tensor:
    """A judge's per-attribute logits -> log p(attribute combination | image), heads taken as independent."""
    joint = None
    for logits in head_logits:
        log_p = logits.double().log_softmax(1)
        joint = log_p if joint is None else (joint[:, :, None] + log_p[:, None, :]).flatten(1)
    return joint


def inception_score(logits, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation over `splits` seeded random splits of exp(E KL(p(y|x) || p(y)))."""
    x = feature_matrix(logits, "logits")
    if not isinstance(splits, int) or not 1 <= splits <= x.shape[0]:
        raise ConfigError(f"inception score splits={splits!r} must be an integer from 1 to the number of images "
                          f"({x.shape[0]})")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Metric `InceptionScore` will save all extracted features")
        metric = InceptionScore(feature=_Given(), splits=splits)
    metric.update(x)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"std\(\): degrees of freedom")  # one split has no spread
        torch.manual_seed(seed)  # torchmetrics shuffles before splitting
        mean, std = metric.compute()
    return float(mean), float(std) if splits > 1 else 0.0
