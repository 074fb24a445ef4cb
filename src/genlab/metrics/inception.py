"""The standard FID feature extractor: torch-fidelity's InceptionV3 with the TF-ported weights, read from disk.

The weights (`weights-inception-2015-12-05-6726825d.pth`, 96 MB) are looked for at the path given in
config, then in torch's hub cache (`$TORCH_HOME/hub/checkpoints`, where torch-fidelity's own download
puts them). genlab never downloads them: where they are absent it stops with one sentence saying where
to put the file. Images go in as uint8 (N, 3, H, W); torch-fidelity resizes them to 299 x 299 itself.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genlab.errors import GenlabError

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"


class MissingWeightsError(GenlabError, FileNotFoundError):
    """Pretrained weights an evaluation needs are not on this machine."""


def find_inception_weights(weights_path: str | None = None) -> Path:
    hub = Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE
    candidates = [Path(weights_path).expanduser()] if weights_path else []
    candidates.append(hub)
    for path in candidates:
        if path.is_file():
            return path
    looked = " and ".join(str(p) for p in candidates)
    raise MissingWeightsError(f"the Inception weights {WEIGHTS_FILE} are not in {looked} and genlab does not "
                              f"download them: fetch {WEIGHTS_URL} where the network is reachable and put it at "
                              f"{hub}, or pass its path as inception_weights=PATH (or use the offline "
                              f"feature_extractor=judge)")


class InceptionFeatures(nn.Module):
    """uint8 images (N, 3, H, W) -> 2048 pool features (N, 2048); `features_and_logits` adds IS logits."""

    num_features = 2048  # torchmetrics' FID/KID read this from a custom extractor

    def __init__(self, weights_path: str | None = None):
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.weights_path = find_inception_weights(weights_path)
        try:
            self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                                   feature_extractor_weights_path=str(self.weights_path))
        except (RuntimeError, OSError, EOFError) as exc:
            raise MissingWeightsError(f"{self.weights_path} is not a readable {WEIGHTS_FILE} "
                                      f"({type(exc).__name__}: {str(exc)[:150]}); replace it") from None

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(images)[0]

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool features (N, 2048) and the 1,008 unbiased logits the Inception Score reads, in one pass."""
        if images.dtype != torch.uint8:
            raise GenlabError(f"Inception features take uint8 images, got {images.dtype}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        features, logits = self.net(images)
        return features.reshape(images.shape[0], -1), logits
