"""The caption encoder contract: (states (B,T,D), pad mask (B,T), pooled (B,D)); vocabulary in checkpoints."""

from __future__ import annotations

import torch

from genlab.nets.caption_encoder import CaptionEncoder, build_vocabulary, words


def test_vocabulary_and_words():
    vocab = build_vocabulary(["a small red circle", "A large RED square, top left", "it's blue"])
    assert vocab[:2] == ["<pad>", "<unk>"]
    assert {"small", "red", "circle", "square", "left", "it's"} <= set(vocab) and "RED" not in vocab
    assert words("a circle, top-left") == ["a", "circle", "top", "left"]


def test_shapes_mask_and_padding_invariance():
    torch.manual_seed(0)
    enc = CaptionEncoder(build_vocabulary(["a small red circle at the top left", "a cross"]), dim=16).eval()
    states, mask, pooled = enc(["a cross", "a small red circle at the top left", "a purple unicorn"])
    assert states.shape == (3, 8, 16) and mask.shape == (3, 8) and pooled.shape == (3, 16)
    assert mask.dtype == torch.bool and mask[0].tolist() == [False, False] + [True] * 6
    assert torch.all(states[0, 2:] == 0)
    alone = enc(["a cross"])[2]
    assert torch.allclose(alone, pooled[:1], atol=1e-6)  # other captions in the batch do not matter
    unk = enc.tokenize(["a purple unicorn"])[0][0].tolist()
    assert unk[1:] == [1, 1]  # unknown words map to <unk>
    assert not torch.allclose(pooled[0], pooled[1])


def test_empty_caption_is_one_unknown_token():
    enc = CaptionEncoder(build_vocabulary(["x"]), dim=8)
    tokens, lengths = enc.tokenize([""])
    assert tokens.tolist() == [[1]] and lengths.tolist() == [1]


def test_unknown_words_are_named_not_silently_unk():
    import pytest

    from genlab.errors import ConfigError

    enc = CaptionEncoder(build_vocabulary(["a small red circle", "a large square"]), dim=8)
    assert enc.unknown_words(["A small, RED circle!", "a purple unicorn", "purple", ""]) == ["purple", "unicorn"]
    enc.check_known(["a small red circle", "Large SQUARE.", ""])  # case, punctuation and empty captions are fine
    with pytest.raises(ConfigError, match=r"^the word 'unicorn' is not in this model's vocabulary of 6 words "
                                          r"from its training captions \(such as 'a', 'circle', 'large', "):
        enc.check_known(["a small unicorn"])
    with pytest.raises(ConfigError, match=r"^the words 'w0', 'w1', .*'w7' and 2 more are not"):
        enc.check_known([" ".join(f"w{i}" for i in range(10))])
