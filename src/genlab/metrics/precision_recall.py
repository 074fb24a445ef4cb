"""Improved precision and recall (Kynkäänniemi et al., 2019) on any features, via torch-fidelity.

Precision: the fraction of generated samples inside the k-NN balls of the real ones (fidelity).
Recall: the fraction of real samples inside the k-NN balls of the generated ones (coverage).
"""

from __future__ import annotations

from genlab.metrics.frechet import feature_matrix


def precision_recall(real_features, fake_features, neighborhood: int = 3) -> tuple[float, float]:
    from torch_fidelity.metric_prc import calculate_precision_recall_part

    real = feature_matrix(real_features, "real_features").float()
    fake = feature_matrix(fake_features, "fake_features").float()
    # torch-fidelity's order: generated first, real second
    return calculate_precision_recall_part(fake, real, neighborhood=neighborhood)
