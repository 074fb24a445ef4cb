"""Resuming a run means resuming *its* config: the run directory's saved config, with changes on top.

A run directory keeps `config.yaml` (the first session's resolved config, never rewritten) and
`resumes.jsonl` (one line per resume: what was typed, which keys changed from what to what, and the step
the changes took effect). The config in force is config.yaml with every recorded change applied in order.

On resume only settings that can change mid-run may change: the trainer, logger and callbacks, the
optimizers' settings and learning-rate schedule, and the data loader's workers. The architecture, the data
set, its image size and batch size, and the seed are fixed by the checkpoint and the data order; changing
one is refused in one sentence. Nothing read from the run directory is instantiated unless its `_target_`
is on genlab's allow-list (genlab.utils.trusted), except nodes given again on this command line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError

MUTABLE = ("trainer.", "stage1.max_steps", "logger", "callbacks.", "paths.data_dir", "ckpt_path", "optimized_metric",
           "model.optim", "model.lr_decay", "model.warmup_steps", "model.compile", "model.channels_last",
           "data.num_workers", "data.pin_memory")
# presets that rewrite the whole config cannot be re-applied to a saved run; any other group's option is
# composed and compared key by key (so `model=gan` on a gan run changes nothing and is accepted)
GROUPS_THAT_CANNOT_BE_GIVEN = ("experiment", "hparams_search", "paths")
IGNORED = ("paths.output_dir", "ckpt_path", "hydra.")
_GONE = "<removed>"


def leaves(node, prefix: str = "") -> dict:
    """Flatten nested mappings into dotted keys (lists and scalars are values)."""
    if isinstance(node, dict) and node:
        out = {}
        for key, value in node.items():
            out.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node} if prefix else {}


def diff(old: dict, new: dict) -> dict[str, list]:
    """{key: [old value, new value]} for every leaf that differs (`<removed>` where a side lacks it)."""
    a, b = leaves(old), leaves(new)
    return {k: [a.get(k, _GONE), b.get(k, _GONE)] for k in sorted(a.keys() | b.keys())
            if a.get(k, _GONE) != b.get(k, _GONE) and not k.startswith(IGNORED)}


def _parent(cfg: dict, key: str, create: bool) -> tuple[dict | None, str]:
    *path, last = key.split(".")
    node = cfg
    for part in path:
        if not isinstance(node.get(part), dict):
            if not create:
                return None, last
            node[part] = {}
        node = node[part]
    return node, last


def apply_changes(cfg: dict, changes: dict[str, list]) -> dict:
    """Apply a recorded diff: removals first (pruning emptied mappings), then new values."""
    for key, (_, new) in changes.items():
        if new == _GONE:
            parent, last = _parent(cfg, key, create=False)
            if parent is not None:
                parent.pop(last, None)
    _prune(cfg)
    for key, (_, new) in changes.items():
        if new != _GONE:
            parent, last = _parent(cfg, key, create=True)
            parent[last] = new
    return cfg


def _prune(node: dict) -> None:
    for key in list(node):
        if isinstance(node[key], dict):
            _prune(node[key])
            if not node[key]:
                del node[key]


def saved_config(run_dir: Path) -> dict:
    """The config in force at the end of the last session: config.yaml plus every recorded change."""
    path = run_dir / "config.yaml"
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as exc:  # noqa: BLE001 - YAML, encoding and OS errors alike: the record is unusable
        raise ConfigError(f"{path} is not a readable run config ({type(exc).__name__}); resume needs the run's "
                          f"own config") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict) or not isinstance(cfg.get("data"), dict):
        raise ConfigError(f"{path} is not a genlab run config (no model: and data: sections)")
    for number, entry in enumerate(read_resumes(run_dir), start=1):
        if not isinstance(entry.get("changes"), dict):
            raise ConfigError(f"{run_dir / 'resumes.jsonl'} line {number} has no 'changes' mapping")
        apply_changes(cfg, entry["changes"])
    return upgrade_model_settings(cfg)


def upgrade_model_settings(cfg: dict) -> dict:
    """A run saved by an earlier genlab: its model settings as this version's model class takes them."""
    from hydra.utils import get_class

    target = cfg["model"].get("_target_")
    if isinstance(target, str) and target.startswith("genlab.models."):
        try:
            cls = get_class(target)
        except Exception:  # noqa: BLE001 - a class this genlab lacks is reported when the run is built
            return cfg
        cfg["model"] = cls.upgrade_hparams(cfg["model"])
    return cfg


def read_resumes(run_dir: Path) -> list[dict]:
    path = run_dir / "resumes.jsonl"
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not readable JSON lines ({type(exc).__name__}); resume needs it") from None


def _reroot(node, old: str, new: str):
    """Paths inside a moved or shared run folder point at the folder it is now."""
    if isinstance(node, dict):
        return {k: _reroot(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_reroot(v, old, new) for v in node]
    if isinstance(node, str) and old and (node == old or node.startswith(old.rstrip("/") + "/")):
        return new + node[len(old.rstrip("/")):]
    return node


def _group_node(group: str, option: str):
    from genlab.utils.config import compose_train

    try:
        return OmegaConf.to_container(compose_train(f"{group}={option}")[group], resolve=False)
    except Exception as exc:  # noqa: BLE001 - Hydra reports an unknown option in several ways
        raise ConfigError(f"{group}={option} is not an option of the {group} group ({type(exc).__name__})") from None


def apply_overrides(cfg: dict, overrides: Sequence[str], requeued: bool = False) -> tuple[dict, set[str]]:
    """Command-line overrides on a saved config, with Hydra's syntax (`key=v`, `+key=v`, `++key=v`,
    `~key`, `group=option` for trainer/logger/callbacks). Returns the config and the keys they set."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException

    from genlab.utils.config import config_groups

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise ConfigError(f"could not parse the overrides: {str(exc).splitlines()[0]}") from None
    groups = config_groups()
    # as Hydra composes: group choices first, then the values set inside them, whatever the order given
    parsed.sort(key=lambda o: not ("." not in o.key_or_group and o.key_or_group in groups))
    given: set[str] = set()
    for o in parsed:
        key = o.key_or_group
        if key.startswith(IGNORED) or key in ("paths.output_dir", "ckpt_path"):
            continue
        if o.is_sweep_override():
            raise ConfigError(f"{o.input_line}: a sweep cannot resume a single run; give one value")
        value = o.value()
        if "." not in key and key in groups and o.type != OverrideType.DEL:
            if key in GROUPS_THAT_CANNOT_BE_GIVEN:
                if requeued:  # the same command again: what the preset set is in the saved config already
                    continue
                raise ConfigError(f"{key}={value} cannot be given when resuming: the run's saved config already "
                                  f"holds what it set; override single keys instead")
            cfg[key] = _group_node(key, str(value))
            given |= {f"{key}.{k}" for k in leaves(cfg[key])}
            continue
        if o.type == OverrideType.DEL:
            parent, last = _parent(cfg, key, create=False)
            if parent is not None:
                parent.pop(last, None)
            continue
        parent, last = _parent(cfg, key, create=True)
        if o.type == OverrideType.CHANGE and (parent is None or last not in parent):
            raise ConfigError(f"{o.input_line}: the run's config has no {key}; add it with +{key}=...")
        parent[last] = value
        given |= {key, *(f"{key}.{k}" for k in leaves(value))} if isinstance(value, dict) else {key}
    _prune(cfg)
    return cfg, given


def check_mutable(changes: dict[str, list]) -> None:
    for key, (old, new) in changes.items():
        if not key.startswith(MUTABLE):
            raise ConfigError(f"{key} cannot change when resuming (the run has {old!r}, this command gives "
                              f"{new!r}): the checkpoint and the data order depend on it; start a new run in "
                              f"another paths.output_dir, or resume without that override")


def resume_config(run_dir: Path, requested: DictConfig, overrides: Sequence[str] | None,
                  requeued: bool = False) -> tuple[DictConfig, dict]:
    """The config to resume `run_dir` with, and the record of this session's changes.

    `overrides` are the command line's (applied on the saved config; a requeued SLURM job gives its first
    command again, whose presets such as experiment= are skipped). From Python (`overrides=None`) the
    given config is the one wanted: its differences from the saved one are the changes.
    """
    from genlab.utils.trusted import check_targets

    saved = saved_config(run_dir)
    old_dir = str(saved.get("paths", {}).get("output_dir", ""))
    saved = _reroot(saved, old_dir, str(run_dir))
    saved.setdefault("paths", {})["output_dir"] = str(run_dir)
    if overrides is None:
        wanted = OmegaConf.to_container(requested, resolve=True)
        given = set(leaves(wanted))
    else:
        wanted, given = apply_overrides(json.loads(json.dumps(saved)), overrides, requeued)
    wanted["ckpt_path"] = requested.get("ckpt_path")
    wanted.setdefault("paths", {})["output_dir"] = str(run_dir)
    try:  # a group option composed afresh interpolates (${data.image_size}); compare resolved values
        wanted = OmegaConf.to_container(OmegaConf.create(wanted), resolve=True)
    except Exception as exc:  # noqa: BLE001 - an interpolation to a key the run's config lacks
        raise ConfigError(f"the overrides do not fit the run's config: {str(exc).splitlines()[0]}") from None
    changes = diff(saved, wanted)
    check_mutable(changes)
    trusted = {k for k in given if k.endswith("_target_")}
    check_targets(wanted, f"{run_dir / 'config.yaml'}", trusted_keys=trusted)
    cfg = OmegaConf.create(wanted)
    return cfg, changes
