"""The sampling package: the key/value cache gives the same logits as recomputing, filters keep what they
promise, guidance at scale 1 is the conditional output, and out-of-range options are one sentence."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ConfigError
from genlab.nets.transformer import ImageTokenTransformer, KVCache
from genlab.sampling import check_sampling_options, filter_logits, guide, sample_sequence
from genlab.sampling.autoregressive import pick


def test_cached_and_uncached_logits_are_the_same():
    torch.manual_seed(0)
    net = ImageTokenTransformer(condition_dim=8, text_length=5, grid=(3, 4), vocab_size=11, dim=16, layers=2,
                                heads=2).eval()
    states = torch.randn(3, 4, 8)
    pad = torch.tensor([[False, False, True, True], [False, False, False, False], [False, True, True, True]])
    tokens = torch.randint(0, 11, (3, 12))
    full = net(states, pad, tokens)  # teacher forcing: logits of every token
    cache = KVCache(net.layers)
    stepped = [net.start(states, pad, cache)]
    for i in range(11):
        stepped.append(net.step(tokens[:, i], i, cache))
    assert full.shape == (3, 12, 11)
    assert torch.allclose(torch.stack(stepped, 1), full, atol=1e-5)
    # and a later token changes no earlier logit (causal)
    changed = tokens.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 11
    assert torch.allclose(net(states, pad, changed)[:, :7], full[:, :7], atol=1e-6)
    assert not torch.allclose(net(states, pad, changed)[:, 7:], full[:, 7:], atol=1e-4)


def test_filters_keep_the_top_k_and_the_nucleus():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True, True]]
    p = logits.softmax(-1)[0]  # 0.64, 0.24, 0.09, ...
    kept = ~torch.isinf(filter_logits(logits, top_p=float(p[0] + 0.01)))
    assert kept.tolist() == [[True, True, False, False, False]]
    assert (~torch.isinf(filter_logits(logits, top_p=0.01))).sum() == 1  # the most likely always stays
    picks = {int(pick(logits, torch.Generator().manual_seed(s), top_k=2)) for s in range(50)}
    assert picks == {0, 1}


def test_sample_sequence_is_a_function_of_the_seed():
    logits = torch.randn(4, 7)

    def run(seed):
        return sample_sequence(lambda: logits, lambda token, i: logits, 5, torch.Generator().manual_seed(seed))

    assert run(1).shape == (4, 5) and torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_guidance_scale_one_is_the_conditional_output():
    cond, uncond = torch.randn(2, 5), torch.randn(2, 5)
    assert guide(cond, uncond, 1.0) is cond
    assert torch.equal(guide(cond, uncond, 0.0), uncond)
    assert torch.allclose(guide(cond, uncond, 3.0), uncond + 3 * (cond - uncond))


@pytest.mark.parametrize(("options", "message"), [
    ({"top_k": 0}, r"generate.top_k=0 must be an integer from 1 to 16"),
    ({"top_k": 17}, r"generate.top_k=17 must be an integer from 1 to 16"),
    ({"top_p": 0.0}, r"generate.top_p=0.0 must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"generate.top_p=1.5 must be in \(0, 1\]"),
    ({"temperature": 0}, r"generate.temperature=0 must be a number above 0"),
])
def test_sampling_options_out_of_range_are_one_sentence(options, message):
    settings = {"temperature": 1.0, "top_k": None, "top_p": None, **options}
    with pytest.raises(ConfigError, match=message):
        check_sampling_options(settings["temperature"], settings["top_k"], settings["top_p"], vocab_size=16)
