"""Exact resume: the position in the epoch's data order travels in checkpoints, and every training step
draws its random numbers from a seed of its own.

Lightning alone replays a resumed epoch from its first batch and restores no random state. This callback
saves how many batches of the current epoch were consumed, and on resume makes the sampler skip them.
Randomness is made independent of where a run was interrupted by seeding the global torch, CUDA, numpy
and python generators at the start of every training step from (seed, step): whatever ran between
two steps (validation, a sample grid, a data loader drawing its base seed at an epoch start, a save, a
restart) cannot shift the random numbers of the next step. So a run resumed from a checkpoint written
mid-epoch, on the last batch of an epoch, after validation, or at the end of a finished run that is then
extended, continues exactly as the uninterrupted run does. Every rank of a distributed run is seeded
alike: draws for training examples are made for the global batch and sliced (genlab.utils.distributed),
so the ranks draw different numbers for different examples, as one process would. The RNG states are
still saved (as tensors, so checkpoints stay `weights_only`-loadable) for inspection.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch
from pytorch_lightning import Callback
from pytorch_lightning.utilities import rank_zero_warn


def capture_rng() -> dict:
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_meta": torch.tensor([np_state[2], np_state[3]], dtype=torch.int64),
        "numpy_gauss": torch.tensor(np_state[4], dtype=torch.float64),
        "python": torch.tensor(py_state, dtype=torch.int64),
        "python_meta": torch.tensor([py_version, 0 if py_gauss is None else 1], dtype=torch.int64),
        "python_gauss": torch.tensor(0.0 if py_gauss is None else py_gauss, dtype=torch.float64),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def step_seed(seed: int, step: int) -> int:
    """A 63-bit seed for one training step, the same on every rank, well mixed (no two steps share a
    stream). The ":0" once named the rank: kept, so earlier runs resume with the same numbers."""
    digest = hashlib.blake2b(f"genlab:{seed}:{step}:0".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seed_step(seed: int, step: int) -> None:
    value = step_seed(seed, step)
    torch.manual_seed(value)  # also every CUDA device
    np.random.seed(value % 2**32)
    random.seed(value)


class ResumeState(Callback):
    """Args: seed: the run's seed (default: the one `seed_everything` set, else 0)."""

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self.epoch, self.position = 0, 0  # batches of that epoch consumed
        self._pending: dict | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        from genlab.data.datamodule import SeededShuffle

        if self._pending is None:
            self.position = 0
        # Lightning sets the sampler's epoch from a progress counter that is one ahead after a restart from
        # a checkpoint written at an epoch's end (after its validation); the epoch it trains is the truth
        sampler = getattr(trainer.train_dataloader, "sampler", None)
        if isinstance(sampler, SeededShuffle):
            sampler.set_epoch(trainer.current_epoch)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # runs before the checkpoint callback, which Lightning always puts last
        self.epoch, self.position = trainer.current_epoch, batch_idx + 1

    def state_dict(self) -> dict:
        return {"rng": capture_rng(), "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer, pl_module) -> None:
        from genlab.data.datamodule import SeededShuffle

        if self._pending is None:
            return
        position = int(self._pending.get("position", 0))
        loader = trainer.train_dataloader
        if 0 < position < trainer.num_training_batches and self._pending.get("epoch") == trainer.current_epoch:
            sampler = getattr(loader, "sampler", None)
            if isinstance(sampler, SeededShuffle):
                sampler.skip = position * loader.batch_size
                self.position = position
            else:
                rank_zero_warn(f"resuming mid-epoch with a {type(sampler).__name__}: the epoch's data order "
                               f"restarts from its first batch, so the run will not match an uninterrupted one")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._pending = None
        seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", "0") or 0)
        seed_step(seed, trainer.global_step)


def checkpoint_differences(a: dict, b: dict) -> list[str]:
    """What differs between two checkpoints' step, epoch, weights and optimizer states (empty: bit-identical).
    The check behind genlab's exact-resume guarantee (tests/test_resume.py, experiments/resume_trials.py)."""

    def flat(obj, prefix=""):
        if isinstance(obj, torch.Tensor):
            yield prefix, obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                yield from flat(v, f"{prefix}/{k}")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                yield from flat(v, f"{prefix}/{i}")

    found = [f"{key} {a.get(key)} vs {b.get(key)}" for key in ("global_step", "epoch") if a.get(key) != b.get(key)]
    for part in ("state_dict", "optimizer_states"):
        ta, tb = dict(flat(a.get(part))), dict(flat(b.get(part)))
        if not ta or ta.keys() != tb.keys():
            found.append(f"{part}: the tensors are not the same set")
            continue
        found += [f"{part}{k}" for k in ta if not torch.equal(ta[k], tb[k])]
    return found
