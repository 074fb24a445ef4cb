"""A decoder-only transformer over [condition states; BOS; image tokens], with a key/value cache.

Tensors in, tensors out: condition states (B, T, D_c) with their padding mask, image token ids (B, L).
Image positions are learned per row and per column of the token grid (2-D), the condition's per slot.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Keys and values of every layer for the positions seen so far, and the keys' padding mask."""

    def __init__(self, layers: int):
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers
        self.key_padding: torch.Tensor | None = None

    def repeat(self, times: int) -> KVCache:
        """The cache for each row `times` over (rows stay grouped: row i becomes rows i*times ... )."""
        out = KVCache(len(self.keys))
        out.keys = [k.repeat_interleave(times, 0) for k in self.keys]
        out.values = [v.repeat_interleave(times, 0) for v in self.values]
        out.key_padding = self.key_padding.repeat_interleave(times, 0)
        return out


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            if cache.keys[layer] is not None:
                k = torch.cat([cache.keys[layer], k], 2)
                v = torch.cat([cache.values[layer], v], 2)
            cache.keys[layer], cache.values[layer] = k, v
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, x, allowed, cache, layer):
        x = x + self.attn(self.norm1(x), allowed, cache, layer)
        return x + self.mlp(self.norm2(x))


class ImageTokenTransformer(nn.Module):
    """Args: condition_dim (width of the condition states), text_length (condition slots, padded or cut to
    it), grid (h, w) of image tokens, vocab_size (codebook size), dim, layers, heads, dropout."""

    def __init__(self, condition_dim: int, text_length: int, grid: tuple[int, int], vocab_size: int,
                 dim: int = 256, layers: int = 4, heads: int = 4, dropout: float = 0.0):
        super().__init__()
        self.text_length, self.grid, self.vocab_size = text_length, tuple(grid), vocab_size
        self.layers = layers
        self.condition_in = nn.Linear(condition_dim, dim)
        self.text_position = nn.Parameter(torch.randn(text_length, dim) * 0.02)
        self.bos = nn.Parameter(torch.randn(dim) * 0.02)
        self.token = nn.Embedding(vocab_size, dim)
        self.row = nn.Parameter(torch.randn(grid[0], dim) * 0.02)
        self.col = nn.Parameter(torch.randn(grid[1], dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    def image_position(self, start: int, count: int) -> torch.Tensor:
        idx = torch.arange(start, start + count, device=self.row.device)
        return self.row[idx // self.grid[1]] + self.col[idx % self.grid[1]]

    def prefix(self, states: torch.Tensor, pad_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition states -> text_length slots + BOS embedded, and their padding (True = ignore)."""
        b, t = pad_mask.shape
        n = self.text_length
        if t < n:
            states = F.pad(states, (0, 0, 0, n - t))
            pad_mask = F.pad(pad_mask, (0, n - t), value=True)
        states, pad_mask = states[:, :n], pad_mask[:, :n]
        x = self.condition_in(states) + self.text_position
        x = torch.cat([x, self.bos.expand(b, 1, -1)], 1)
        return x, torch.cat([pad_mask, pad_mask.new_zeros(b, 1)], 1)

    def run(self, x: torch.Tensor, key_padding: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """x (B, t, dim): the last t positions of the sequence; key_padding covers every key so far."""
        t, total = x.shape[1], key_padding.shape[1]
        causal = torch.ones(t, total, dtype=torch.bool, device=x.device).tril(total - t)
        allowed = causal[None] & ~key_padding[:, None, :]
        for i, block in enumerate(self.blocks):
            x = block(x, allowed, cache, i)
        return self.head(self.norm(x))

    def forward(self, states: torch.Tensor, pad_mask: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, L, vocab) for every image token given the ones before it."""
        x, padding = self.prefix(states, pad_mask)
        inputs = tokens[:, :-1]
        x = torch.cat([x, self.token(inputs) + self.image_position(0, inputs.shape[1])], 1)
        padding = torch.cat([padding, padding.new_zeros(inputs.shape)], 1)
        logits = self.run(x, padding, None)
        return logits[:, self.text_length:]

    def start(self, states: torch.Tensor, pad_mask: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """Read the prefix (filling `cache`): logits for the first image token (B, vocab)."""
        x, padding = self.prefix(states, pad_mask)
        if cache is not None:
            cache.key_padding = padding
        return self.run(x, padding, cache)[:, -1]

    def step(self, token: torch.Tensor, index: int, cache: KVCache) -> torch.Tensor:
        """Feed image token number `index` (B,) with the cache: logits for the next one (B, vocab)."""
        x = self.token(token[:, None]) + self.image_position(index, 1)
        cache.key_padding = torch.cat([cache.key_padding, cache.key_padding.new_zeros(token.shape[0], 1)], 1)
        return self.run(x, cache.key_padding, cache)[:, -1]
