"""What genlab instantiates from a file it is handed: only classes on an allow-list.

A checkpoint, an export or a run folder is data. Hydra's `instantiate` calls whatever `_target_` names
(`os.system`, `torch.load` with `weights_only: false`, `pathlib.Path.write_text`), so every config node or
hyperparameter read from such a file goes through `check_targets` before anything is built from it.

A `_target_` is allowed when it resolves to
- a class defined in genlab (or one of the few genlab factory functions below),
- a torch optimizer or learning-rate scheduler (`torch.optim.*`),
- Lightning's Trainer, or one of Lightning's loggers, callbacks or strategies.
The check resolves the name and looks at the object it reaches, so a path through an imported module
(`genlab.utils.files.os.system`) is refused. Names outside these packages are refused without importing
anything. Third-party optimizers can be trusted by their exact class path in the environment variable
`GENLAB_TRUSTED_TARGETS` (comma-separated).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from genlab.errors import GenlabError

_PACKAGES = ("genlab.", "torch.optim.", "pytorch_lightning.")
_FACTORIES = {"genlab.utils.loggers.wandb_logger"}  # functions that only build a logger


class UntrustedTargetError(GenlabError):
    """A file names a `_target_` outside the allow-list."""


def _user_trusted() -> set[str]:
    return {t.strip() for t in os.environ.get("GENLAB_TRUSTED_TARGETS", "").split(",") if t.strip()}


def _resolves_to_allowed(name: str) -> bool:
    import torch
    from hydra.utils import get_object

    try:
        obj = get_object(name)
    except Exception:  # noqa: BLE001 - a name that does not resolve is simply not allowed
        return False
    module = getattr(obj, "__module__", "") or ""
    if not isinstance(obj, type):
        return name in _FACTORIES and module == "genlab.utils.loggers"
    if module.startswith("genlab."):
        return True
    if module.startswith("torch.optim"):
        return issubclass(obj, (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler))
    if module.startswith("pytorch_lightning."):
        from pytorch_lightning import Callback, Trainer
        from pytorch_lightning.loggers import Logger
        from pytorch_lightning.strategies import Strategy

        return obj is Trainer or issubclass(obj, (Logger, Callback, Strategy))
    return False


def is_allowed(target) -> bool:
    """Whether a `_target_` value names something genlab may instantiate from a file."""
    if not isinstance(target, str):
        return False
    if target in _user_trusted():
        return True
    return target.startswith(_PACKAGES) and _resolves_to_allowed(target)


def _targets(node, path: str = "") -> Iterable[tuple[str, object]]:
    """Every (dotted key, value) of a `_target_`, and of a string holding an interpolation, in nested
    mappings and lists."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                yield child, value
            else:
                yield from _targets(value, child)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}.{i}" if path else str(i))
    elif isinstance(node, str) and "${" in node:
        yield path, node


def check_targets(node, source: str, trusted_keys: Iterable[str] = ()) -> None:
    """Refuse (one sentence, nothing built) if `node` names a `_target_` outside the allow-list.

    `trusted_keys` are dotted keys whose value the user gave on this command line (not read from a file).
    """
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        node = OmegaConf.to_container(node, resolve=False)
    trusted = set(trusted_keys)
    for key, target in _targets(node):
        if key in trusted:
            continue
        if not key.endswith("_target_"):
            # resolvers such as oc.decode build nodes (a `_target_` too) when Hydra resolves them, after
            # this check: a file holds plain values, and genlab saves them resolved
            raise UntrustedTargetError(f"{source} holds an interpolation at {key} ({target[:80]!r}); genlab "
                                       f"saves configs and hyperparameters resolved, so this file was edited: "
                                       f"replace it with a plain value")
        if is_allowed(target):
            continue
        owner = key.rsplit(".", 1)[0] if "." in key else "(top level)"
        raise UntrustedTargetError(
            f"{source} names {key}={target!r}, which is not one of genlab's classes, a torch optimizer or "
            f"scheduler, or a Lightning trainer, logger or callback, so genlab will not instantiate it "
            f"(files are data, never code); remove {owner} from that file, or trust the class with "
            f"GENLAB_TRUSTED_TARGETS={target}")


def instantiate_trusted(node, source: str, **kwargs):
    """`make(node, **kwargs)` after `check_targets`: for config nodes that came from a file."""
    from genlab.utils.config import make

    check_targets(node, source)
    return make(node, **kwargs)
