"""What every data set provides, and the dict items the shared datamodule collates into batches."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from genlab.utils.images import to_image_tensor


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
