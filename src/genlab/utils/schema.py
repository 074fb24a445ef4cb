"""Config values checked in one place: a rule per key (glob patterns allowed), applied at start-up.

Every entry point (train, sample, eval) checks its composed config against its table before anything is
built or written, and `GenerativeModel.save_hyperparameters` checks a model's own settings against
`MODEL`, whichever family and whether they come from a config, a notebook, a checkpoint or an export.
A new family gets these checks by naming its settings as the others do (`latent_dim`, `*width`, ...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from genlab.errors import ConfigError


@dataclass(frozen=True)
class Int:
    min: int | None = None
    max: int | None = None
    null: bool = False  # whether null (None) is allowed

    def problem(self, value) -> str | None:
        if value is None:
            return None if self.null else f"must be {self.describe()}"
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be {self.describe()}"
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return f"must be {self.describe()}"
        return None

    def describe(self) -> str:
        bounds = ("an integer" + (f" >= {self.min}" if self.min is not None else "")
                  + (f" and <= {self.max}" if self.max is not None else ""))
        return bounds + (" or null" if self.null else "")


@dataclass(frozen=True)
class Float:
    min: float | None = None
    max: float | None = None
    max_open: bool = False  # max itself excluded
    null: bool = False

    def problem(self, value) -> str | None:
        if value is None and self.null:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be {self.describe()}"
        too_big = self.max is not None and (value >= self.max if self.max_open else value > self.max)
        if (self.min is not None and value < self.min) or too_big:
            return f"must be {self.describe()}"
        return None

    def describe(self) -> str:
        lo = "" if self.min is None else f" >= {self.min}"
        hi = "" if self.max is None else f" {'<' if self.max_open else '<='} {self.max}"
        return f"a number{lo}{' and' if lo and hi else ''}{hi}" + (" or null" if self.null else "")


@dataclass(frozen=True)
class OneOf:
    values: tuple

    def problem(self, value) -> str | None:
        return None if value in self.values else f"must be one of {list(self.values)}"


@dataclass(frozen=True)
class Text:
    null: bool = False
    nonempty: bool = True

    def problem(self, value) -> str | None:
        if value is None and self.null:
            return None
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            return "must be a non-empty string" + (" or null" if self.null else "")
        return None


SEED = Int(0, 2**32 - 1)
POSITIVE = Int(1)
PRECISIONS = ("32-true", "32", 32, "16-mixed", "16", 16, "bf16-mixed", "bf16", "bf16-true", "16-true",
              "64-true", "64", 64, "transformer-engine")

# settings of every model family, by name (GenerativeModel.save_hyperparameters applies them)
MODEL = {
    "image_size": Int(1, 1024),
    "channels": Int(1, 4),
    "latent_dim": Int(1, 65_536),
    "code_dim": Int(1, 65_536),
    "codebook_size": Int(2, 1_048_576),
    "condition_dim": Int(1, 65_536),
    "*width": Int(1, 4096),
    "n_dis": Int(1, 100),
    "ema_decay": Float(0.0, 1.0, max_open=True),
    "ema_start": Int(0),
    "warmup_steps": Int(0),
    "beta": Float(0.0),
    "r1_gamma": Float(0.0),
    "min_snr_gamma": Float(0.0),
    "gp_weight": Float(0.0),
    "truncation": Float(0.0, null=True),
    "num_classes": Int(0, 1_000_000),
    "train_steps": Int(2, 1_000_000),
}

TRAIN = {
    "seed": SEED,
    "trainer.max_steps": POSITIVE,
    "trainer.num_nodes": Int(1, 100_000),
    "trainer.precision": OneOf(PRECISIONS),
    "trainer.log_every_n_steps": POSITIVE,
    "trainer.limit_val_batches": Float(0.0),
    "trainer.check_val_every_n_epoch": Int(1, null=True),
    "trainer.gradient_clip_val": Float(0.0, null=True),
    "data.image_size": Int(1, 1024),
    "data.channels": Int(1, 4),
    "data.batch_size": Int(1, 1_000_000),
    "data.num_workers": Int(0, 1024),
    "data.val_fraction": Float(0.0, 1.0, max_open=True),
    "data.split_seed": SEED,
    "callbacks.model_checkpoint.every_n_train_steps": Int(1, null=True),
    "callbacks.samples.num_samples": Int(1, 4096),
    "callbacks.progress_log.every_n_steps": POSITIVE,
    **{f"model.{k}": v for k, v in MODEL.items()},
}


def _leaves(node, prefix: str = ""):
    if isinstance(node, Mapping):
        for key, value in node.items():
            key = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                yield from _leaves(value, key)
            else:
                yield key, value


def check(values, rules: dict, prefix: str = "") -> None:
    """Raise a ConfigError naming the first value that breaks its rule. `values` is a mapping (a
    DictConfig is converted, resolved); keys absent from it are not checked."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(values, DictConfig):
        values = OmegaConf.to_container(values, resolve=True)
    flat, matched = dict(_leaves(values)), set()
    for pattern, rule in rules.items():  # in the table's order: data.* before the model.* it interpolates
        for key, value in flat.items():
            if key in matched or not fnmatchcase(key, pattern):
                continue
            matched.add(key)  # the first pattern that matches a key is its rule
            problem = rule.problem(value)
            if problem:
                raise ConfigError(f"{prefix}{key}={value!r} {problem}")


# ---- rules for the sample and eval entry points ------------------------------------------------------
@dataclass(frozen=True)
class Device:
    """A torch device this machine has: cpu, cuda, cuda:N or mps. `hint` is the fix for a missing one."""
    hint: str = "device=cpu"

    def problem(self, value) -> str | None:
        import torch

        if not isinstance(value, (str, torch.device)):
            return "is not a device; use cpu, cuda, cuda:N or mps"
        try:
            device = torch.device(value)
        except (RuntimeError, ValueError, TypeError):
            return "is not a device; use cpu, cuda, cuda:N or mps"
        if device.type == "cpu":
            return None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                return f"but this machine has no CUDA device; use {self.hint}"
            count = torch.cuda.device_count()
            if device.index is not None and device.index >= count:
                return f"but this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            return None
        if device.type == "mps":
            return None if torch.backends.mps.is_available() else f"but this machine has no MPS device; use {self.hint}"
        return "is not a device genlab runs on; use cpu, cuda, cuda:N or mps"


@dataclass(frozen=True)
class OutPath:
    """A path to write. Its nearest existing ancestor must be a writable directory. `folder`: a path ending
    in / (or an existing directory) is a folder to write files into; otherwise a directory is refused.
    `suffixes`: a file path must end with one of them."""
    folder: bool = False
    suffixes: tuple = ()
    example: str = ""  # a file name to suggest inside a directory given where a file is wanted

    def problem(self, value) -> str | None:
        import os
        from pathlib import Path

        if not isinstance(value, str) or not value.strip():
            return "must be a non-empty path"
        path = Path(value)
        slash = value.endswith(("/", os.sep))
        if slash and path.exists() and not path.is_dir():
            return f"ends with / (a folder) but {path} is an existing file"
        as_folder = slash or path.is_dir()
        if as_folder and not self.folder:
            what = "is an existing directory" if path.is_dir() else "ends with / (a folder)"
            return f"{what}; give a file path" + (f" such as {path / self.example}" if self.example else "")
        if not as_folder and self.suffixes and path.suffix.lower() not in self.suffixes:
            return (f"must end with {', '.join(self.suffixes)}" + (" (one image grid) or / (a folder of PNGs)"
                                                                   if self.folder else ""))
        for parent in ([path] if as_folder else []) + list(path.parents):
            if parent.exists():
                if not parent.is_dir():
                    return f"cannot be written: {parent} is an existing file, not a directory"
                if not os.access(parent, os.W_OK | os.X_OK):
                    return f"cannot be written: {parent} is not writable"
                return None
        return None


@dataclass(frozen=True)
class ListOf:
    """A non-empty list whose items are each one of `values`."""
    values: tuple

    def problem(self, value) -> str | None:
        if not isinstance(value, (list, tuple)) or not value or any(v not in self.values for v in value):
            return f"must be a non-empty list of {list(self.values)}"
        return None


BOOL = OneOf((True, False))
DEVICE = Device()

# python -m genlab.sample (conf/sample.yaml); ckpt_path is checked first, for its own message
SAMPLE = {
    "ckpt_path": Text(),
    "num_samples": Int(1, 100_000),
    "out": OutPath(folder=True, suffixes=(".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")),
    "seed": SEED,
    "prompts_file": Text(null=True),
    "mode": OneOf(("sample", "interpolate", "traverse")),
    "steps": Int(1, 1024),
    "dims": Int(1, 4096),
    "span": Float(0.0, 100.0),
    "nrow": Int(1, 4096, null=True),
    "device": DEVICE,
    "generate.truncation": MODEL["truncation"],  # other generate.* values are checked by the model's generate
}

# python -m genlab.eval (conf/eval.yaml)
EVAL = {
    "ckpt_path": Text(null=True),
    "images_dir": Text(null=True),
    "dataset": Text(null=True),
    "data_root": Text(null=True),
    "split": Text(),
    "metrics": ListOf(("fid", "kid", "pr", "is", "cond_acc")),
    "feature_extractor": OneOf(("judge", "inception")),
    "inception_weights": Text(null=True),
    "num_samples": Int(2, 1_000_000),
    "is_splits": Int(1, 10_000),
    "cache": BOOL,
    "cache_dir": Text(null=True),
    "batch_size": Int(1, 100_000),
    "seed": SEED,
    "out": OutPath(example="metrics.json"),
    "device": DEVICE,
}
