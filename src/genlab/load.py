"""`genlab.load(path)`: a checkpoint in, a model ready to `generate` out, without knowing its class."""

from __future__ import annotations

import importlib
import pickle
import zipfile
from pathlib import Path

import torch

from genlab.errors import GenlabError
from genlab.models.base import CHECKPOINT_FORMAT, GenerativeModel


class CheckpointError(GenlabError):
    """A file is not a readable genlab checkpoint."""


def read_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """torch.load with weights_only=True (never unpickles arbitrary objects), with one-sentence errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated, corrupted or not saved with "
                              f"safe types): {first[:200]}") from None
    if not isinstance(ckpt, dict) or "genlab" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a genlab checkpoint (it has no 'genlab' metadata); "
                              f"train it with genlab.train or load it with the library that wrote it")
    fmt = ckpt["genlab"].get("format_version")
    if not isinstance(fmt, int) or fmt > CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {fmt!r}; this genlab reads up to "
                              f"{CHECKPOINT_FORMAT}: upgrade genlab")
    return ckpt


def model_class(name: str) -> type[GenerativeModel]:
    """Resolve a class path from a checkpoint, allowing only genlab's own model classes."""
    module_name, _, cls_name = name.rpartition(".")
    if not module_name.startswith("genlab.models."):
        raise CheckpointError(f"checkpoint names class {name!r}, which is not a genlab model; refusing to load it")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError):
        raise CheckpointError(f"checkpoint names model class {name!r}, which this genlab does not have") from None
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        raise CheckpointError(f"checkpoint names {name!r}, which is not a genlab model class")
    return cls


def load(path: str | Path, map_location="cpu", eval: bool = True) -> GenerativeModel:
    """Load any genlab checkpoint: the right class, its hyperparameters and weights (EMA included), eval mode."""
    ckpt = read_checkpoint(path, map_location)
    cls = model_class(ckpt["genlab"]["class"])
    model = cls(**ckpt.get("hyper_parameters", {}))
    model.on_load_checkpoint(ckpt)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval() if eval else model
