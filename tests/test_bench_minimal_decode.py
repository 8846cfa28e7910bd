"""bench/minimal_decode.py is the reference bench/gpt2_speed.py measures our decode against: it must compute
what the library computes, or the comparison means nothing."""
import sys
from pathlib import Path

import numpy as np
import pytest

from transformer_np import GPT2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from minimal_decode import minimal_decoder  # noqa: E402


def random_model(seed):
    """A small GPT-2 with every parameter random (the init's zero biases and unit gains would hide a
    wrong bias or gain) and weights 10x GPT-2's init (with tiny activations GELU is nearly linear and
    attention nearly uniform, which would hide a wrong constant)."""
    model = GPT2(dict(vocab_size=97, n_positions=64, n_embd=48, n_layer=3, n_head=4), seed=seed).eval()
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        if p.data.ndim == 1:                          # biases and LayerNorm gains
            p.data = p.data + rng.normal(0, 0.1, p.data.shape).astype(np.float32)
        else:                                         # O(1) activations: GELU's curve and peaked attention
            p.data = p.data * 10.0
    return model


def prefilled(model, ids, room):
    caches = model.new_caches(1, ids.shape[1] + room)
    logits = model.forward(ids, caches, last_only=True, keep_activations=False)[0, -1]
    return caches, logits


@pytest.mark.parametrize("seed", [0, 1])
def test_minimal_step_gives_the_library_logits(seed):
    model = random_model(seed)
    ids = np.random.default_rng(seed).integers(0, 97, size=(1, 9))
    ours, _ = prefilled(model, ids, 12)
    minimal, _ = prefilled(model, ids, 12)
    step = minimal_decoder(model, minimal, return_logits=True)
    tokens = np.random.default_rng(seed + 10).integers(0, 97, size=12)
    for t, token in enumerate(tokens, start=9):
        expected = model.forward(np.array([[token]]), ours)[0, -1]
        got = step(int(token), t)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max(), rtol=0)
    assert np.abs(expected).max() > 1e-2              # real logits, not a degenerate zero model


def test_minimal_greedy_tokens_equal_the_library():
    model = random_model(3)
    ids = np.random.default_rng(3).integers(0, 97, size=(1, 9))
    expected = [int(t[0]) for t in model.iter_generate(ids, 20, temperature=0)]
    caches, logits = prefilled(model, ids, 20)
    chosen, step = [int(np.argmax(logits))], minimal_decoder(model, caches)
    for t in range(9, 9 + 19):
        chosen.append(step(chosen[-1], t))
    assert chosen == expected
