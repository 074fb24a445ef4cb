"""Instantiating config nodes: plain containers in, genlab's own errors out."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate

from genlab.errors import GenlabError


def compose_config(name: str, *overrides: str):
    """An entry point's config (train, sample, eval) composed outside a Hydra run (notebooks, scripts, tests)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose(name, overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg


def compose_train(*overrides: str):
    """The training config composed outside a Hydra run (`paths.output_dir` "unused" unless given)."""
    given = any(o.startswith("paths.output_dir=") for o in overrides)
    return compose_config("train", *overrides, *([] if given else ["paths.output_dir=unused"]))


# Small networks and schedules for a model config: a smoke run in seconds (the tests, the notebooks' quick
# mode, `genlab.bench --quick`). Each dotted key applies only to models whose config has it.
QUICK_MODEL = {"generator.width": 8, "discriminator.width": 8, "width": 8, "latent_dim": 16, "code_dim": 8,
               "codebook_size": 16, "condition_dim": 16, "dim": 32, "layers": 1, "warmup_steps": 0,
               "lr_decay": "none", "unet.widths": "[8,16]", "unet.attention": "[false,true]", "unet.head_dim": 8,
               "train_steps": 20, "sample_steps": 4}


def quick_overrides(*overrides: str) -> list[str]:
    """The `model.KEY=VALUE` overrides of QUICK_MODEL that the model chosen by `overrides` has (the keys
    `overrides` sets themselves are kept as given)."""
    from omegaconf import OmegaConf

    model = compose_train(*overrides).model
    given = {o.split("=")[0] for o in overrides}
    return [f"model.{k}={v}" for k, v in QUICK_MODEL.items()
            if OmegaConf.select(model, k) is not None and f"model.{k}" not in given]


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
