"""Judge FID: the Fréchet distance on a shipped judge's penultimate features. Offline, seconds on a CPU.

Images are quantised to uint8 first, exactly as a PNG file would store them, so images from a model in
memory and the same images read back from disk give the same number.
"""

from __future__ import annotations

import torch

from genlab.metrics.frechet import frechet_distance
from genlab.metrics.judges import load_judge
from genlab.utils.images import quantize


def judge_fid(data: str, real_images: torch.Tensor, fake_images: torch.Tensor, batch_size: int = 500) -> float:
    """Judge FID between two image sets ([-1, 1] floats or uint8) of data set `data`."""
    from genlab.metrics.fid import JudgeFeatures

    features = JudgeFeatures(load_judge(data))

    def extract(images: torch.Tensor) -> torch.Tensor:
        images = images if images.dtype == torch.uint8 else quantize(images)
        return torch.cat([features(b) for b in images.split(batch_size)]).double()

    return frechet_distance(extract(real_images), extract(fake_images))
