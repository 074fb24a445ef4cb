"""Keyword options of a model's `generate(n, condition=None, generator=None, **options)`, such as the GAN's
`truncation`: their names are checked against the model's signature; their values are the model's to check."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from genlab.errors import ConfigError

CONTRACT = ("self", "n", "condition", "generator")  # what every `generate` takes; never an option


def option_names(model) -> list[str] | None:
    """The options `type(model).generate` names, or None when it takes any keyword (`**kwargs`)."""
    params = inspect.signature(type(model).generate).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name not in CONTRACT and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def generate_options(model, options, where: str = "generate") -> dict:
    """`options` (a mapping or DictConfig; None: none) as a plain dict for `model.generate(..., **options)`.

    Null values are left out (the model's default). A name `generate` does not take is refused in one
    sentence naming it, `where` being the config key that holds the options.
    """
    from omegaconf import DictConfig, OmegaConf

    if isinstance(options, DictConfig):
        options = OmegaConf.to_container(options, resolve=True)
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}={options!r} must be a mapping of option names to values, such as "
                          f"{where}.truncation=0.7")
    options = {str(k): v for k, v in options.items() if v is not None}
    names, cls = option_names(model), type(model).__name__
    for key in options:
        if key in CONTRACT or (names is not None and key not in names):
            takes = ("it takes any keyword but n, condition and generator" if names is None
                     else f"it takes: {', '.join(names)}" if names else "it takes no options; drop it")
            raise ConfigError(f"{where}.{key} is not an option of {cls}.generate; {takes}")
    return options
