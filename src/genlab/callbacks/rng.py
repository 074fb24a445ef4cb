"""Saves the global random states (torch, CUDA, numpy, python) in checkpoints as tensors, restores on resume."""

from __future__ import annotations

import random

import numpy as np
import torch
from pytorch_lightning import Callback


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


class RNGState(Callback):
    def state_dict(self) -> dict:
        return capture_rng()

    def load_state_dict(self, state_dict: dict) -> None:
        restore_rng(state_dict)
