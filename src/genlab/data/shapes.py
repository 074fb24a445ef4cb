"""`shapes`: coloured geometric shapes drawn on the fly, exact captions, no download.

Every image is a pure function of (generator version, seed, split, index): the same index always
gives the same picture. Attributes are exact (the judge networks and conditional accuracy rely on
that); small jitter in position and size keeps the distribution from being 240 points.
A configurable set of shape x colour pairs never appears in `train` or `val`; the `heldout` split
yields exactly those pairs, at every size and position.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from PIL import Image, ImageDraw

from genlab.data.base import Source, SourceDataset
from genlab.errors import ConfigError

VERSION = 1  # bump whenever a change alters any pixel; it keys cached reference statistics

SHAPES = ["circle", "square", "triangle", "cross"]
COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 235),
    "yellow": (240, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 220, 230),
}
SIZES = ["small", "large"]
POSITIONS = ["top left", "top right", "bottom left", "bottom right", "center"]
_CENTRES = {"top left": (0.27, 0.27), "top right": (0.73, 0.27), "bottom left": (0.27, 0.73),
            "bottom right": (0.73, 0.73), "center": (0.5, 0.5)}
_RADIUS = {"small": 0.12, "large": 0.21}  # as a fraction of the image side
_SPLIT_KEY = {"train": 0, "val": 1, "heldout": 2, "test": 3}
_SUPERSAMPLE = 4


def caption_of(shape: str, colour: str, size: str, position: str) -> str:
    where = "in the center" if position == "center" else f"at the {position}"
    return f"a {size} {colour} {shape} {where}"


def render(shape: str, colour: str, size: str, position: str, image_size: int = 32,
           jitter: tuple[float, float, float] = (0.0, 0.0, 1.0), background=(0, 0, 0)) -> np.ndarray:
    """One RGB uint8 image (H, W, 3). `jitter` is (dx, dy, scale): offsets as fractions of the side."""
    side = image_size * _SUPERSAMPLE
    img = Image.new("RGB", (side, side), background)
    draw = ImageDraw.Draw(img)
    cx, cy = _CENTRES[position]
    cx, cy = (cx + jitter[0]) * side, (cy + jitter[1]) * side
    r = _RADIUS[size] * jitter[2] * side
    fill = COLOURS[colour]
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        s = r * 0.85
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)], fill=fill)
    elif shape == "cross":
        t = r * 0.36
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fill)
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fill)
    else:
        raise ConfigError(f"unknown shape {shape!r}; choose one of {SHAPES}")
    return np.asarray(img.resize((image_size, image_size), Image.BOX))


class Shapes(Source):
    """Procedural shapes. `heldout_pairs` lists "shape colour" strings kept out of train and val."""

    version = VERSION
    channels = 3
    attribute_names = ["shape", "colour", "size", "position"]
    attribute_values = {"shape": SHAPES, "colour": list(COLOURS), "size": SIZES, "position": POSITIONS}
    class_names = SHAPES
    judge = "shapes"

    def __init__(self, image_size: int = 32, num_train: int = 10000, num_val: int = 1000,
                 num_heldout: int = 1000, seed: int = 0, jitter: bool = True,
                 heldout_pairs: list[str] = ("green circle", "red square", "blue triangle")):
        if image_size < 8:
            raise ConfigError(f"data.image_size={image_size} is too small for shapes; use 8 or more")
        self.image_size, self.seed, self.jitter = image_size, seed, jitter
        self.sizes = {"train": num_train, "val": num_val, "heldout": num_heldout}
        self.heldout_pairs = [self._parse_pair(p) for p in heldout_pairs]
        combos = list(itertools.product(range(len(SHAPES)), range(len(COLOURS)),
                                         range(len(SIZES)), range(len(POSITIONS))))
        held = set(self.heldout_pairs)
        self._combos = {
            "train": [c for c in combos if (c[0], c[1]) not in held],
            "heldout": [c for c in combos if (c[0], c[1]) in held],
        }
        self._combos["val"] = self._combos["train"]
        if not self._combos["train"]:
            raise ConfigError("data.heldout_pairs holds out every shape x colour pair; keep some for training")

    @staticmethod
    def _parse_pair(pair: str) -> tuple[int, int]:
        words = pair.split()
        shape = next((w for w in words if w in SHAPES), None)
        colour = next((w for w in words if w in COLOURS), None)
        if len(words) != 2 or shape is None or colour is None:
            raise ConfigError(f"data.heldout_pairs entry {pair!r} must be 'colour shape' with a colour in "
                              f"{list(COLOURS)} and a shape in {SHAPES}")
        return SHAPES.index(shape), list(COLOURS).index(colour)

    def splits(self) -> list[str]:
        return [s for s in ("train", "val", "heldout") if self._combos[s] and self.sizes[s] > 0]

    def dataset(self, split: str) -> SourceDataset:
        if split not in self.sizes:
            raise ConfigError(f"shapes has no split {split!r}; choose one of {list(self.sizes)}")
        return SourceDataset(self, split, self.sizes[split])

    def attributes(self, split: str, index: int) -> tuple[list[int], tuple[float, float, float]]:
        rng = np.random.default_rng([VERSION, self.seed, _SPLIT_KEY[split], index])
        combos = self._combos[split]
        combo = list(combos[int(rng.integers(len(combos)))])
        if self.jitter:
            dx, dy = rng.uniform(-0.05, 0.05, size=2)
            jit = (float(dx), float(dy), float(rng.uniform(0.85, 1.15)))
        else:
            jit = (0.0, 0.0, 1.0)
        return combo, jit

    def caption(self, split: str, index: int) -> str:
        combo, _ = self.attributes(split, index)
        return caption_of(*[self.attribute_values[a][v] for a, v in zip(self.attribute_names, combo)])

    def item(self, split: str, index: int) -> dict:
        combo, jit = self.attributes(split, index)
        names = [self.attribute_values[a][v] for a, v in zip(self.attribute_names, combo)]
        pixels = render(*names, image_size=self.image_size, jitter=jit).copy()
        image = torch.from_numpy(pixels).permute(2, 0, 1).float().div(127.5).sub(1.0)
        return {"image": image, "label": combo[0], "attrs": torch.tensor(combo, dtype=torch.int64),
                "caption": caption_of(*names)}
