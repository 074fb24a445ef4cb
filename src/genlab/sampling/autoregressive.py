"""The autoregressive loop: temperature, top-k, top-p (nucleus), and the model's key/value cache.

Random numbers are drawn on the CPU from the caller's generator and tokens are picked by inverse CDF, so
the same seed gives the same tokens on any device and with or without the cache.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from genlab.errors import ConfigError


def check_sampling_options(temperature, top_k, top_p, vocab_size: int) -> None:
    """One sentence for a value out of range."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ConfigError(f"generate.temperature={temperature!r} must be a number above 0 (1 = the model's "
                          f"distribution)")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= vocab_size):
        raise ConfigError(f"generate.top_k={top_k!r} must be an integer from 1 to {vocab_size} (the codebook "
                          f"size), or null for no limit")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ConfigError(f"generate.top_p={top_p!r} must be in (0, 1], or null for no limit")


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Logits (B, V) with everything outside the top-k, and outside the smallest set whose probability
    reaches top-p, set to -inf (the most likely token always stays)."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cum - sorted_logits.softmax(-1) >= top_p  # mass before this token already reaches p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def pick(logits: torch.Tensor, generator: torch.Generator | None, temperature: float = 1.0,
         top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """One token per row, by inverse CDF of the filtered distribution with a uniform drawn on the CPU."""
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(-1).double().cpu()
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64)
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, u * cdf[:, -1:]).clamp_max(probs.shape[-1] - 1)
    return idx.view(-1).to(logits.device)


def sample_sequence(first: Callable[[], torch.Tensor], step: Callable[[torch.Tensor, int], torch.Tensor],
                    length: int, generator: torch.Generator | None, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """`length` tokens per row: `first()` gives the logits of token 0, `step(token, i)` feeds token i and
    gives the logits of token i+1 (the model keeps its cache between calls, or recomputes)."""
    logits = first()
    tokens = []
    for i in range(length):
        token = pick(logits, generator, temperature, top_k, top_p)
        tokens.append(token)
        if progress is not None:
            progress(i)
        if i + 1 < length:
            logits = step(token, i)
    return torch.stack(tokens, 1)
