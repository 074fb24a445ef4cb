"""The batch contract on every embedded data set, a folder, and torchvision-format files written here."""

from __future__ import annotations

import gzip
import json
import struct
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import GenDataModule
from genlab.data.folder import Folder
from genlab.data.shapes import COLOURS, POSITIONS, SHAPES, SIZES, Shapes, caption_of
from genlab.data.torchvision_sets import CIFAR10, MNIST, CelebA, FashionMNIST
from genlab.errors import ConfigError, CorruptDataError, DataUnavailableError
from genlab.utils.config import make


def check_batch(batch: dict, n: int, channels: int, size: int, k: int) -> None:
    assert set(batch) == {"image", "label", "attrs", "caption"}
    img = batch["image"]
    assert img.shape == (n, channels, size, size) and img.dtype == torch.float32
    assert img.min() >= -1.0 and img.max() <= 1.0 and img.std() > 0.05
    assert batch["label"].shape == (n,) and batch["label"].dtype == torch.int64
    assert batch["attrs"].shape == (n, k) and batch["attrs"].dtype == torch.int64
    assert isinstance(batch["caption"], list) and len(batch["caption"]) == n
    assert all(isinstance(c, str) for c in batch["caption"])


def test_shapes_batch_captions_match_attributes(make_cfg):
    dm = make(make_cfg(["data=shapes"]).data)
    batch = dm.sample_batch("train", 32)
    check_batch(batch, 32, 3, 32, 4)
    assert dm.attribute_names == ["shape", "colour", "size", "position"]
    assert [len(dm.attribute_values[a]) for a in dm.attribute_names] == [4, 6, 2, 5]
    for attrs, label, caption in zip(batch["attrs"].tolist(), batch["label"].tolist(), batch["caption"]):
        names = [dm.attribute_values[a][v] for a, v in zip(dm.attribute_names, attrs)]
        assert caption == caption_of(*names)
        assert label == attrs[0]


def test_shapes_colour_and_position_are_visible():
    # the drawn pixels must carry the attributes, or every conditional model is judged on noise
    src = Shapes(image_size=32, jitter=False)
    for index in range(40):
        item = src.item("train", index)
        _, colour, _, position = item["attrs"].tolist()
        img = (item["image"] + 1) * 127.5
        mask = img.sum(0) > 60
        ys, xs = torch.nonzero(mask, as_tuple=True)
        cy, cx = ys.float().mean() / 32, xs.float().mean() / 32
        expect_x = 0.5 if POSITIONS[position] == "center" else (0.27 if "left" in POSITIONS[position] else 0.73)
        expect_y = 0.5 if POSITIONS[position] == "center" else (0.27 if "top" in POSITIONS[position] else 0.73)
        assert abs(float(cx) - expect_x) < 0.08 and abs(float(cy) - expect_y) < 0.08
        core = img.sum(0) > 0.9 * img.sum(0).max()  # inside the shape, away from antialiased edges
        mean_rgb = img[:, core].mean(1)
        want = torch.tensor(COLOURS[list(COLOURS)[colour]], dtype=torch.float32)
        assert torch.dist(mean_rgb, want) < 25, (colour, mean_rgb)
    small = Shapes(jitter=False).item("train", 0)
    assert SIZES == ["small", "large"] and small["image"].shape == (3, 32, 32)


def test_shapes_is_deterministic_and_holds_out_pairs():
    a, b = Shapes(num_train=200, num_heldout=200), Shapes(num_train=200, num_heldout=200)
    for i in (0, 7, 199):
        assert torch.equal(a.item("train", i)["image"], b.item("train", i)["image"])
    other = Shapes(seed=1)
    assert not all(torch.equal(a.item("train", i)["image"], other.item("train", i)["image"]) for i in range(5))
    held = {(SHAPES.index("circle"), list(COLOURS).index("green")), (SHAPES.index("square"), list(COLOURS).index("red")),
            (SHAPES.index("triangle"), list(COLOURS).index("blue"))}
    train_pairs = {tuple(a.item("train", i)["attrs"][:2].tolist()) for i in range(200)}
    val_pairs = {tuple(a.item("val", i)["attrs"][:2].tolist()) for i in range(200)}
    held_items = [a.item("heldout", i)["attrs"].tolist() for i in range(200)]
    assert not (train_pairs | val_pairs) & held
    assert {tuple(x[:2]) for x in held_items} == held
    assert {x[2] for x in held_items} == {0, 1} and {x[3] for x in held_items} == set(range(5))
    assert a.version >= 1


def test_shapes_bad_heldout_pair_is_named():
    with pytest.raises(ConfigError, match="purple circle"):
        Shapes(heldout_pairs=["purple circle"])


def test_digits_batches(make_cfg):
    dm = make(make_cfg(["data=digits"]).data)
    dm.setup()
    assert len(dm.datasets["train"]) + len(dm.datasets["val"]) == 1797
    assert len(dm.datasets["val"]) == 180
    batch = dm.sample_batch("train", 50)
    check_batch(batch, 50, 1, 16, 1)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert batch["caption"] == [f"a handwritten digit {names[i]}" for i in batch["label"].tolist()]
    assert torch.equal(batch["attrs"][:, 0], batch["label"])
    # a deterministic split: same seed, same validation set
    again = make(make_cfg(["data=digits"]).data)
    again.setup()
    assert dm.datasets["val"].indices == again.datasets["val"].indices


def test_mnist5k_is_shuffled_before_splitting(make_cfg):
    dm = make(make_cfg(["data=mnist5k"]).data)
    dm.setup()
    assert len(dm.datasets["train"]) == 4500 and len(dm.datasets["val"]) == 500
    val_labels = dm.sample_batch("val", 500)["label"]
    counts = torch.bincount(val_labels, minlength=10)
    assert counts.min() >= 30, counts  # the class-sorted file would give one or two classes here
    check_batch(dm.sample_batch("train", 16), 16, 1, 28, 1)


def test_data_order_follows_the_seed(make_cfg):
    first = [make(make_cfg(["data=digits", f"seed={s}"]).data) for s in (0, 0, 1)]
    labels = [next(iter(dm.train_dataloader()))["label"] for dm in first]
    assert torch.equal(labels[0], labels[1]) and not torch.equal(labels[0], labels[2])


def test_batch_size_zero_is_refused(make_cfg):
    with pytest.raises(ConfigError, match="data.batch_size=0"):
        make(make_cfg(["data.batch_size=0"]).data)


def test_channels_must_match_the_data():
    with pytest.raises(ConfigError, match="data.channels=1 but the data set has 3"):
        GenDataModule(Shapes(), image_size=32, channels=1)


# ---- folder ------------------------------------------------------------------------------------------
def write_png(path, colour, size=(20, 12)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_folder_recursive_with_captions(tmp_path):
    write_png(tmp_path / "a.png", (255, 0, 0))
    write_png(tmp_path / "sub" / "b.png", (0, 0, 255))
    write_png(tmp_path / "sub" / "deeper" / "c.jpg", (0, 255, 0))
    (tmp_path / "captions.jsonl").write_text(json.dumps({"file": "sub/b.png", "caption": "a blue card"}) + "\n")
    src = Folder(str(tmp_path), image_size=8)
    assert [p.name for p in src.files] == ["a.png", "b.png", "c.jpg"]
    items = [src.item("train", i) for i in range(3)]
    assert [it["caption"] for it in items] == ["", "a blue card", ""]
    assert items[1]["image"].shape == (3, 8, 8)
    assert torch.allclose(items[1]["image"][2], torch.ones(8, 8)) and torch.allclose(items[1]["image"][0], -torch.ones(8, 8))
    dm = GenDataModule(src, image_size=8, channels=3, batch_size=2, val_fraction=0.0)
    check_batch(dm.sample_batch("train", 3), 3, 3, 8, 0)
    assert dm.sample_batch("train", 3)["label"].tolist() == [-1, -1, -1]


def test_folder_corrupt_image_named_or_skipped(tmp_path):
    write_png(tmp_path / "good.png", (10, 20, 30))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(CorruptDataError, match="broken.png.*skip_corrupt=true"):
        Folder(str(tmp_path))
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        src = Folder(str(tmp_path), skip_corrupt=True)
    assert [p.name for p in src.files] == ["good.png"]


def test_folder_empty_or_missing(tmp_path):
    with pytest.raises(DataUnavailableError, match="no images"):
        Folder(str(tmp_path))
    with pytest.raises(DataUnavailableError, match="is not a directory"):
        Folder(str(tmp_path / "nope"))


def test_folder_malformed_captions_line_is_numbered(tmp_path):
    write_png(tmp_path / "a.png", (1, 2, 3))
    (tmp_path / "captions.jsonl").write_text('{"file": "a.png", "caption": "ok"}\n\n{"file": "a.png"\n')
    with pytest.raises(ConfigError, match="line 3"):
        Folder(str(tmp_path))


# ---- torchvision formats -----------------------------------------------------------------------------
def write_idx(folder, prefix, images: np.ndarray, labels: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.mark.parametrize("cls,folder", [(MNIST, "MNIST/raw"), (FashionMNIST, "FashionMNIST/raw")])
def test_torchvision_idx_files(tmp_path, cls, folder):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = (np.arange(12) % 10).astype(np.uint8)
    for prefix in ("train", "t10k"):
        write_idx(tmp_path / folder, prefix, images, labels)
    src = cls(root=str(tmp_path), image_size=28, download=False)
    dm = GenDataModule(src, image_size=28, channels=1, batch_size=4, val_fraction=0.25)
    dm.prepare_data()
    dm.setup()
    assert len(dm.datasets["train"]) == 9 and len(dm.datasets["val"]) == 3 and len(dm.datasets["test"]) == 12
    item = src.item("train", 3)
    assert torch.equal(((item["image"][0] + 1) * 127.5).round().to(torch.uint8), torch.from_numpy(images[3]))
    assert item["label"] == 3 and item["caption"].endswith(src.class_names[3])
    check_batch(dm.sample_batch("test", 4), 4, 1, 28, 1)


@pytest.mark.parametrize("cls,expected", [(CIFAR10, "data_batch_1"), (CelebA, "list_attr_celeba.txt"),
                                          (MNIST, "train-images-idx3-ubyte")])
def test_torchvision_missing_files_one_sentence(tmp_path, cls, expected):
    src = cls(root=str(tmp_path), download=False)
    with pytest.raises(DataUnavailableError) as info:
        src.prepare()
    message = str(info.value)
    assert str(tmp_path) in message and expected in message and "\n" not in message


def test_torchvision_offline_download_fails_clearly(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets.utils as tvu

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tvu, "download_and_extract_archive", offline)
    monkeypatch.setattr(tvu, "download_url", offline)
    import torchvision.datasets.mnist as tvm
    monkeypatch.setattr(tvm, "download_and_extract_archive", offline)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataUnavailableError, match="downloading them failed"):
            MNIST(root=str(tmp_path), download=True).prepare()


def test_gzip_idx_is_not_required(tmp_path):
    # torchvision reads unpacked idx files; a gz alone is not enough and the message must still be clear
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    with gzip.open(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"")
    with pytest.raises(DataUnavailableError, match="MNIST/raw"):
        MNIST(root=str(tmp_path), download=False).prepare()


@pytest.mark.parametrize("name,classes,sizes,judge", [
    ("shapes", 4, [4, 6, 2, 5], "shapes"), ("digits", 10, [10], "digits"), ("mnist5k", 10, [10], "mnist5k"),
])
def test_the_source_states_classes_attributes_and_judge_once(name, classes, sizes, judge):
    from genlab.utils.config import compose_train, make

    cfg = compose_train(f"data={name}")
    assert not {"num_classes", "attribute_sizes", "judge"} & set(cfg.data)  # not repeated in the config
    dm = make(cfg.data)
    assert (dm.num_classes, dm.attribute_sizes, dm.judge) == (classes, sizes, judge)
    assert len(dm.class_names) == classes and list(dm.attribute_values) == dm.attribute_names


def test_a_run_config_saved_with_data_metadata_still_builds():
    """Configs saved before the sources stated their metadata carry it in data:; the source's is used."""
    from genlab.utils.config import compose_train, make

    cfg = compose_train("data=digits")
    cfg.data = {**cfg.data, "num_classes": 10, "attribute_sizes": [10], "judge": "digits"}
    dm = make(cfg.data)
    assert dm.num_classes == 10 and dm.judge == "digits"
