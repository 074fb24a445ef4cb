"""The one LightningDataModule every model trains on.

A batch is a dict: `image` float (B, C, H, W) in [-1, 1]; `label` int64 (B,), -1 where the data set has no
classes; `attrs` int64 (B, K) with `attribute_names` / `attribute_values`; `caption` list of B str.
"""

from __future__ import annotations

import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from genlab.data.base import Source
from genlab.errors import ConfigError


class SeededShuffle(Sampler[int]):
    """A fresh permutation each epoch that depends only on (seed, epoch), so data order is reproducible.

    In a distributed run (`world` > 1) the permutation is cut into global batches of `batch_size` x `world`
    indices (the incomplete last one dropped) and rank `rank` takes the `rank`-th contiguous share of each:
    together the ranks see the global batches a single process with batch `batch_size` x `world` sees.
    """

    def __init__(self, length: int, seed: int, rank: int = 0, world: int = 1, batch_size: int = 1):
        self.length, self.seed, self.epoch = length, seed, 0
        self.rank, self.world, self.batch_size = rank, world, batch_size
        self.skip = 0  # indices of this rank to skip in the next pass only: a run resumed mid-epoch (ResumeState)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.length, generator=gen).tolist()
        if self.world > 1:
            step, b = self.batch_size * self.world, self.batch_size
            order = [i for start in range(0, len(self) * self.world, step)
                     for i in order[start + self.rank * b:start + (self.rank + 1) * b]]
        skip, self.skip = self.skip, 0
        return iter(order[skip:])

    def __len__(self) -> int:
        if self.world == 1:
            return self.length
        return self.length // (self.batch_size * self.world) * self.batch_size


class GenDataModule(LightningDataModule):
    """Wraps a `Source` (shapes, digits, a folder, ...): splits, loaders, and the data set's metadata.

    `image_size` and `channels` are declared once here (the data config) and reach models by interpolation.
    What the data set holds (its classes, attributes and judge network) is stated by its source and read
    from here (`num_classes`, `attribute_sizes`, `judge`). A source without its own `val` split is split
    with `val_fraction`, by a permutation seeded by `split_seed`. `options` are a data set's own top-level
    settings (`root`, `skip_corrupt` for `folder`), declared at the top of its config so the command line
    stays short (`data.root=...`); they reach the source by interpolation. Run configs saved before the
    sources stated their metadata also hold `num_classes`, `attribute_sizes` and `judge` here: the
    source's own values are used.
    """

    def __init__(self, source: Source, image_size: int, channels: int, batch_size: int = 64,
                 num_workers: int = 0, val_fraction: float = 0.1, split_seed: int = 0, seed: int = 0,
                 pin_memory: bool = False, **options):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"data.batch_size={batch_size!r} must be a positive integer")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction={val_fraction!r} must be in [0, 1)")
        if source.channels != channels:
            raise ConfigError(f"data.channels={channels} but the data set has {source.channels} channel(s); "
                              f"set data.channels={source.channels}")
        self.source, self.image_size, self.channels = source, image_size, channels
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.split_seed, self.seed = val_fraction, split_seed, seed
        self.datasets: dict[str, Dataset] = {}

    # metadata, as the source states it -------------------------------------------------------------
    @property
    def attribute_names(self) -> list[str]:
        return list(self.source.attribute_names)

    @property
    def attribute_values(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.source.attribute_values.items()}

    @property
    def attribute_sizes(self) -> list[int]:
        return [len(self.source.attribute_values[a]) for a in self.source.attribute_names]

    @property
    def class_names(self) -> list[str] | None:
        return None if self.source.class_names is None else list(self.source.class_names)

    @property
    def num_classes(self) -> int:
        return 0 if self.source.class_names is None else len(self.source.class_names)

    @property
    def judge(self) -> str | None:
        """The shipped judge network that reads this data set (genlab.metrics.judges), or None."""
        return self.source.judge

    # Lightning hooks -------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        prepare = getattr(self.source, "prepare", None)
        if prepare is not None:
            prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        native = self.source.splits()
        for split in native:
            self.datasets[split] = self.source.dataset(split)
        if "val" not in native:
            full = self.datasets["train"]
            n_val = round(len(full) * self.val_fraction)
            order = torch.randperm(len(full), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
            self.datasets["train"] = Subset(full, order[n_val:])
            if n_val:
                self.datasets["val"] = Subset(full, order[:n_val])
        if len(self.datasets["train"]) == 0:
            raise ConfigError("the training split is empty; lower data.val_fraction or add data")

    def loader(self, split: str, shuffle: bool = False, batch_size: int | None = None) -> DataLoader:
        """A split's loader; `shuffle` for training: reshuffled each epoch by `SeededShuffle`, and in a
        distributed run sharded by rank (the batch size, `data.batch_size`, is the global one)."""
        self.setup()
        if split not in self.datasets:
            raise ConfigError(f"the data set has no {split!r} split; it has {sorted(self.datasets)}")
        ds = self.datasets[split]
        bs = batch_size or self.batch_size
        sampler = None
        if shuffle:
            rank, world = self.rank_world()
            if bs % world:
                raise ConfigError(f"data.batch_size={bs} is the global batch and must divide evenly among the "
                                  f"{world} processes; use a multiple of {world}")
            if world > 1 and len(ds) < bs:
                raise ConfigError(f"the training split has {len(ds)} examples, fewer than one global batch "
                                  f"(data.batch_size={bs}); lower data.batch_size")
            bs //= world
            sampler = SeededShuffle(len(ds), self.seed, rank, world, bs)
        return DataLoader(ds, batch_size=bs, num_workers=self.num_workers, pin_memory=self.pin_memory,
                          sampler=sampler, drop_last=shuffle and len(ds) >= bs,
                          persistent_workers=self.num_workers > 0)

    def rank_world(self) -> tuple[int, int]:
        """(rank, processes) of the trainer this datamodule serves; (0, 1) without one."""
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        self.setup()
        return self.loader("val") if "val" in self.datasets else []

    def test_dataloader(self) -> DataLoader:
        return self.loader("test" if "test" in self.datasets else "val")

    def captions(self, split: str = "train") -> list[str]:
        """Every caption of a split, in order (cheap: images are not loaded where the source allows)."""
        self.setup()
        ds = self.datasets[split]
        base, indices = (ds.dataset, ds.indices) if isinstance(ds, Subset) else (ds, range(len(ds)))
        return [base.source.caption(base.split, i) for i in indices]

    def sample_batch(self, split: str = "train", n: int | None = None) -> dict:
        """The first `n` items of a split, collated: handy in notebooks and tests."""
        return next(iter(self.loader(split, batch_size=n)))
