"""Evaluation metrics. `frechet_distance(real_features, fake_features)` is public for your own features;
`InceptionFeatures` is the standard FID extractor, read from a local weights file."""

from genlab.metrics.frechet import frechet_distance, frechet_from_stats, gaussian_stats
from genlab.metrics.inception import InceptionFeatures, MissingWeightsError
from genlab.metrics.inception_score import inception_score
from genlab.metrics.kid import kernel_distance
from genlab.metrics.precision_recall import precision_recall

__all__ = ["InceptionFeatures", "MissingWeightsError", "frechet_distance", "frechet_from_stats", "gaussian_stats",
           "inception_score", "kernel_distance", "precision_recall"]
