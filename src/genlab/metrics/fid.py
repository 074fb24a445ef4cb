"""FID on torchmetrics' state handling (DDP sync of feature sums), computed by genlab's float64 formula,
with any feature extractor (Inception or a judge)."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from genlab.metrics.frechet import frechet_from_stats


class JudgeFeatures(nn.Module):
    """uint8 images -> a judge's penultimate (pre-ReLU) features, as a torchmetrics feature extractor."""

    def __init__(self, judge: nn.Module):
        super().__init__()
        self.judge = judge.eval().requires_grad_(False)
        self.num_features = judge.project.out_features

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.judge.features(images.float() / 127.5 - 1)

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features, and joint attribute log-probabilities for the (judge) Inception Score."""
        from genlab.metrics.inception_score import joint_log_probs

        features, head_logits = self.judge.features_and_logits(images.float() / 127.5 - 1)
        return features, joint_log_probs(head_logits)


class FID(FrechetInceptionDistance):
    """torchmetrics' FID states and synchronisation; the distance itself from `frechet_from_stats`."""

    def compute(self) -> torch.Tensor:
        stats = []
        for kind in ("real", "fake"):
            n = getattr(self, f"{kind}_features_num_samples")
            if n < 2:
                raise RuntimeError(f"FID needs at least two {kind} images, got {int(n)}")
            total, cov_sum = getattr(self, f"{kind}_features_sum").double(), getattr(self, f"{kind}_features_cov_sum").double()
            mean = total / n
            cov = (cov_sum - n * torch.outer(mean, mean)) / (n - 1)
            stats += [mean, cov]
        return torch.tensor(frechet_from_stats(*stats), dtype=torch.float64)
