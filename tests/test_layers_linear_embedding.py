"""Linear, Embedding, learned and sinusoidal positional encodings."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.core import Module
from transformer_np.layers import (Embedding, LearnedPositionalEmbedding, Linear, Residual,
                                   SinusoidalPositionalEncoding, TiedOutputHead, sinusoidal_table)

GRAD = settings(max_examples=20, deadline=None)
dims = st.integers(1, 5)


def randn(rng, *shape):
    return rng.standard_normal(shape)


# ------------------------------------------------------------------------------------------- Linear

def test_linear_forward_is_x_at_w_plus_b():
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, dtype=np.float64, rng=1)
    layer.bias.data[:] = randn(rng, 3)
    x = randn(rng, 2, 5, 4)
    expected = np.einsum("bti,io->bto", x, layer.weight.data) + layer.bias.data
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12)


def test_linear_without_bias_has_only_a_weight_and_computes_x_at_w():
    layer = Linear(4, 3, bias=False, dtype=np.float64, rng=1)
    x = randn(np.random.default_rng(0), 6, 4)
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    np.testing.assert_allclose(layer(x), x @ layer.weight.data, rtol=1e-12)


def test_linear_weight_is_stored_in_out_and_initialised_with_init_std():
    layer = Linear(200, 300, rng=0, init_std=0.05)
    assert layer.weight.shape == (200, 300)
    assert abs(layer.weight.data.std() - 0.05) < 0.001
    assert not layer.bias.data.any()


def test_linear_same_seed_gives_same_weights():
    np.testing.assert_array_equal(Linear(3, 4, rng=7).weight.data, Linear(3, 4, rng=7).weight.data)


@GRAD
@given(batch=st.integers(1, 2), length=dims, d_in=dims, d_out=dims, bias=st.booleans(), seed=st.integers(0, 99))
def test_linear_gradients_match_finite_differences(assert_gradients, batch, length, d_in, d_out, bias, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(d_in, d_out, bias=bias, dtype=np.float64, rng=seed, init_std=1.0)
    if bias:
        layer.bias.data[:] = randn(rng, d_out)
    expect = ["input0", "weight"] + (["bias"] if bias else [])
    assert_gradients(layer, [randn(rng, batch, length, d_in)], expect=expect, seed=seed)


def test_linear_backward_formulas():
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, dtype=np.float64, rng=1)
    x, dy = randn(rng, 2, 5, 4), randn(rng, 2, 5, 3)
    layer(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy @ layer.weight.data.T, rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, np.einsum("bti,bto->io", x, dy), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, dy.sum(axis=(0, 1)), rtol=1e-12)


def test_linear_used_twice_sums_both_weight_gradients():
    """A weight shared by two uses (tied weights) receives the sum of both uses' gradients."""
    rng = np.random.default_rng(0)
    layer = Linear(3, 2, dtype=np.float64, rng=1)
    x1, x2, d1, d2 = randn(rng, 4, 3), randn(rng, 5, 3), randn(rng, 4, 2), randn(rng, 5, 2)
    layer(x1)
    layer.backward(d1)
    layer(x2)
    layer.backward(d2)
    np.testing.assert_allclose(layer.weight.grad, x1.T @ d1 + x2.T @ d2, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, d1.sum(0) + d2.sum(0), rtol=1e-12)


def test_linear_inside_residual_gets_input_gradient_from_both_paths():
    rng = np.random.default_rng(0)
    layer = Linear(3, 3, dtype=np.float64, rng=1, init_std=1.0)
    x, dy = randn(rng, 2, 3), randn(rng, 2, 3)
    res = Residual(layer)
    res.forward(x)
    dx = res.backward(dy)
    np.testing.assert_allclose(dx, dy + dy @ layer.weight.data.T, rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, x.T @ dy, rtol=1e-12)


def test_linear_rejects_mismatched_width_naming_the_expected_width():
    with pytest.raises(ValueError, match="last dimension 4"):
        Linear(4, 3)(np.zeros((2, 5), dtype=np.float32))


def test_linear_rejects_integer_dtype_at_construction():
    with pytest.raises(TypeError, match="dtype"):
        Linear(4, 3, dtype=np.int32)


# ---------------------------------------------------------------------------------------- Embedding

def test_embedding_forward_looks_up_rows():
    layer = Embedding(6, 3, dtype=np.float64, rng=0)
    ids = np.array([[5, 0, 2], [2, 2, 1]])
    out = layer(ids)
    assert out.shape == (2, 3, 3)
    for b in range(2):
        for t in range(3):
            np.testing.assert_array_equal(out[b, t], layer.weight.data[ids[b, t]])


def test_embedding_backward_sums_gradients_of_repeated_ids_and_returns_none():
    layer = Embedding(5, 2, dtype=np.float64, rng=0)
    ids = np.array([[1, 1, 3], [1, 0, 3]])
    dy = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    layer(ids)
    assert layer.backward(dy) is None
    expected = np.zeros((5, 2))
    expected[1] = dy[0, 0] + dy[0, 1] + dy[1, 0]
    expected[3] = dy[0, 2] + dy[1, 2]
    expected[0] = dy[1, 1]
    np.testing.assert_array_equal(layer.weight.grad, expected)


@GRAD
@given(batch=st.integers(1, 2), length=dims, vocab=st.integers(1, 6), width=dims, seed=st.integers(0, 99))
def test_embedding_weight_gradient_matches_finite_differences(assert_gradients, batch, length, vocab, width, seed):
    rng = np.random.default_rng(seed)
    layer = Embedding(vocab, width, dtype=np.float64, rng=seed)
    ids = rng.integers(0, vocab, size=(batch, length))
    errors = assert_gradients(layer, [ids], expect=["weight"], seed=seed, max_entries=100)
    assert "input0" not in errors          # integer ids are not differentiable


@pytest.mark.parametrize("bad", [-1, 6])
def test_embedding_rejects_out_of_range_ids_naming_the_range(bad):
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        Embedding(6, 3)(np.array([[0, bad]]))


def test_embedding_rejects_float_ids():
    with pytest.raises(TypeError, match="integers"):
        Embedding(6, 3)(np.array([[0.0, 1.0]]))


# ------------------------------------------------------------------------------- learned positions

def test_learned_positional_embedding_adds_the_rows_from_start():
    rng = np.random.default_rng(0)
    layer = LearnedPositionalEmbedding(8, 3, dtype=np.float64, rng=1)
    x = randn(rng, 2, 4, 3)
    np.testing.assert_array_equal(layer(x, start=3), x + layer.weight.data[3:7])


def test_learned_positional_embedding_backward_sums_over_batch_at_the_used_rows():
    rng = np.random.default_rng(0)
    layer = LearnedPositionalEmbedding(8, 3, dtype=np.float64, rng=1)
    dy = randn(rng, 2, 4, 3)
    layer(randn(rng, 2, 4, 3), start=2)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    expected = np.zeros((8, 3))
    expected[2:6] = dy.sum(axis=0)
    np.testing.assert_allclose(layer.weight.grad, expected, rtol=1e-15)


@GRAD
@given(batch=st.integers(1, 2), length=dims, width=dims, start=st.integers(0, 3), seed=st.integers(0, 99))
def test_learned_positional_embedding_gradients_match_finite_differences(assert_gradients, batch, length, width,
                                                                          start, seed):
    rng = np.random.default_rng(seed)
    layer = LearnedPositionalEmbedding(length + start, width, dtype=np.float64, rng=seed)
    assert_gradients(layer, [randn(rng, batch, length, width)], kwargs={"start": start},
                     expect=["input0", "weight"], seed=seed)


def test_learned_positional_embedding_rejects_sequences_past_max_len():
    with pytest.raises(ValueError, match="max_len=4"):
        LearnedPositionalEmbedding(4, 3)(np.zeros((1, 3, 3), np.float32), start=2)


def test_learned_positional_embedding_rejects_mismatched_width():
    with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
        LearnedPositionalEmbedding(4, 3)(np.zeros((1, 2, 5), np.float32))


# ---------------------------------------------------------------------------- sinusoidal positions

@pytest.mark.parametrize("d_model", [6, 7])
def test_sinusoidal_table_matches_the_paper_formula(d_model):
    table = sinusoidal_table(10, d_model, dtype=np.float64)
    expected = np.empty((10, d_model))
    for pos in range(10):
        for i in range(d_model):
            angle = pos / 10000 ** ((i - i % 2) / d_model)       # 2i / d for the pair (2i, 2i+1)
            expected[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    np.testing.assert_allclose(table, expected, rtol=1e-12, atol=1e-12)


def test_sinusoidal_encoding_adds_the_table_from_start():
    rng = np.random.default_rng(0)
    layer = SinusoidalPositionalEncoding(9, 4, dtype=np.float64)
    x = randn(rng, 2, 3, 4)
    np.testing.assert_array_equal(layer(x, start=5), x + sinusoidal_table(9, 4, np.float64)[5:8])
    assert layer.parameters() == []


@GRAD
@given(batch=st.integers(1, 2), length=dims, width=dims, start=st.integers(0, 3), seed=st.integers(0, 99))
def test_sinusoidal_encoding_input_gradient_matches_finite_differences(assert_gradients, batch, length, width,
                                                                       start, seed):
    layer = SinusoidalPositionalEncoding(length + start, width, dtype=np.float64)
    x = randn(np.random.default_rng(seed), batch, length, width)
    assert_gradients(layer, [x], kwargs={"start": start}, expect=["input0"], seed=seed)


def test_sinusoidal_encoding_rejects_sequences_past_max_len():
    with pytest.raises(ValueError, match="max_len=4"):
        SinusoidalPositionalEncoding(4, 3)(np.zeros((1, 5, 3), np.float32))


def test_sinusoidal_encoding_rejects_mismatched_width():
    with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
        SinusoidalPositionalEncoding(4, 3)(np.zeros((1, 2, 5), np.float32))


# --------------------------------------------------------------------------------- tied output head

def test_tied_head_computes_x_times_the_embedding_transpose():
    emb = Embedding(7, 3, dtype=np.float64, rng=0)
    x = randn(np.random.default_rng(1), 2, 4, 3)
    np.testing.assert_allclose(TiedOutputHead(emb)(x), x @ emb.weight.data.T, rtol=1e-12)


@GRAD
@given(batch=st.integers(1, 2), length=dims, vocab=st.integers(1, 6), width=dims, seed=st.integers(0, 99))
def test_tied_head_gradients_match_finite_differences(assert_gradients, batch, length, vocab, width, seed):
    head = TiedOutputHead(Embedding(vocab, width, dtype=np.float64, rng=seed, init_std=1.0))
    x = randn(np.random.default_rng(seed), batch, length, width)
    assert_gradients(head, [x], expect=["input0", "weight"], seed=seed)


class TiedLM(Module):
    def __init__(self):
        self.wte = Embedding(5, 3, dtype=np.float64, rng=0, init_std=1.0)
        self.lm_head = TiedOutputHead(self.wte)


def test_tied_weight_is_listed_once_and_receives_the_sum_of_both_uses():
    model = TiedLM()
    assert [n for n, _ in model.named_parameters()] == ["wte.weight"]
    rng = np.random.default_rng(1)
    ids, dlogits = np.array([[0, 3, 3]]), randn(rng, 1, 3, 5)
    h = model.wte(ids)
    model.lm_head(h)
    dh = model.lm_head.backward(dlogits)
    model.wte.backward(dh)
    E = model.wte.weight.data
    expected = dlogits[0].T @ h[0]                                 # output-head use
    np.add.at(expected, ids[0], dlogits[0] @ E)                     # embedding use
    np.testing.assert_allclose(model.wte.weight.grad, expected, rtol=1e-12)


def test_tied_head_rejects_mismatched_width():
    with pytest.raises(ValueError, match="last dimension 3"):
        TiedOutputHead(Embedding(5, 3))(np.zeros((1, 2, 4), np.float32))
