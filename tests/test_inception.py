"""Inception features from a local weights file; one clear sentence when the file is absent.

torch-fidelity has no random-weights option, so the test builds the network once with its loader
patched out, saves those random weights (96 MB) to a temporary file, and loads them the real way.
"""

from __future__ import annotations

import pytest
import torch

from genlab.metrics import inception_score
from genlab.metrics.inception import WEIGHTS_FILE, InceptionFeatures, MissingWeightsError


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    import torch_fidelity.feature_extractor_inceptionv3 as fi

    cls = fi.FeatureExtractorInceptionV3
    original_loader, original_load = fi.load_state_dict_from_url, cls.load_state_dict
    fi.load_state_dict_from_url = lambda *a, **k: {}
    cls.load_state_dict = lambda self, *a, **k: None
    try:
        torch.manual_seed(0)
        net = cls("inception-v3-compat", ["2048"])
    finally:
        fi.load_state_dict_from_url, cls.load_state_dict = original_loader, original_load
    path = tmp_path_factory.mktemp("inception") / WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    return path


def test_features_from_local_weights(random_weights):
    extractor = InceptionFeatures(str(random_weights))
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    feats = extractor(images)
    assert feats.shape == (3, 2048) and torch.isfinite(feats).all()
    # its own resize: the same picture at 32 and at 64 pixels gives nearly the same features
    big = torch.nn.functional.interpolate(images.float(), size=64, mode="nearest").to(torch.uint8)
    assert torch.allclose(extractor(big), feats, rtol=0.2, atol=0.05)
    grey = extractor(images[:, :1])
    assert grey.shape == (3, 2048)
    # the Inception Score's 1,008 unbiased logits come from the same pass
    same, logits = extractor.features_and_logits(images)
    assert torch.equal(same, feats) and logits.shape == (3, 1008) and torch.isfinite(logits).all()
    score, _ = inception_score(logits, splits=1)
    assert 1 - 1e-9 <= score <= 3 + 1e-9  # from 1 to the number of images


def test_missing_weights_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with pytest.raises(MissingWeightsError) as info:
        InceptionFeatures(str(tmp_path / "nowhere.pth"))
    message = str(info.value)
    assert WEIGHTS_FILE in message and str(tmp_path / "torch-home") in message and "\n" not in message
    assert "feature_extractor=judge" in message
