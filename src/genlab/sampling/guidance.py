"""Classifier-free guidance (Ho and Salimans, 2022)."""

from __future__ import annotations

import torch

from genlab.errors import ConfigError


def guide(conditional: torch.Tensor, unconditional: torch.Tensor | None, scale: float) -> torch.Tensor:
    """uncond + scale * (cond - uncond): scale 1 is the conditional output itself (returned as is, so it is
    bit-identical to sampling without guidance), 0 the unconditional one, above 1 stronger conditioning.
    Works on logits and on predicted noise alike."""
    if scale == 1:
        return conditional
    return unconditional + scale * (conditional - unconditional)


def check_guidance(scale, trained_with_dropout: bool, model_name: str) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= 100:
        raise ConfigError(f"generate.guidance_scale={scale!r} must be a number from 0 to 100 (1 = no guidance)")
    if scale != 1 and not trained_with_dropout:
        raise ConfigError(f"generate.guidance_scale={scale} needs a model trained with caption dropout, and this "
                          f"{model_name} was trained with model.caption_dropout=0: use guidance_scale=1, or "
                          f"train with model.caption_dropout=0.1")
    return float(scale)
