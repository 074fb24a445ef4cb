"""Instantiating config nodes: plain containers in, genlab's own errors out."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate

from genlab.errors import GenlabError


def compose_train(*overrides: str):
    """The training config composed outside a Hydra run (notebooks, scripts, tests), paths unused."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "paths.output_dir=unused"])
    GlobalHydra.instance().clear()
    return cfg


def config_groups() -> list[str]:
    """The config groups of genlab's tree (model, data, trainer, ...): the folders of genlab.conf."""
    from importlib import resources

    return sorted(p.name for p in resources.files("genlab.conf").iterdir() if p.is_dir() and p.name != "__pycache__")


def make(node, **kwargs):
    """hydra.utils.instantiate with `_convert_="all"` (plain dicts and lists reach constructors, so saved
    hyperparameters hold no OmegaConf objects), re-raising a GenlabError that Hydra wrapped."""
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, GenlabError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise
