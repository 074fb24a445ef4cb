"""Instantiating config nodes: plain containers in, genlab's own errors out."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate

from genlab.errors import GenlabError


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
