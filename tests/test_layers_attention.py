"""Masks, scaled dot-product attention, multi-head self/cross attention and the key/value cache."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from transformer_np.layers import (KVCache, MultiHeadAttention, ScaledDotProductAttention, causal_mask,
                                   combine_masks, padding_mask)

GRAD = settings(max_examples=20, deadline=None)
FORWARD = settings(max_examples=15, deadline=None)


def randn(rng, *shape):
    return rng.standard_normal(shape)


def make_mha(d_model, n_heads, cross=False, seed=0):
    """A float64 MHA with O(1) random weights and biases (the 0.02 init makes attention nearly uniform,
    which would hide mistakes in the score path)."""
    layer = MultiHeadAttention(d_model, n_heads, cross=cross, dtype=np.float64, rng=seed)
    rng = np.random.default_rng(seed + 1)
    for p in layer.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    return layer


def reference_softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reference_mha(layer, x, context=None, allowed=None):
    """Multi-head attention written out head by head; allowed: (B, T_q, T_k) bool or None."""
    C, H = layer.d_model, layer.n_heads
    dk = C // H
    if layer.cross:
        q = x @ layer.c_q.weight.data + layer.c_q.bias.data
        kv = context @ layer.c_kv.weight.data + layer.c_kv.bias.data
        k, v = kv[..., :C], kv[..., C:]
    else:
        qkv = x @ layer.c_attn.weight.data + layer.c_attn.bias.data
        q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
    out = np.zeros(x.shape)
    for b in range(x.shape[0]):
        for h in range(H):
            cols = slice(h * dk, (h + 1) * dk)
            s = q[b, :, cols] @ k[b, :, cols].T / math.sqrt(dk)
            if allowed is not None:
                s = np.where(allowed[b], s, -np.inf)
            out[b, :, cols] = reference_softmax(s) @ v[b, :, cols]
    return out @ layer.c_proj.weight.data + layer.c_proj.bias.data


# -------------------------------------------------------------------------------------------- masks

def test_causal_mask_is_lower_triangular_for_square_scores():
    np.testing.assert_array_equal(causal_mask(4, 4), np.tril(np.ones((4, 4), bool)))


def test_causal_mask_with_cached_keys_lets_the_queries_see_every_earlier_position():
    # 2 new queries after 3 cached positions sit at positions 3 and 4.
    np.testing.assert_array_equal(causal_mask(2, 5), [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])


def test_padding_mask_is_true_where_keys_are_real_and_broadcasts_over_heads_and_queries():
    mask = padding_mask(np.array([[False, True, False], [True, False, False]]))
    assert mask.shape == (2, 1, 1, 3)
    np.testing.assert_array_equal(mask[:, 0, 0], [[1, 0, 1], [0, 1, 1]])


def test_combine_masks_ands_the_given_masks_and_ignores_none():
    a, b = np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)
    np.testing.assert_array_equal(combine_masks(a, None, b), [1, 0, 0, 0])
    assert combine_masks(None, None) is None
    assert combine_masks(None, a) is a


# ----------------------------------------------------------------------------- scaled dot-product

def test_sdpa_matches_softmax_of_scaled_scores_times_values():
    rng = np.random.default_rng(0)
    q, k, v = randn(rng, 2, 3, 4, 5), randn(rng, 2, 3, 6, 5), randn(rng, 2, 3, 6, 2)
    expected = reference_softmax(np.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(5)) @ v
    np.testing.assert_allclose(ScaledDotProductAttention()(q, k, v), expected, rtol=1e-12)


def test_sdpa_leaves_its_inputs_and_mask_alone():
    """The scale goes on a copy of Q, and the mask and softmax work in place on the scores only."""
    rng = np.random.default_rng(0)
    q, k, v = randn(rng, 1, 2, 5, 3), randn(rng, 1, 2, 5, 3), randn(rng, 1, 2, 5, 3)
    mask = causal_mask(5, 5)
    before = [a.copy() for a in (q, k, v, mask)]
    attn = ScaledDotProductAttention()
    attn(q, k, v, mask=mask)
    attn.backward(randn(rng, 1, 2, 5, 3))
    for a, b in zip((q, k, v, mask), before):
        np.testing.assert_array_equal(a, b)


def test_sdpa_weights_rows_sum_to_one_and_masked_weights_are_exactly_zero():
    rng = np.random.default_rng(0)
    q, k, v = randn(rng, 1, 2, 5, 3), randn(rng, 1, 2, 5, 3), randn(rng, 1, 2, 5, 3)
    attn = ScaledDotProductAttention()
    attn(q, k, v, mask=causal_mask(5, 5))
    np.testing.assert_allclose(attn.attn_weights.sum(-1), 1.0, rtol=1e-14)
    assert not attn.attn_weights[..., ~causal_mask(5, 5)].any()


def test_sdpa_fully_masked_row_gives_uniform_weights_not_nan():
    rng = np.random.default_rng(0)
    q, k, v = randn(rng, 1, 1, 3, 4), randn(rng, 1, 1, 3, 4), randn(rng, 1, 1, 3, 4)
    mask = np.ones((3, 3), bool)
    mask[1] = False
    out = ScaledDotProductAttention()(q, k, v, mask=mask)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0, 0, 1], v[0, 0].mean(axis=0), rtol=1e-12)


def test_sdpa_fully_masked_row_passes_no_gradient_to_queries_and_keys():
    rng = np.random.default_rng(0)
    q, k, v = randn(rng, 1, 1, 3, 4), randn(rng, 1, 1, 3, 4), randn(rng, 1, 1, 3, 4)
    mask = np.zeros((3, 3), bool)
    attn = ScaledDotProductAttention()
    attn(q, k, v, mask=mask)
    dq, dk, dv = attn.backward(randn(rng, 1, 1, 3, 4))
    assert not dq.any() and not dk.any()
    assert dv.any()


@st.composite
def sdpa_case(draw):
    B, H, Tq, Tk = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dk, dv = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    mask = draw(st.none() | arrays(bool, draw(st.sampled_from([(B, H, Tq, Tk), (Tq, Tk), (B, 1, 1, Tk)]))))
    return (B, H, Tq, Tk, dk, dv), mask


@GRAD
@given(case=sdpa_case(), seed=st.integers(0, 99))
def test_sdpa_gradients_match_finite_differences(assert_gradients, case, seed):
    (B, H, Tq, Tk, dk, dv), mask = case
    rng = np.random.default_rng(seed)
    inputs = [randn(rng, B, H, Tq, dk), randn(rng, B, H, Tk, dk), randn(rng, B, H, Tk, dv)]
    assert_gradients(ScaledDotProductAttention(), inputs, kwargs={"mask": mask},
                     expect=["input0", "input1", "input2"], seed=seed)


# ------------------------------------------------------------------------------- multi-head forward

@FORWARD
@given(batch=st.integers(1, 2), length=st.integers(1, 5), n_heads=st.sampled_from([1, 2, 4]),
       head_dim=st.integers(1, 3), causal=st.booleans(), seed=st.integers(0, 99))
def test_self_attention_matches_the_head_by_head_reference(batch, length, n_heads, head_dim, causal, seed):
    layer = make_mha(n_heads * head_dim, n_heads, seed=seed)
    x = randn(np.random.default_rng(seed), batch, length, n_heads * head_dim)
    allowed = np.broadcast_to(np.tril(np.ones((length, length), bool)), (batch, length, length)) if causal else None
    np.testing.assert_allclose(layer(x, causal=causal), reference_mha(layer, x, allowed=allowed), rtol=1e-10,
                               atol=1e-12)


def test_cross_attention_matches_the_head_by_head_reference_with_padding():
    rng = np.random.default_rng(0)
    layer = make_mha(6, 3, cross=True)
    x, context = randn(rng, 2, 4, 6), randn(rng, 2, 5, 6)
    pad = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], bool)
    allowed = np.broadcast_to(~pad[:, None, :], (2, 4, 5))
    np.testing.assert_allclose(layer(x, context, key_padding_mask=pad),
                               reference_mha(layer, x, context, allowed), rtol=1e-10, atol=1e-12)


def test_self_attention_with_padding_matches_the_reference():
    rng = np.random.default_rng(0)
    layer = make_mha(8, 2)
    x = randn(rng, 2, 5, 8)
    pad = np.array([[0, 0, 0, 0, 1], [0, 0, 1, 1, 1]], bool)
    allowed = np.tril(np.ones((5, 5), bool))[None] & ~pad[:, None, :]
    np.testing.assert_allclose(layer(x, causal=True, key_padding_mask=pad), reference_mha(layer, x, allowed=allowed),
                               rtol=1e-10, atol=1e-12)


@FORWARD
@given(length=st.integers(2, 6), cut=st.integers(1, 5), seed=st.integers(0, 99))
def test_causal_attention_ignores_future_tokens(length, cut, seed):
    cut = min(cut, length - 1)                      # positions >= cut are "the future"
    rng = np.random.default_rng(seed)
    layer = make_mha(6, 2, seed=seed)
    x = randn(rng, 2, length, 6)
    x_changed = x.copy()
    x_changed[:, cut:] = randn(rng, 2, length - cut, 6)
    y, y_changed = layer(x, causal=True), layer(x_changed, causal=True)
    np.testing.assert_array_equal(y[:, :cut], y_changed[:, :cut])
    assert not np.allclose(y[:, cut:], y_changed[:, cut:])


def test_non_causal_attention_does_see_future_tokens():
    rng = np.random.default_rng(0)
    layer = make_mha(6, 2)
    x = randn(rng, 1, 4, 6)
    x_changed = x.copy()
    x_changed[:, 3] += 1.0
    assert not np.allclose(layer(x)[:, 0], layer(x_changed)[:, 0])


def test_causal_attention_weights_are_zero_above_the_diagonal_and_rows_sum_to_one():
    layer = make_mha(8, 4)
    layer(randn(np.random.default_rng(0), 2, 5, 8), causal=True)
    w = layer.attn_weights
    assert w.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-14)
    assert not w[..., np.triu(np.ones((5, 5), bool), k=1)].any()


@FORWARD
@given(pad=arrays(bool, (2, 5)), seed=st.integers(0, 99))
def test_self_attention_output_ignores_padded_tokens_at_real_positions(pad, seed):
    rng = np.random.default_rng(seed)
    layer = make_mha(6, 3, seed=seed)
    x = randn(rng, 2, 5, 6)
    x_changed = np.where(pad[..., None], randn(rng, 2, 5, 6), x)     # new values only at padded tokens
    y, y_changed = layer(x, key_padding_mask=pad), layer(x_changed, key_padding_mask=pad)
    np.testing.assert_array_equal(y[~pad], y_changed[~pad])


@FORWARD
@given(pad=arrays(bool, (2, 4)), seed=st.integers(0, 99))
def test_cross_attention_output_ignores_padded_context(pad, seed):
    rng = np.random.default_rng(seed)
    layer = make_mha(6, 2, cross=True, seed=seed)
    x, context = randn(rng, 2, 3, 6), randn(rng, 2, 4, 6)
    context_changed = np.where(pad[..., None], randn(rng, 2, 4, 6), context)
    y, y_changed = layer(x, context, key_padding_mask=pad), layer(x, context_changed, key_padding_mask=pad)
    has_real_key = ~pad.all(axis=1)             # a fully padded source falls back to uniform weights
    np.testing.assert_array_equal(y[has_real_key], y_changed[has_real_key])


def test_fully_padded_sequence_gives_finite_output_and_leaves_other_sequences_alone():
    rng = np.random.default_rng(0)
    layer = make_mha(6, 2)
    x = randn(rng, 2, 3, 6)
    pad = np.array([[True, True, True], [False, False, True]])
    y = layer(x, causal=True, key_padding_mask=pad)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y[1:], layer(x[1:], causal=True, key_padding_mask=pad[1:]), rtol=1e-12)


# ------------------------------------------------------------------------------------------ KV cache

@pytest.mark.parametrize("chunks", [[1, 1, 1, 1, 1], [2, 1, 2], [3, 2]])
def test_incremental_decoding_with_a_kv_cache_equals_full_causal_attention(chunks):
    rng = np.random.default_rng(0)
    layer = make_mha(8, 2)
    x = randn(rng, 2, sum(chunks), 8)
    full = layer(x, causal=True)
    cache = KVCache(2, 2, max_len=sum(chunks), head_dim=4, dtype=np.float64)
    pieces, start = [], 0
    for n in chunks:
        pieces.append(layer(x[:, start:start + n], causal=True, cache=cache))
        start += n
    assert cache.length == sum(chunks)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=1e-12, atol=1e-14)


def test_kv_cache_append_returns_all_positions_so_far():
    rng = np.random.default_rng(0)
    cache = KVCache(1, 2, max_len=4, head_dim=3, dtype=np.float64)
    k1, v1, k2, v2 = randn(rng, 1, 2, 1, 3), randn(rng, 1, 2, 1, 3), randn(rng, 1, 2, 2, 3), randn(rng, 1, 2, 2, 3)
    cache.append(k1, v1)
    keys, values = cache.append(k2, v2)
    np.testing.assert_array_equal(keys, np.concatenate([k1, k2], axis=2))
    np.testing.assert_array_equal(values, np.concatenate([v1, v2], axis=2))


def test_kv_cache_overflow_raises_value_error():
    cache = KVCache(1, 1, max_len=2, head_dim=2)
    cache.append(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="holds 2 positions"):
        cache.append(np.zeros((1, 1, 1, 2), np.float32), np.zeros((1, 1, 1, 2), np.float32))


# ----------------------------------------------------------------------------- multi-head gradients

@st.composite
def mha_case(draw, min_head_dim=1):
    B, T, H = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.sampled_from([1, 2, 3]))
    dk = draw(st.integers(min_head_dim, 3))
    pad = draw(st.none() | arrays(bool, (B, T)))
    return B, T, H, dk, draw(st.booleans()), pad


@GRAD
@given(case=mha_case(), seed=st.integers(0, 99))
def test_self_attention_gradients_match_finite_differences(assert_gradients, case, seed):
    B, T, H, dk, causal, pad = case
    layer = make_mha(H * dk, H, seed=seed)
    x = randn(np.random.default_rng(seed), B, T, H * dk)
    assert_gradients(layer, [x], kwargs={"causal": causal, "key_padding_mask": pad},
                     expect=["input0", "c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"], seed=seed)


@GRAD
@given(case=mha_case(min_head_dim=2), source_len=st.integers(1, 4), seed=st.integers(0, 99))
def test_cross_attention_gradients_match_finite_differences(assert_gradients, case, source_len, seed):
    # min_head_dim=2: x reaches the output only through the queries. With d_k = 1 two random keys are
    # often nearly equal, the weights nearly uniform and dQ ~1e-7: finite-difference noise then dominates.
    B, T, H, dk, _, _ = case
    pad = np.random.default_rng(seed).random((B, source_len)) < 0.3
    layer = make_mha(H * dk, H, cross=True, seed=seed)
    rng = np.random.default_rng(seed)
    x, context = randn(rng, B, T, H * dk), randn(rng, B, source_len, H * dk)
    assert_gradients(layer, [x, context], kwargs={"key_padding_mask": pad},
                     expect=["input0", "input1", "c_q.weight", "c_q.bias", "c_kv.weight", "c_kv.bias",
                             "c_proj.weight", "c_proj.bias"], seed=seed)


# -------------------------------------------------------------------------------------- bad input

def test_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="n_heads=3 must divide d_model=8"):
        MultiHeadAttention(8, 3)


def test_attention_rejects_mismatched_width():
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        MultiHeadAttention(8, 2)(np.zeros((1, 3, 6), np.float32))


def test_attention_rejects_input_without_a_batch_axis():
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        MultiHeadAttention(8, 2)(np.zeros((3, 8), np.float32))


def test_cross_attention_requires_context():
    with pytest.raises(ValueError, match="context"):
        MultiHeadAttention(8, 2, cross=True)(np.zeros((1, 3, 8), np.float32))


def test_cross_attention_rejects_context_of_the_wrong_width():
    with pytest.raises(ValueError, match="last dimension 8"):
        MultiHeadAttention(8, 2, cross=True)(np.zeros((1, 3, 8), np.float32), np.zeros((1, 2, 5), np.float32))
