"""Generation: left-padded batches, many samples from one decode, past the context window, repetition
penalty and stop strings; checked against each prompt alone, a nanoGPT-style loop without a cache, and
transformers' greedy generate on the tiny GPT-2 fixtures (tests/fixtures/gpt2_tiny/generation.npz, made by
tools/make_gpt2_fixtures.py)."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from transformer_np import GPT2, TransformerLM
from transformer_np.decoding import repeat_cache
from transformer_np.tokenizer import BPETokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "gpt2_tiny"


@pytest.fixture(scope="module")
def model():
    return GPT2.from_pretrained(FIXTURES / "hf_layout")


@pytest.fixture(scope="module")
def gen():
    return np.load(FIXTURES / "generation.npz")


@pytest.fixture(scope="module")
def prompts():
    return np.load(FIXTURES / "reference.npz")["input_ids"]


def left_pad(prompts, pad=0):
    """Prompts of different lengths -> ids (B, T) and attention_mask (B, T), padding on the left."""
    width = max(map(len, prompts))
    ids = np.full((len(prompts), width), pad, dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = prompt
        mask[row, width - len(prompt):] = 1
    return ids, mask


# ------------------------------------------------------------------------------------- left padding

def test_left_padded_batch_matches_transformers(model, gen):
    out = model.generate(gen["padded_input_ids"], 8, temperature=0, attention_mask=gen["padded_attention_mask"])
    np.testing.assert_array_equal(out, gen["padded_greedy_ids"])


@settings(max_examples=12, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=2, max_size=4), seed=st.integers(0, 2**16),
       positional=st.sampled_from(["learned", "sinusoidal", "rope"]), pad=st.integers(0, 30))
def test_each_padded_row_is_its_prompt_alone(lengths, seed, positional, pad):
    m = TransformerLM(31, 16, 2, 2, 32, 24, seed=seed, positional=positional).eval()
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(0, 31, n) for n in lengths]
    ids, mask = left_pad(prompts, pad)
    logits = m.forward(ids, attention_mask=mask)                   # no cache: a temporary one carries it
    out = m.generate(ids, 5, temperature=0, attention_mask=mask)
    for row, prompt in enumerate(prompts):
        alone = m.forward(prompt[None])[0]
        np.testing.assert_allclose(logits[row, ids.shape[1] - len(prompt):], alone, atol=1e-5)
        np.testing.assert_array_equal(out[row, ids.shape[1]:], m.generate(prompt[None], 5, temperature=0)[0, len(prompt):])
    assert logits.dtype == np.float32


def test_padded_keys_get_no_attention_in_any_decode_step(model, prompts):
    ids, mask = left_pad([prompts[0, :9], prompts[1, :3]])
    record = []
    model.h[0].attn.record_attention = record
    try:
        model.generate(ids, 4, temperature=0, attention_mask=mask)
    finally:
        model.h[0].attn.record_attention = None
    assert len(record) == 4                                        # the prefill and three decode steps
    for weights in record:                                         # (B, H, T_q, T_k): row 1's 6 pads
        assert (weights[1, :, -1, :6] == 0).all() and weights[1, :, -1, 6:].sum(-1) == pytest.approx(1.0)


@pytest.mark.parametrize("mask, message", [([[1, 1, 0]], "left"), ([[1, 2, 1]], "0 .padding. and 1"),
                                           ([[1, 1]], "shape")])
def test_bad_attention_masks_are_clear_errors(model, mask, message):
    with pytest.raises(ValueError, match=message):
        model.generate(np.array([[1, 2, 3]]), 2, attention_mask=np.array(mask))


# -------------------------------------------------------------------------------------- num_samples

def test_num_samples_share_one_prefill_and_sample_independently(model, prompts):
    greedy = model.generate(prompts[:1], 6, temperature=0, num_samples=3)
    np.testing.assert_array_equal(greedy, np.repeat(model.generate(prompts[:1], 6, temperature=0), 3, axis=0))
    sampled = model.generate(prompts[:1], 6, temperature=1.0, seed=5, num_samples=4)
    # The same draws as 4 copies of the prompt prefilled separately: one decode batch, the same rng stream.
    np.testing.assert_array_equal(sampled, model.generate(np.repeat(prompts[:1], 4, axis=0), 6, seed=5))
    assert len({tuple(row) for row in sampled[:, 12:]}) > 1
    both = model.generate(prompts, 3, temperature=0, num_samples=2)        # rows b*n .. b*n + n-1: prompt b
    np.testing.assert_array_equal(both[::2], both[1::2])
    np.testing.assert_array_equal(both[::2], model.generate(prompts, 3, temperature=0))


def test_samples_share_the_prompts_keys_with_the_numbers_of_copies(model, prompts):
    ids, mask = left_pad([prompts[0, :9], prompts[1, :5]])
    caches = model.new_caches(2, 13)
    model.forward(ids, caches, last_only=True, attention_mask=mask)
    shared = [repeat_cache(cache, 3) for cache in caches]
    copies = [repeat_cache(cache, 3, share_prefix=False) for cache in caches]
    assert shared[0].keys.shape[2] == 4 and copies[0].keys.shape[2] == 13   # the prompt's 9: once
    next_ids = np.arange(6) + 10
    for _ in range(4):                                             # fills both caches to the last position
        a, b = model.forward(next_ids[:, None], shared), model.forward(next_ids[:, None], copies)
        np.testing.assert_allclose(a, b, atol=1e-5)
        assert a.dtype == np.float32
        next_ids = a[:, -1].argmax(-1)
    # num_samples of a padded batch: each row still gets what its prompt gets alone.
    out = model.generate(ids, 4, temperature=0, attention_mask=mask, num_samples=2)
    alone = model.generate(prompts[1:, :5], 4, temperature=0)
    np.testing.assert_array_equal(out[2:, 9:], np.repeat(alone[:, 5:], 2, axis=0))


# ----------------------------------------------------------------------------------- sliding window

def no_cache_reference(m, ids, n, stride):
    """nanoGPT's loop (no cache; crop to the window), with the documented stride: when the context
    would exceed max_len tokens it restarts from the last max_len - stride + 1."""
    seq, first = list(ids), 0
    for _ in range(n):
        if len(seq) - first > m.max_len:
            first = len(seq) - (m.max_len - stride + 1)
        seq.append(int(m.forward(np.array([seq[first:]]))[0, -1].argmax()))
    return seq


@pytest.mark.parametrize("stride", [1, 3])
def test_sliding_window_crops_the_oldest_tokens(stride):
    m = TransformerLM(29, 16, 2, 2, 32, 10, seed=3).eval()
    prompt = np.arange(1, 7)
    out = m.generate(prompt, 15, temperature=0, sliding_window=True, window_stride=stride)
    assert out.tolist() == no_cache_reference(m, prompt.tolist(), 15, stride)
    with pytest.raises(ValueError, match="context window.*sliding_window"):   # the default: stop
        m.generate(prompt, 15, temperature=0)


def test_sliding_window_accepts_a_prompt_longer_than_the_window():
    m = TransformerLM(29, 16, 2, 2, 32, 10, seed=3).eval()
    prompt = np.arange(14) % 29
    out = m.generate(prompt, 3, temperature=0, sliding_window=True)
    assert len(out) == 17 and out[14:].tolist() == no_cache_reference(m, prompt[-10:].tolist(), 3, 1)[-3:]


# ------------------------------------------------------------------ repetition penalty, stop strings

def test_repetition_penalty_matches_transformers(model, prompts, gen):
    out = model.generate(prompts, 8, temperature=0, repetition_penalty=float(gen["repetition_penalty"]))
    np.testing.assert_array_equal(out, gen["penalty_greedy_ids"])
    assert not np.array_equal(out, model.generate(prompts, 8, temperature=0))


def test_stop_string_matches_transformers(model, prompts, gen):
    tokenizer = BPETokenizer.from_pretrained(FIXTURES / "byte_tokenizer")
    stop = str(gen["stop_string"])
    out = model.generate(prompts[:1], 8, temperature=0, stop_strings=[stop], tokenizer=tokenizer)
    np.testing.assert_array_equal(out, gen["stop_greedy_ids"])
    assert tokenizer.decode(out[0, 12:].tolist()).endswith(stop)
    # In a batch the finished row is padded (pad_token_id) while the other goes on.
    both = model.generate(prompts, 8, temperature=0, stop_strings=[stop], tokenizer=tokenizer, pad_token_id=7)
    n = gen["stop_greedy_ids"].shape[1]
    np.testing.assert_array_equal(both[0, :n], gen["stop_greedy_ids"][0])
    assert (both[0, n:] == 7).all() and both.shape == (2, 20)
    np.testing.assert_array_equal(both[1], model.generate(prompts[1:], 8, temperature=0)[0])


def test_generation_options_keep_float32_logits(model, prompts):
    from transformer_np.sampling import RepetitionPenalty
    logits = model.forward(prompts)[:, -1]
    penalised = RepetitionPenalty(1.3, prompts, 256)(logits)
    assert penalised.dtype == np.float32
    seen = np.zeros(256, bool)
    seen[prompts[0]] = True
    np.testing.assert_allclose(penalised[0, seen], np.where(logits[0, seen] < 0, logits[0, seen] * 1.3,
                                                             logits[0, seen] / 1.3), rtol=1e-6)
    np.testing.assert_array_equal(penalised[0, ~seen], logits[0, ~seen])
