"""The learning-rate schedule every family shares: linear warm-up, then constant, linear or cosine decay."""

from __future__ import annotations

import math

from genlab.errors import ConfigError


def warmup_decay(warmup_steps: int, decay: str, total_steps: int | None):
    """Learning-rate factor per step: linear warm-up, then constant, linear or cosine decay to zero."""
    if decay not in ("none", "linear", "cosine"):
        raise ConfigError(f"model.lr_decay={decay!r} is not known; use 'none', 'linear' or 'cosine'")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if decay == "none" or not total_steps or total_steps <= warmup_steps:
            return 1.0
        t = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return 1.0 - t if decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


def schedulers_for(model, optimizers: list, warmup_steps: int, decay: str) -> list:
    """Lightning scheduler configs of LambdaLR schedulers for `optimizers`, stepped every optimizer step (a
    bare scheduler would be stepped once an epoch: a 100-step warm-up would last 100 epochs); empty when
    there is no warm-up and no decay. Manual-optimization models step them themselves."""
    import torch

    if warmup_steps == 0 and decay == "none":
        return []
    trainer = model.trainer
    total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
    factor = warmup_decay(warmup_steps, decay, total)
    return [{"scheduler": torch.optim.lr_scheduler.LambdaLR(o, factor), "interval": "step"} for o in optimizers]
