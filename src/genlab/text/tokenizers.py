"""Caption tokenizers: a word vocabulary, or byte-level BPE trained with Hugging Face `tokenizers`.

A tokenizer is fitted on the training captions before the model is set up, and serialises to plain data
(`to_data()`, a dict of strings and lists) that the model keeps in its hyperparameters, so a checkpoint
needs no other file. Id 0 is padding in both.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable

import torch

from genlab.errors import ConfigError

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9']+")


def words(caption: str) -> list[str]:
    return _WORD.findall(caption.lower())


def _named(items: list[str], limit: int = 8) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(map(repr, items[:limit])) + more


class Tokenizer(ABC):
    """Captions -> token ids. Subclasses implement `fit`, `ids`, `decode`, `vocab_size`, `to_data`."""

    kind = ""
    pad_id = 0

    @classmethod
    @abstractmethod
    def fit(cls, captions: list[str], **settings) -> Tokenizer:
        """A tokenizer fitted on `captions`."""

    @abstractmethod
    def ids(self, caption: str) -> list[int]:
        """The token ids of one caption (no padding)."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, padding included."""

    @abstractmethod
    def to_data(self) -> dict:
        """The fitted tokenizer as plain data (`tokenizer_from_data` reads it back)."""

    @abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Ids back to text (padding dropped)."""

    def check(self, captions: Iterable[str], max_length: int) -> None:
        """Refuse prompts the model cannot read exactly: longer than its text length (truncation would drop
        words silently). The word tokenizer also refuses words it never saw."""
        for caption in captions:
            ids = self.ids(caption)
            if len(ids) > max_length:
                kept = self.decode(ids[:max_length])
                raise ConfigError(f"the prompt {caption!r} is {len(ids)} tokens, longer than this model's text "
                                  f"length of {max_length}: it would be cut to {kept!r}; shorten it")

    def encode(self, captions: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ids (B, T) padded with 0, and lengths (B,); captions are cut at `max_length` tokens; an empty
        caption has length 0 (the text encoder gives it the null embedding)."""
        rows = [self.ids(c)[:max_length] for c in captions]
        tokens = torch.zeros(len(rows), max(1, max((len(r) for r in rows), default=1)), dtype=torch.long)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return tokens, torch.tensor([len(r) for r in rows], dtype=torch.long)


class WordTokenizer(Tokenizer):
    """One id per lower-cased word of the training captions (id 1 for a word never seen)."""

    kind = "word"

    def __init__(self, vocabulary: list[str]):
        if list(vocabulary[:2]) != [PAD, UNK]:
            raise ConfigError("a word vocabulary starts with '<pad>', '<unk>' (use WordTokenizer.fit)")
        self.vocabulary = list(vocabulary)
        self.index = {w: i for i, w in enumerate(self.vocabulary)}

    @classmethod
    def fit(cls, captions: list[str], min_count: int = 1) -> WordTokenizer:
        counts = Counter(w for c in captions for w in words(c))
        return cls([PAD, UNK] + sorted(w for w, n in counts.items() if n >= min_count))

    def ids(self, caption: str) -> list[int]:
        return [self.index.get(w, 1) for w in words(caption)]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.vocabulary[i] for i in ids if i != self.pad_id)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def unknown_words(self, captions: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(w for c in captions for w in words(c) if w not in self.index))

    def check(self, captions: Iterable[str], max_length: int) -> None:
        captions = list(captions)
        unknown = self.unknown_words(captions)
        if unknown:
            known = self.vocabulary[2:]
            plural = len(unknown) > 1
            raise ConfigError(f"the word{'s' if plural else ''} {_named(unknown)} {'are' if plural else 'is'} not in "
                              f"this model's vocabulary of {len(known)} words from its training captions (such as "
                              f"{_named(known)}); use only those words")
        super().check(captions, max_length)

    def to_data(self) -> dict:
        return {"kind": self.kind, "vocabulary": list(self.vocabulary)}

    @classmethod
    def from_data(cls, data: dict) -> WordTokenizer:
        return cls(data["vocabulary"])


class BPETokenizer(Tokenizer):
    """Byte-level BPE (GPT-2's scheme) trained on the captions: any text encodes, nothing is unknown."""

    kind = "bpe"

    def __init__(self, serialized: str):
        from tokenizers import Tokenizer as HFTokenizer

        self.serialized = serialized
        self.hf = HFTokenizer.from_str(serialized)

    @classmethod
    def fit(cls, captions: list[str], vocab_size: int = 512) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

        hf = HFTokenizer(models.BPE())
        hf.normalizer = normalizers.Lowercase()
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        hf.train_from_iterator(captions, trainer=trainer)
        if hf.token_to_id(PAD) != 0:
            raise RuntimeError("BPE training did not put <pad> at id 0")
        return cls(hf.to_str())

    def ids(self, caption: str) -> list[int]:
        return self.hf.encode(caption).ids if caption.strip() else []

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode([i for i in ids if i != self.pad_id]).strip()

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def to_data(self) -> dict:
        return {"kind": self.kind, "serialized": self.serialized}

    @classmethod
    def from_data(cls, data: dict) -> BPETokenizer:
        return cls(data["serialized"])


KINDS = {cls.kind: cls for cls in (WordTokenizer, BPETokenizer)}


def fit_tokenizer(kind: str, captions: list[str], **settings) -> Tokenizer:
    if kind not in KINDS:
        raise ConfigError(f"tokenizer={kind!r} is not known; use one of {sorted(KINDS)}")
    if not any(words(c) for c in captions):
        raise ConfigError("the model is conditioned on captions but every training caption is empty: give the "
                          "data set captions (data=folder reads captions.jsonl), condition on labels "
                          "(model.condition=label), or use an unconditional model")
    return KINDS[kind].fit(list(captions), **settings)


def tokenizer_from_data(data: dict) -> Tokenizer:
    """The inverse of `to_data` (plain data from a checkpoint's hyperparameters)."""
    kind = data.get("kind") if isinstance(data, dict) else None
    try:
        return KINDS[kind].from_data(data)
    except Exception:  # noqa: BLE001 - a damaged file: any failure to rebuild is the same problem
        raise ConfigError(f"model.tokenizer holds no fitted tokenizer this genlab reads (kind={kind!r}); "
                          f"the checkpoint is damaged or from another version") from None
