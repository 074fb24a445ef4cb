"""`genlab.load(path)`: a checkpoint in, a model ready to `generate` out, without knowing its class."""

from __future__ import annotations

import importlib
import json
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
    except Exception as exc:  # noqa: BLE001 - torch.load of arbitrary bytes raises IndexError, KeyError, ... too
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated, corrupted or not saved with "
                              f"safe types): {load_error_detail(exc)}") from None
    if not isinstance(ckpt, dict) or "genlab" not in ckpt or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a genlab checkpoint (it has no 'genlab' metadata); "
                              f"train it with genlab.train or load it with the library that wrote it")
    check_metadata(ckpt, path)
    return ckpt


def check_metadata(ckpt: dict, path) -> None:
    """The genlab block names a format this version reads and a class as a string; hyperparameters are a
    mapping whose `_target_`s (if any) are on the allow-list."""
    from genlab.utils.trusted import check_targets

    meta = ckpt.get("genlab")
    fmt = meta.get("format_version") if isinstance(meta, dict) else None
    if not isinstance(fmt, int) or fmt > CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {fmt!r}; this genlab reads up to "
                              f"{CHECKPOINT_FORMAT}: upgrade genlab")
    if not isinstance(meta.get("class"), str):
        raise CheckpointError(f"{path} has genlab metadata without a model class name (class="
                              f"{meta.get('class')!r}); it was not written by genlab.train or genlab.export")
    hparams = ckpt.get("hyper_parameters", {})
    if not isinstance(hparams, dict):
        raise CheckpointError(f"{path} has hyperparameters of type {type(hparams).__name__}, not a mapping")
    check_targets(hparams, f"{path} (hyperparameters)")


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


def read_export(folder: Path, map_location="cpu") -> dict:
    """An exported folder (model.safetensors + config.json) as a checkpoint-like dict."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    if not (config_path.is_file() and weights_path.is_file()):
        if (folder / "checkpoints").is_dir():
            raise CheckpointError(f"{folder} is a run directory, not a checkpoint: load "
                                  f"{folder / 'checkpoints' / 'last.ckpt'} (or another file in checkpoints/)")
        raise CheckpointError(f"{folder} is not a genlab export: it needs config.json and model.safetensors")
    try:
        config = json.loads(config_path.read_text())
        state_dict = load_file(str(weights_path), device=str(map_location))
    except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"{folder} holds an unreadable export ({type(exc).__name__}: {exc})") from None
    if not isinstance(config, dict) or "genlab" not in config:
        raise CheckpointError(f"{config_path} is not a genlab export config (no 'genlab' key)")
    return {"genlab": config["genlab"], "hyper_parameters": config.get("hyper_parameters", {}),
            "state_dict": state_dict}


def load(path: str | Path, map_location="cpu", eval: bool = True) -> GenerativeModel:
    """Load any genlab checkpoint (.ckpt) or export folder (from `genlab.export`): the right class, its
    hyperparameters and weights (EMA included), in eval mode."""
    path = Path(path)
    check_device(map_location)
    if path.is_dir() or path.suffix == ".safetensors":
        ckpt = read_export(path if path.is_dir() else path.parent, map_location)
        check_metadata(ckpt, path)
    else:
        ckpt = read_checkpoint(path, map_location)
    cls = model_class(ckpt["genlab"]["class"])
    hparams = cls.upgrade_hparams(ckpt.get("hyper_parameters", {}))
    check_shapes(cls, hparams, ckpt["state_dict"], path)
    try:
        model = cls(**hparams)
        model.on_load_checkpoint(ckpt)
        model.load_state_dict(ckpt["state_dict"])
    except (TypeError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path} does not match the {cls.__name__} of this genlab version: {first[:200]}") from None
    return model.eval() if eval else model


def load_error_detail(exc: Exception) -> str:
    """torch.load's error in a few words: its first sentence, or the class a weights-only load refused."""
    import re

    text = " ".join(str(exc).split())
    unsafe = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if unsafe:
        return f"it needs the Python class {unsafe.group(1)}, which genlab never unpickles"
    first = re.split(r"(?<=[^.]{3})\. ", text, maxsplit=1)[0].rstrip(".")
    return f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__


def check_device(map_location) -> None:
    """A device named by a string (or torch.device) must exist here: torch.load onto a missing CUDA device
    fails in a way that reads like a corrupt file."""
    from genlab.errors import ConfigError
    from genlab.utils.schema import Device

    if isinstance(map_location, (str, torch.device)):
        problem = Device(hint="map_location='cpu'").problem(map_location)
        if problem:
            raise ConfigError(f"map_location={str(map_location)!r} {problem}")


def check_shapes(cls, hparams: dict, state_dict: dict, path) -> None:
    """Build the model on the meta device (no memory) and compare its tensor shapes with the file's, so
    hyperparameters that would allocate more than the file holds (a `latent_dim` of 10^12) are refused
    before anything is allocated."""
    try:
        with torch.device("meta"):
            skeleton = cls(**hparams)
        expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    except (TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} holds hyperparameters that {cls.__name__} cannot be built from: "
                              f"{first[:200]}") from None
    given = {k: tuple(v.shape) for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    wrong = sorted(k for k in expected if k in given and expected[k] != given[k])
    if wrong:
        k = wrong[0]
        raise CheckpointError(f"{path} does not match its hyperparameters: {k} is {list(given[k])} in the file "
                              f"but {list(expected[k])} for {cls.__name__} ({len(wrong)} tensor(s) differ)")


def export(model_or_path, folder: str | Path) -> Path:
    """Write `model.safetensors` (weights only, no pickle) and `config.json` (class, format version,
    hyperparameters) into `folder`; `genlab.load(folder)` reads them back. A family may add files for other
    tools beside them (`export_extra`: a diffusion model's diffusers pipeline)."""
    from safetensors.torch import save_file

    from genlab import __version__

    model = model_or_path if isinstance(model_or_path, GenerativeModel) else load(model_or_path)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cls = type(model)
    config = {"genlab": {"format_version": CHECKPOINT_FORMAT, "version": __version__,
                         "class": f"{cls.__module__}.{cls.__qualname__}"},
              "hyper_parameters": dict(model.hparams)}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    model.export_extra(folder)
    return folder
