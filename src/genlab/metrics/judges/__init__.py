"""Shipped judge networks (weights trained by experiments/train_judges.py) and how to load them."""

from __future__ import annotations

import json
from pathlib import Path

from genlab.errors import ConfigError
from genlab.nets.judge import Judge

JUDGE_DIR = Path(__file__).resolve().parent
# data config overrides for the data each judge reads, and its attribute heads
JUDGE_SPECS = {
    "shapes": {"overrides": ["data=shapes", "data.source.heldout_pairs=[]", "data.source.num_train=30000",
                             "data.source.num_val=3000"],
               "channels": 3, "image_size": 32, "attributes": ["shape", "colour", "size", "position"],
               "sizes": [4, 6, 2, 5]},
    "digits": {"overrides": ["data=digits"], "channels": 1, "image_size": 16, "attributes": ["class"],
               "sizes": [10]},
    "mnist5k": {"overrides": ["data=mnist5k"], "channels": 1, "image_size": 28, "attributes": ["class"],
                "sizes": [10]},
}


def judge_datamodule(name: str):
    from genlab.utils.config import compose_train, make

    dm = make(compose_train(*JUDGE_SPECS[name]["overrides"]).data)
    dm.setup()
    return dm


def build_judge(name: str) -> Judge:
    if name not in JUDGE_SPECS:
        raise ConfigError(f"there is no judge for data set {name!r}; judges exist for {sorted(JUDGE_SPECS)}")
    spec = JUDGE_SPECS[name]
    return Judge(spec["channels"], spec["image_size"], spec["sizes"])


def check_judge_input(name: str, image_size: int, channels: int) -> None:
    spec = JUDGE_SPECS[name]
    if (image_size, channels) != (spec["image_size"], spec["channels"]):
        raise ConfigError(f"the {name} judge reads {spec['image_size']}x{spec['image_size']} images with "
                          f"{spec['channels']} channel(s), these are {image_size}x{image_size} with {channels}: judge "
                          f"metrics need data.image_size={spec['image_size']} (or use feature_extractor=inception)")


def load_judge(name: str, image_size: int | None = None, channels: int | None = None) -> Judge:
    """The shipped judge for `name` (shapes, digits, mnist5k), in eval mode; given the size and channels of
    the images it will read, checks that they are the ones it was trained on."""
    from safetensors.torch import load_file

    judge = build_judge(name)
    if image_size is not None:
        check_judge_input(name, image_size, channels)
    path = JUDGE_DIR / f"{name}.safetensors"
    if not path.is_file():
        raise ConfigError(f"the {name} judge weights are missing ({path}); run experiments/train_judges.py")
    judge.load_state_dict(load_file(str(path)))
    return judge.eval().requires_grad_(False)


def judge_info(name: str) -> dict:
    return json.loads((JUDGE_DIR / f"{name}.json").read_text())
