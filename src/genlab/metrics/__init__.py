"""Evaluation metrics. `frechet_distance(real_features, fake_features)` is public for your own features."""

from genlab.metrics.frechet import frechet_distance

__all__ = ["frechet_distance"]
