"""What every data set provides, and the dict items the shared datamodule collates into batches."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset


class Source:
    """A data set: its native splits, its metadata, and one item (a dict) per index.

    Items follow the batch contract: `image` float (C, H, W) in [-1, 1], `label` int (-1 where there are
    no classes), `attrs` int64 (K,), `caption` str. A source without a `val` split is split by the
    datamodule.
    """

    version: int | None = None  # generator version for procedural sets; None for recorded data
    channels: int = 3
    attribute_names: list[str] = []
    attribute_values: dict[str, list[str]] = {}
    class_names: list[str] | None = None
    judge: str | None = None  # the shipped judge network that reads this data set (genlab.metrics.judges)

    # each data set implements these three (the interface every Source provides)
    def splits(self) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} must list its splits")

    def dataset(self, split: str) -> Dataset:
        raise NotImplementedError(f"{type(self).__name__} must give a Dataset per split")

    def item(self, split: str, index: int) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must give one example as the batch dict")

    def caption(self, split: str, index: int) -> str:
        """One caption without loading the image, where a source can (vocabularies read every caption)."""
        return self.item(split, index)["caption"]


class SourceDataset(Dataset):
    """A map-style view of one split of a source."""

    def __init__(self, source: Source, split: str, length: int):
        self.source, self.split, self.length = source, split, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        return self.source.item(self.split, index)


def to_image_tensor(img: Image.Image | np.ndarray, image_size: int, channels: int) -> torch.Tensor:
    """PIL image or HxW(xC) uint8 array -> float (C, S, S) in [-1, 1]: resize shorter side, centre crop."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    img = img.convert("RGB" if channels == 3 else "L")
    w, h = img.size
    if (w, h) != (image_size, image_size):
        scale = image_size / min(w, h)
        nw, nh = max(image_size, round(w * scale)), max(image_size, round(h * scale))
        img = img.resize((nw, nh), Image.BICUBIC if scale > 1 else Image.LANCZOS)
        left, top = (nw - image_size) // 2, (nh - image_size) // 2
        img = img.crop((left, top, left + image_size, top + image_size))
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(127.5).sub(1.0)


class ArraySource(Source):
    """An in-memory labelled set (uint8 images, int labels) with one attribute: its class."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: list[str], caption_format: str,
                 image_size: int, channels: int):
        self.channels = channels
        self.class_names = list(class_names)
        self.attribute_names = ["class"]
        self.attribute_values = {"class": self.class_names}
        self.caption_format = caption_format
        self.images = torch.stack([to_image_tensor(im, image_size, channels) for im in images])
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)

    def splits(self) -> list[str]:
        return ["train"]

    def dataset(self, split: str) -> Dataset:
        return SourceDataset(self, split, len(self.labels))

    def caption(self, split: str, index: int) -> str:
        return self.caption_format.format(name=self.class_names[int(self.labels[index])])

    def item(self, split: str, index: int) -> dict:
        label = int(self.labels[index])
        return {"image": self.images[index], "label": label, "attrs": self.labels[index : index + 1],
                "caption": self.caption_format.format(name=self.class_names[label])}
