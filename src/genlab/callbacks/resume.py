"""Exact resume: the position in the epoch's data order and the global random states travel in checkpoints.

Lightning alone replays a resumed epoch from its first batch and restores no random state. This callback
saves (as tensors and ints, so checkpoints stay `weights_only`-loadable) the torch, CUDA, numpy and python
RNG states and how many batches of the current epoch were consumed. On resume it makes the sampler skip
those batches, and restores the RNG states at the first resumed batch, after the new data iterator has
drawn its own seed, so the resumed run continues exactly where the checkpoint left it.
"""

from __future__ import annotations

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


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    meta = state["numpy_meta"].tolist()
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), meta[0], meta[1],
                         float(state["numpy_gauss"])))
    version, has_gauss = state["python_meta"].tolist()
    gauss = float(state["python_gauss"]) if has_gauss else None
    random.setstate((version, tuple(state["python"].tolist()), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


class ResumeState(Callback):
    def __init__(self):
        self.epoch, self.position = 0, 0  # batches of that epoch consumed
        self._pending: dict | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._pending is None:
            self.position = 0

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
        if self._pending is not None:
            restore_rng(self._pending["rng"])
            self._pending = None
