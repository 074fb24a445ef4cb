"""Caption encoder shared by every conditional family.

Contract: `forward(captions: list[str])` returns token states (B, T, D), a padding mask (B, T) that is
True at padding, and a pooled embedding (B, D). This first implementation is a word vocabulary built from
the data set's captions and a bidirectional GRU; the vocabulary is a plain list of words, saved with the
model's hyperparameters so a checkpoint carries it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import torch
from torch import nn

from genlab.errors import ConfigError

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9']+")


def words(caption: str) -> list[str]:
    return _WORD.findall(caption.lower())


def build_vocabulary(captions: Iterable[str], min_count: int = 1) -> list[str]:
    counts = Counter(w for c in captions for w in words(c))
    return [PAD, UNK] + sorted(w for w, n in counts.items() if n >= min_count)


class CaptionEncoder(nn.Module):
    def __init__(self, vocabulary: list[str], dim: int = 64, max_length: int = 32):
        super().__init__()
        if vocabulary[:2] != [PAD, UNK]:
            raise ValueError("a caption vocabulary starts with '<pad>', '<unk>' (use build_vocabulary)")
        self.vocabulary, self.max_length, self.dim = list(vocabulary), max_length, dim
        self.index = {w: i for i, w in enumerate(self.vocabulary)}
        self.embed = nn.Embedding(len(self.vocabulary), dim, padding_idx=0)
        self.rnn = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(dim, dim)

    def unknown_words(self, captions: Iterable[str]) -> list[str]:
        """The words of `captions` that are not in the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(w for c in captions for w in words(c) if w not in self.index))

    def check_known(self, captions: Iterable[str]) -> None:
        """Refuse captions with words outside the vocabulary (which would silently become <unk>)."""
        unknown = self.unknown_words(captions)
        if unknown:
            known = self.vocabulary[2:]
            named = ", ".join(map(repr, unknown[:8])) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
            raise ConfigError(f"the word{'s' if len(unknown) > 1 else ''} {named} {'are' if len(unknown) > 1 else 'is'} "
                              f"not in this model's vocabulary of {len(known)} words from its training captions "
                              f"(such as {', '.join(map(repr, known[:8]))}); use only those words")

    def tokenize(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> token ids (B, T) and lengths (B,); unknown words map to <unk>, empty captions to one <unk>."""
        ids = [[self.index.get(w, 1) for w in words(c)][: self.max_length] or [1] for c in captions]
        length = max(len(t) for t in ids)
        tokens = torch.zeros(len(ids), length, dtype=torch.long)
        for i, t in enumerate(ids):
            tokens[i, : len(t)] = torch.tensor(t)
        return tokens, torch.tensor([len(t) for t in ids])

    def forward(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tokens, lengths = self.tokenize(list(captions))
        device = self.embed.weight.device
        x = self.embed(tokens.to(device))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        states, _ = self.rnn(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=tokens.shape[1])
        states = self.out(states)
        pad_mask = (torch.arange(tokens.shape[1])[None] >= lengths[:, None]).to(device)
        keep = (~pad_mask).unsqueeze(-1).type_as(states)
        pooled = (states * keep).sum(1) / keep.sum(1)
        return states * keep, pad_mask, pooled
