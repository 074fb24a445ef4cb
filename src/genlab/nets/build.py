"""A model's networks from config nodes: `{_target_: genlab.nets.<module>.<Class>, <settings>}`.

The model fills in what it knows (image size, channels, latent and condition sizes); the node holds the
architecture's own settings (width, normalisation, ...). Only classes defined under `genlab.nets.` that
are `nn.Module`s are built: a model's hyperparameters come back from checkpoints and exports, which are
data, never code.
"""

from __future__ import annotations

import inspect

from torch import nn

from genlab.errors import ConfigError


def network_class(node, name: str) -> type[nn.Module]:
    """The class a network node names, or a ConfigError saying what is wrong with `model.<name>`."""
    from hydra.utils import get_object

    if not isinstance(node, dict) or not isinstance(node.get("_target_"), str):
        raise ConfigError(f"model.{name} must be a mapping with a _target_ naming a network class under "
                          f"genlab.nets (such as genlab.nets.resnet.Generator)")
    target = node["_target_"]
    cls = None
    if target.startswith("genlab.nets."):
        try:
            cls = get_object(target)
        except Exception:  # noqa: BLE001 - a name that does not resolve is reported below
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and cls.__module__.startswith("genlab.nets.")):
        raise ConfigError(f"model.{name}._target_={target!r} is not a network class of genlab.nets; choose one "
                          f"such as genlab.nets.resnet.{name.capitalize()} or genlab.nets.dcgan.{name.capitalize()}")
    return cls


def build_network(node: dict, name: str, **given) -> nn.Module:
    """Build `model.<name>` with the model's sizes (`given`) added to the node's settings. A setting the
    class does not take, or one the model sets itself, is refused in one sentence."""
    cls = network_class(node, name)
    params = inspect.signature(cls).parameters
    settings = {k: v for k, v in node.items() if k != "_target_"}
    for key in settings:
        if key in given:
            raise ConfigError(f"model.{name}.{key} is set by the model from its own settings; remove it from "
                              f"model.{name}")
        if key not in params:
            takes = [p for p in params if p not in given]
            raise ConfigError(f"model.{name}.{key} is not a setting of {node['_target_']}, which takes {takes}")
    missing = [k for k in given if k not in params]
    if missing:
        raise ConfigError(f"model.{name}._target_={node['_target_']} takes no {missing[0]}, which this model "
                          f"passes to its {name}; choose a {name} made for it (docs/models.md lists them)")
    return cls(**settings, **given)


def with_defaults(node: dict | None, default: dict) -> dict:
    """A network node as given, or (without a `_target_`) the default network with the given changes."""
    if node is not None and not isinstance(node, dict):
        return node  # build_network says what a node must be
    node = dict(node or {})
    return node if "_target_" in node else {**default, **node}
