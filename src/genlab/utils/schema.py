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
PRECISIONS = ("32-true", "32", 32, "16-mixed", "16", 16, "bf16-mixed", "bf16", "bf16-true", "16-true", "64-true", "64", 64,
              "transformer-engine")

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
    "gp_weight": Float(0.0),
    "truncation": Float(0.0, null=True),
    "num_classes": Int(0, 1_000_000),
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
