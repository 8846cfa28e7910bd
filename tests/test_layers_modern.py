"""The Llama-family layers: RMSNorm, SiLU, SwiGLU, RotaryEmbedding and grouped-query attention."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.layers import (KVCache, MultiHeadAttention, RMSNorm, RotaryEmbedding, SiLU, SwiGLU, Tanh,
                                   causal_mask)
from transformer_np.layers.rotary import rotate_half

GRAD = settings(max_examples=15, deadline=None)


def randn(rng, *shape):
    return rng.standard_normal(shape)


# ------------------------------------------------------------------------------------------ RMSNorm

def test_rmsnorm_matches_the_formula_and_has_no_bias():
    rng = np.random.default_rng(0)
    layer = RMSNorm(6, eps=1e-2, dtype=np.float64)
    layer.weight.data[:] = randn(rng, 6)
    x = randn(rng, 2, 3, 6) * 5.0 + 2.0
    expected = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-2) * layer.weight.data   # no mean removed
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_rmsnorm_output_has_unit_root_mean_square():
    y = RMSNorm(32, eps=0.0, dtype=np.float64)(randn(np.random.default_rng(1), 4, 32) * 9.0)
    np.testing.assert_allclose(np.sqrt((y ** 2).mean(-1)), 1.0, rtol=1e-12)


@GRAD
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(2, 12)), seed=st.integers(0, 99))
def test_rmsnorm_gradients_match_finite_differences(assert_gradients, shape, seed):
    rng = np.random.default_rng(seed)
    layer = RMSNorm(shape[-1], dtype=np.float64)
    layer.weight.data[:] = randn(rng, shape[-1])
    assert_gradients(layer, [randn(rng, *shape)], expect=["input0", "weight"], seed=seed)


def test_rmsnorm_keeps_float32_float32():
    layer = RMSNorm(8)
    x = np.ones((1, 2, 8), np.float32)
    assert layer(x).dtype == np.float32
    assert layer.backward(x).dtype == np.float32


# --------------------------------------------------------------------------------------- SiLU, SwiGLU

def test_silu_values_and_no_overflow_warnings():
    x = np.array([-1000.0, -2.0, 0.0, 2.0, 1000.0])
    with np.errstate(all="raise"):
        y = SiLU()(x)
    np.testing.assert_allclose(y, [0.0, -2 / (1 + np.exp(2)), 0.0, 2 / (1 + np.exp(-2)), 1000.0], atol=1e-12)


@GRAD
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 7)), seed=st.integers(0, 99))
def test_silu_gradients_match_finite_differences(assert_gradients, shape, seed):
    assert_gradients(SiLU(), [randn(np.random.default_rng(seed), *shape) * 3], expect=["input0"], seed=seed)


def test_swiglu_is_down_of_silu_gate_times_up():
    rng = np.random.default_rng(0)
    ffn = SwiGLU(4, 6, dtype=np.float64, rng=rng, proj_init_std=0.5)
    x = randn(rng, 2, 3, 4)
    gate, up, down = (m.weight.data for m in (ffn.gate_proj, ffn.up_proj, ffn.down_proj))
    g = x @ gate
    expected = (g / (1 + np.exp(-g)) * (x @ up)) @ down
    np.testing.assert_allclose(ffn(x), expected, rtol=1e-12)
    assert [n for n, _ in ffn.named_parameters()] == ["gate_proj.weight", "up_proj.weight", "down_proj.weight"]


@GRAD
@given(d_model=st.integers(2, 6), d_ff=st.integers(2, 9), bias=st.booleans(), seed=st.integers(0, 99))
def test_swiglu_gradients_match_finite_differences(assert_gradients, d_model, d_ff, bias, seed):
    rng = np.random.default_rng(seed)
    ffn = SwiGLU(d_model, d_ff, bias=bias, dtype=np.float64, rng=rng, proj_init_std=0.5)
    for p in ffn.parameters():
        p.data[:] = randn(rng, *p.shape) * 0.5
    projections = ("gate_proj", "up_proj", "down_proj")
    expect = ["input0"] + [f"{p}.weight" for p in projections] + ([f"{p}.bias" for p in projections] if bias else [])
    assert_gradients(ffn, [randn(rng, 2, 3, d_model)], expect=expect, seed=seed)


@GRAD
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 5)), seed=st.integers(0, 99))
def test_tanh_gradients_match_finite_differences(assert_gradients, shape, seed):
    assert_gradients(Tanh(), [randn(np.random.default_rng(seed), *shape)], expect=["input0"], seed=seed)


@pytest.mark.parametrize("make", [SiLU, Tanh, lambda: SwiGLU(8, 12, bias=True, rng=0),
                                  lambda: RotaryEmbedding(8, 16)], ids=["SiLU", "Tanh", "SwiGLU", "RotaryEmbedding"])
def test_new_layers_keep_float32_float32(make):
    layer = make()
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 8)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


# --------------------------------------------------------------------------------------------- RoPE

def test_rotary_uses_hugging_faces_half_split_layout():
    # Pair (i, i + d/2) turns by p * base^(-2i/d): at position 1 with base 100 and d = 4, pair 0 turns by
    # 1 rad and pair 1 by 0.1 rad.
    rope = RotaryEmbedding(4, 3, base=100.0, dtype=np.float64)
    x = np.array([1.0, 0.0, 0.0, 0.0])[None, None, None].repeat(2, axis=2)      # (1, 1, 2, 4)
    y = rope(x)
    np.testing.assert_allclose(y[0, 0, 0], [1, 0, 0, 0], atol=1e-15)            # position 0: unchanged
    np.testing.assert_allclose(y[0, 0, 1], [np.cos(1), 0, np.sin(1), 0], atol=1e-15)
    y2 = rope(np.array([0.0, 1.0, 0.0, 0.0])[None, None, None], start=1)
    np.testing.assert_allclose(y2[0, 0, 0], [0, np.cos(0.1), 0, np.sin(0.1)], atol=1e-15)


def test_rotary_keeps_vector_lengths():
    rope = RotaryEmbedding(8, 16, dtype=np.float64)
    x = randn(np.random.default_rng(0), 2, 3, 16, 8)
    np.testing.assert_allclose(np.linalg.norm(rope(x), axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)


def test_rotary_score_depends_only_on_the_offset_between_positions():
    # q at position i, k at position j: q_i . k_j is a function of j - i alone.
    rng = np.random.default_rng(0)
    rope = RotaryEmbedding(16, 40, dtype=np.float64)
    q, k = randn(rng, 16), randn(rng, 16)
    rotated_q = rope(np.broadcast_to(q, (1, 1, 40, 16)).copy())[0, 0]          # q at every position
    rotated_k = rope(np.broadcast_to(k, (1, 1, 40, 16)).copy())[0, 0]
    scores = rotated_q @ rotated_k.T                                           # (i, j)
    for offset in (-7, 0, 3, 20):
        diagonal = np.diagonal(scores, offset)
        np.testing.assert_allclose(diagonal, diagonal[0], rtol=1e-10)
    assert np.ptp(np.diagonal(scores, 0)) < 1e-12 < np.ptp(scores[0])          # but it does vary with j - i


def test_rotary_start_offset_equals_slicing_the_full_rotation():
    rope = RotaryEmbedding(6, 10, dtype=np.float64)
    x = randn(np.random.default_rng(3), 1, 2, 10, 6)
    full = rope(x)
    np.testing.assert_allclose(rope(x[:, :, 7:], start=7), full[:, :, 7:], rtol=1e-14)


@GRAD
@given(head_dim=st.sampled_from([2, 4, 6, 8]), T=st.integers(1, 6), start=st.integers(0, 4), seed=st.integers(0, 99))
def test_rotary_gradient_is_the_inverse_rotation(assert_gradients, head_dim, T, start, seed):
    rng = np.random.default_rng(seed)
    rope = RotaryEmbedding(head_dim, 12, base=50.0, dtype=np.float64)
    x = randn(rng, 2, 3, T, head_dim)
    assert_gradients(rope, [x], kwargs={"start": start}, expect=["input0"], seed=seed)
    rope(x, start)
    np.testing.assert_allclose(rope.backward(rope(x, start)), x, rtol=1e-12, atol=1e-12)   # R^T R = I


def test_rotate_half_is_a_quarter_turn():
    x = np.arange(1.0, 7.0)
    np.testing.assert_array_equal(rotate_half(x), [-4, -5, -6, 1, 2, 3])
    np.testing.assert_array_equal(rotate_half(rotate_half(x)), -x)


def test_rotary_refuses_odd_head_dim_and_too_long_input():
    with pytest.raises(ValueError, match="even head_dim"):
        RotaryEmbedding(5, 8)
    with pytest.raises(ValueError, match="max_len=8"):
        RotaryEmbedding(4, 8)(np.zeros((1, 1, 3, 4), np.float32), start=6)


# ---------------------------------------------------------------------------- grouped-query attention

def repeat_kv_reference(attn, x, rope=None):
    """GQA by its definition: repeat each key/value head G times, then ordinary causal attention."""
    B, T, _ = x.shape
    H, H_kv, d = attn.n_heads, attn.n_kv_heads, attn.head_dim
    q = (x @ attn.q_proj.weight.data).reshape(B, T, H, d).transpose(0, 2, 1, 3)
    k = (x @ attn.k_proj.weight.data).reshape(B, T, H_kv, d).transpose(0, 2, 1, 3)
    v = (x @ attn.v_proj.weight.data).reshape(B, T, H_kv, d).transpose(0, 2, 1, 3)
    if rope is not None:
        q, k = rope(q), rope(k)
    k, v = np.repeat(k, H // H_kv, axis=1), np.repeat(v, H // H_kv, axis=1)   # head h uses kv head h // G
    scores = np.where(causal_mask(T, T), q @ k.swapaxes(-1, -2) / np.sqrt(d), -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return (weights @ v).transpose(0, 2, 1, 3).reshape(B, T, H * d) @ attn.o_proj.weight.data


@pytest.mark.parametrize("n_kv_heads", [1, 2, 4])
@pytest.mark.parametrize("rotary", [False, True])
def test_grouped_query_attention_equals_repeating_the_kv_heads(n_kv_heads, rotary):
    rng = np.random.default_rng(n_kv_heads)
    rope = RotaryEmbedding(4, 8, dtype=np.float64) if rotary else None
    attn = MultiHeadAttention(16, 4, bias=False, dtype=np.float64, rng=rng, proj_init_std=0.3, n_kv_heads=n_kv_heads,
                              rotary=rope, separate_qkv=True)
    for p in attn.parameters():
        p.data[:] = randn(rng, *p.shape) * 0.4
    x = randn(rng, 2, 5, 16)
    np.testing.assert_allclose(attn(x, causal=True), repeat_kv_reference(attn, x, rope), rtol=1e-11, atol=1e-12)
    assert attn.attn_weights.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(attn.attn_weights.sum(-1), 1.0)


def test_fused_and_separate_projections_compute_the_same_attention():
    rng = np.random.default_rng(0)
    rope = RotaryEmbedding(4, 8, dtype=np.float64)
    separate = MultiHeadAttention(16, 4, bias=False, dtype=np.float64, rng=rng, n_kv_heads=2, rotary=rope,
                                  separate_qkv=True)
    fused = MultiHeadAttention(16, 4, bias=False, dtype=np.float64, rng=rng, n_kv_heads=2, rotary=rope)
    fused.c_attn.weight.data[:] = np.concatenate([separate.q_proj.weight.data, separate.k_proj.weight.data,
                                                  separate.v_proj.weight.data], axis=1)   # (16, 16 + 8 + 8)
    fused.c_proj.weight.data[:] = separate.o_proj.weight.data
    x = randn(rng, 2, 5, 16)
    np.testing.assert_allclose(fused(x, causal=True), separate(x, causal=True), rtol=1e-12)
    dy = randn(rng, 2, 5, 16)
    np.testing.assert_allclose(fused.backward(dy), separate.backward(dy), rtol=1e-12)


@GRAD
@given(heads=st.sampled_from([(4, 1), (4, 2), (4, 4), (6, 3), (2, 1)]), T=st.integers(1, 5), separate=st.booleans(),
       rotary=st.booleans(), bias=st.booleans(), padding=st.booleans(), seed=st.integers(0, 99))
def test_grouped_query_attention_gradients_match_finite_differences(assert_gradients, heads, T, separate, rotary,
                                                                    bias, padding, seed):
    n_heads, n_kv_heads = heads
    # Without rotation a key bias adds q . b_k to a whole row of scores, which softmax ignores: its gradient
    # is exactly 0, and a relative error of 0 against finite-difference noise is meaningless.
    bias = bias and (rotary or not separate)
    d_model = 2 * n_heads                                             # head_dim 2: the smallest rotary pair
    rng = np.random.default_rng(seed)
    rope = RotaryEmbedding(2, 8, base=10.0, dtype=np.float64) if rotary else None
    attn = MultiHeadAttention(d_model, n_heads, bias=bias, dtype=np.float64, rng=rng, n_kv_heads=n_kv_heads,
                              rotary=rope, separate_qkv=separate)
    for p in attn.parameters():
        p.data[:] = randn(rng, *p.shape) * 0.5
    kwargs = {"causal": True}
    if padding:
        kwargs["key_padding_mask"] = np.arange(T)[None, :] >= np.array([[T], [max(T - 2, 1)]])   # (2, T)
    names = [n for n, _ in attn.named_parameters()]
    assert_gradients(attn, [randn(rng, 2, T, d_model)], kwargs=kwargs, expect=["input0", *names], seed=seed)


def test_gqa_cache_stores_only_the_kv_heads_and_matches_full_recomputation():
    rng = np.random.default_rng(0)
    rope = RotaryEmbedding(8, 12, dtype=np.float32)
    attn = MultiHeadAttention(32, 4, bias=False, rng=rng, n_kv_heads=2, rotary=rope, separate_qkv=True)
    x = randn(rng, 2, 9, 32).astype(np.float32)
    full = attn(x, causal=True)
    cache = KVCache(2, attn.n_kv_heads, 12, attn.head_dim)
    assert cache.keys.shape == (2, 2, 12, 8)                          # H_kv heads, not H
    steps = [attn(x[:, :4], causal=True, cache=cache)] + [attn(x[:, t:t + 1], causal=True, cache=cache)
                                                           for t in range(4, 9)]
    incremental = np.concatenate(steps, axis=1)
    assert incremental.dtype == np.float32
    np.testing.assert_allclose(incremental, full, rtol=1e-5, atol=1e-6)


def test_attention_refuses_kv_heads_that_do_not_divide_the_heads():
    with pytest.raises(ValueError, match="n_kv_heads=3 must divide n_heads=4"):
        MultiHeadAttention(16, 4, n_kv_heads=3)
    with pytest.raises(ValueError, match="cross-attention"):
        MultiHeadAttention(16, 4, cross=True, n_kv_heads=2)


def test_per_head_queries_and_keys_reproduce_each_heads_weights():
    rng = np.random.default_rng(2)
    attn = MultiHeadAttention(16, 4, bias=False, dtype=np.float64, rng=rng, proj_init_std=0.5, n_kv_heads=2,
                              rotary=RotaryEmbedding(4, 8, dtype=np.float64), separate_qkv=True)
    attn(randn(rng, 1, 6, 16), causal=True)
    q, k = attn.head_queries_keys()                                   # (1, 4, 6, 4) each
    assert q.shape == k.shape == (1, 4, 6, 4)
    np.testing.assert_array_equal(k[:, 0], k[:, 1])                   # heads 0 and 1 share kv head 0
    scores = np.where(causal_mask(6, 6), q @ k.swapaxes(-1, -2) / 2.0, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    np.testing.assert_allclose(weights / weights.sum(-1, keepdims=True), attn.attn_weights, rtol=1e-12)
