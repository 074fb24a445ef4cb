"""Conditional accuracy: an oracle that returns the real image for each condition scores (near) 1, a
mirrored oracle loses exactly the left/right positions, label conditioning checks the class only."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ConfigError
from genlab.metrics.conditional import conditional_accuracy
from genlab.metrics.judges import load_judge


class Oracle:
    """'Generates' the real example behind each condition, optionally mirrored left to right."""

    def __init__(self, conditions_on="caption", mirror=False):
        self.conditions_on, self.mirror = conditions_on, mirror

    def condition_from_batch(self, batch):
        return batch["image"]

    def generate(self, n, condition=None, generator=None):
        assert condition.shape[0] == n and isinstance(generator, torch.Generator)
        return condition.flip(3) if self.mirror else condition


@pytest.fixture(scope="module")
def shapes():
    from genlab.utils.config import compose_train, make

    dm = make(compose_train("data=shapes", "data.source.num_train=300", "data.source.num_heldout=300").data)
    dm.setup()
    return dm, load_judge("shapes")


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_oracle_scores_one(shapes, split):
    dm, judge = shapes
    result = conditional_accuracy(Oracle(), dm.datasets[split], judge, dm.attribute_names, 200, batch_size=64)
    assert set(result) == {"shape", "colour", "size", "position", "joint", "num_images"}
    assert result["num_images"] == 200
    assert min(result[a] for a in ("shape", "colour", "size", "position", "joint")) >= 0.97


def test_mirrored_oracle_loses_left_and_right(shapes):
    dm, judge = shapes
    ds = dm.datasets["train"]
    result = conditional_accuracy(Oracle(mirror=True), ds, judge, dm.attribute_names, 300, batch_size=100)
    centred = sum(dm.attribute_values["position"][int(ds[i]["attrs"][3])] == "center" for i in range(300)) / 300
    assert abs(result["position"] - centred) <= 0.02 and 0.1 < centred < 0.35
    assert result["colour"] >= 0.97 and result["size"] >= 0.97
    assert result["joint"] <= result["position"]


def test_label_conditioning_checks_the_class_only(shapes):
    dm, judge = shapes
    result = conditional_accuracy(Oracle("label"), dm.datasets["train"], judge, dm.attribute_names, 50)
    assert set(result) == {"shape", "joint", "num_images"} and result["shape"] == result["joint"] >= 0.97


def test_unconditional_model_is_refused(shapes):
    dm, judge = shapes
    with pytest.raises(ConfigError, match="Oracle is unconditional; conditional accuracy needs"):
        conditional_accuracy(Oracle(None), dm.datasets["train"], judge, dm.attribute_names, 10)
