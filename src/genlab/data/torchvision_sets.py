"""Recorded data sets through torchvision: downloaded on demand into `root`, one clear error offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from genlab.data.base import Source, SourceDataset
from genlab.data.bundled import DIGIT_NAMES
from genlab.errors import DataUnavailableError
from genlab.utils.images import to_image_tensor


class TorchvisionSource(Source):
    """Base for torchvision sets. Subclasses name the class, the files expected and how to read an item."""

    name = ""
    folder = ""  # where torchvision keeps the files, under root
    expected_files: list[str] = []
    split_args: dict[str, dict] = {"train": {"train": True}, "test": {"train": False}}

    def __init__(self, root: str = "data", image_size: int = 32, download: bool = True):
        self.root, self.image_size, self.download = Path(root).expanduser(), image_size, download
        self._sets: dict[str, object] = {}

    def _make(self, split: str, download: bool):
        raise NotImplementedError(f"{type(self).__name__} must build its torchvision data set")

    def _open(self, split: str, download: bool):
        try:
            return self._make(split, download)
        except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, URLError, OSError... for one cause
            why = "downloading them failed" if download else "download is off (data.source.download=false)"
            raise DataUnavailableError(
                f"{self.name}: the files are not in {self.root / self.folder} (expected "
                f"{', '.join(self.expected_files)}) and {why} ({type(exc).__name__}: {str(exc)[:200]}); "
                f"put them there, or run once where the network is reachable.") from None

    def prepare(self) -> None:
        for split in self.splits():
            self._open(split, self.download)

    def splits(self) -> list[str]:
        return list(self.split_args)

    def dataset(self, split: str) -> Dataset:
        if split not in self._sets:
            self._sets[split] = self._open(split, self.download)
        return SourceDataset(self, split, len(self._sets[split]))

    def item(self, split: str, index: int) -> dict:
        ds = self._sets[split]
        image, target = self._raw(ds, index)
        label = int(target)
        return {"image": to_image_tensor(image, self.image_size, self.channels), "label": label,
                "attrs": torch.tensor([label], dtype=torch.int64),
                "caption": self.caption_format.format(name=self.class_names[label])}

    def _raw(self, ds, index: int):
        return ds[index]


class _ClassificationSource(TorchvisionSource):
    caption_format = "{name}"

    def __init__(self, root: str = "data", image_size: int = 32, download: bool = True):
        super().__init__(root, image_size, download)
        self.attribute_names = ["class"]
        self.attribute_values = {"class": self.class_names}

    def _make(self, split: str, download: bool):
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, type(self).__name__)  # same name as torchvision's
        return dataset_class(str(self.root), download=download, **self.split_args[split])

    def _raw(self, ds, index: int):
        data = ds.data[index]
        return (data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)), ds.targets[index]


class MNIST(_ClassificationSource):
    name, folder, channels = "mnist", "MNIST/raw", 1
    expected_files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    class_names = DIGIT_NAMES
    caption_format = "a handwritten digit {name}"


class FashionMNIST(_ClassificationSource):
    name, folder, channels = "fashion_mnist", "FashionMNIST/raw", 1
    expected_files = MNIST.expected_files
    class_names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot"]
    caption_format = "a photo of a {name}"


class CIFAR10(_ClassificationSource):
    name, folder, channels = "cifar10", "cifar-10-batches-py", 3
    expected_files = ["data_batch_1", "...", "data_batch_5", "test_batch", "batches.meta"]
    class_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    caption_format = "a photo of a {name}"


class CelebA(TorchvisionSource):
    """CelebA aligned faces: 40 binary attributes, no classes (label -1), captions from a few attributes."""

    name, folder, channels = "celeba", "celeba", 3
    expected_files = ["img_align_celeba/", "list_attr_celeba.txt", "identity_CelebA.txt", "list_bbox_celeba.txt",
                      "list_landmarks_align_celeba.txt", "list_eval_partition.txt"]
    split_args = {"train": {"split": "train"}, "val": {"split": "valid"}, "test": {"split": "test"}}
    class_names = None
    _HAIR = {"Black_Hair": "black", "Blond_Hair": "blond", "Brown_Hair": "brown", "Gray_Hair": "grey"}

    def _make(self, split, download):
        from torchvision.datasets import CelebA as TV

        ds = TV(str(self.root), target_type="attr", download=download, **self.split_args[split])
        self.attribute_names = list(ds.attr_names[:40])
        self.attribute_values = {a: ["no", "yes"] for a in self.attribute_names}
        return ds

    def item(self, split: str, index: int) -> dict:
        image, attrs = self._sets[split][index]
        on = {a for a, v in zip(self.attribute_names, attrs.tolist()) if v}
        who = "man" if "Male" in on else "woman"
        mood = "smiling " if "Smiling" in on else ""
        hair = next((f" with {c} hair" for a, c in self._HAIR.items() if a in on), "")
        glasses = " wearing glasses" if "Eyeglasses" in on else ""
        return {"image": to_image_tensor(image, self.image_size, self.channels), "label": -1,
                "attrs": attrs.to(torch.int64), "caption": f"a photo of a {mood}{who}{hair}{glasses}"}
