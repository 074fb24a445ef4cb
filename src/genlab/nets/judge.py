"""Judge networks: small CNN classifiers that read a data set's attributes back from images.

They judge, they do not generate: trained on every combination (held-out shape x colour pairs included)
and used for offline "judge FID" and conditional accuracy. `features` are the penultimate activations
taken before the ReLU, so their covariance stays full rank.
"""

from __future__ import annotations

import torch
from torch import nn


class Judge(nn.Module):
    """(B, C, S, S) images in [-1, 1] -> one logit vector per attribute; `features` -> (B, feature_dim)."""

    def __init__(self, channels: int, image_size: int, attribute_sizes: list[int], width: int = 32,
                 feature_dim: int = 128):
        super().__init__()
        layers, c = [], channels
        for i, out in enumerate((width, width * 2, width * 4)):
            layers += [nn.Conv2d(c, out, 3, 1, 1), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                       nn.Conv2d(out, out, 3, 1, 1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            layers.append(nn.MaxPool2d(2) if i < 2 else nn.AdaptiveAvgPool2d(2))
            c = out
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.project = nn.Linear(c * 4, feature_dim)
        self.heads = nn.ModuleList([nn.Linear(feature_dim, k) for k in attribute_sizes])
        self.dropout = nn.Dropout(0.2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.body(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Both from one pass: the features for FID, the per-attribute logits for IS and accuracy."""
        features = self.features(x)
        h = self.dropout(torch.relu(features))
        return features, [head(h) for head in self.heads]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.features_and_logits(x)[1]
