"""Identity, Add, Sequential, Branch, Residual and the position-wise FeedForward."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.layers import (GELU, Add, Branch, CausalAttention, FeedForward, Identity, LayerNorm, Linear,
                                   MultiHeadAttention, ReLU, Residual, Sequential)

GRAD = settings(max_examples=15, deadline=None)
shapes = st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 8))


def randn(rng, *shape):
    return rng.standard_normal(shape)


def linear(d_in, d_out, seed):
    """A float64 Linear with O(1) weights and a non-zero bias."""
    layer = Linear(d_in, d_out, dtype=np.float64, rng=seed, init_std=1.0)
    layer.bias.data[:] = np.random.default_rng(seed + 100).standard_normal(d_out)
    return layer


# ---------------------------------------------------------------------------------- Identity, Add

def test_identity_passes_values_and_gradients_through():
    x = randn(np.random.default_rng(0), 2, 3)
    layer = Identity()
    assert layer(x) is x
    assert layer.backward(x) is x


def test_add_sums_its_inputs_and_copies_the_gradient_to_both():
    rng = np.random.default_rng(0)
    a, b, dy = randn(rng, 2, 3), randn(rng, 2, 3), randn(rng, 2, 3)
    layer = Add()
    np.testing.assert_array_equal(layer(a, b), a + b)
    da, db = layer.backward(dy)
    np.testing.assert_array_equal(da, dy)
    np.testing.assert_array_equal(db, dy)


@GRAD
@given(shape=shapes, seed=st.integers(0, 99))
def test_add_gradients_match_finite_differences(assert_gradients, shape, seed):
    rng = np.random.default_rng(seed)
    assert_gradients(Add(), [randn(rng, *shape), randn(rng, *shape)], expect=["input0", "input1"], seed=seed)


# ---------------------------------------------------------------------------------------- Sequential

def test_sequential_chains_forward_in_order():
    rng = np.random.default_rng(0)
    first, second = linear(4, 5, 1), linear(5, 3, 2)
    x = randn(rng, 2, 4)
    expected = np.maximum(x @ first.weight.data + first.bias.data, 0) @ second.weight.data + second.bias.data
    np.testing.assert_allclose(Sequential(first, ReLU(), second)(x), expected, rtol=1e-12)


def test_sequential_backward_applies_the_layers_in_reverse():
    rng = np.random.default_rng(0)
    first, second = linear(4, 5, 1), linear(5, 3, 2)
    x, dy = randn(rng, 2, 4), randn(rng, 2, 3)
    model = Sequential(first, ReLU(), second)
    model(x)
    hidden_positive = (x @ first.weight.data + first.bias.data) > 0
    expected = ((dy @ second.weight.data.T) * hidden_positive) @ first.weight.data.T
    np.testing.assert_allclose(model.backward(dy), expected, rtol=1e-12)


def test_sequential_names_its_layers_by_index():
    names = [n for n, _ in Sequential(Linear(2, 2), ReLU(), LayerNorm(2)).named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]


def test_sequential_passes_a_tuple_output_as_separate_inputs():
    """Branch returns a tuple; the next layer (Add) receives its items as two arguments."""
    rng = np.random.default_rng(0)
    left, right = linear(3, 2, 1), linear(3, 2, 2)
    x = randn(rng, 4, 3)
    expected = (x @ left.weight.data + left.bias.data) + (x @ right.weight.data + right.bias.data)
    np.testing.assert_allclose(Sequential(Branch(left, right), Add())(x), expected, rtol=1e-12)


@GRAD
@given(shape=shapes, seed=st.integers(0, 99))
def test_sequential_gradients_match_finite_differences(assert_gradients, shape, seed):
    C = shape[-1]
    model = Sequential(linear(C, 6, seed), GELU(), LayerNorm(6, dtype=np.float64), linear(6, 3, seed + 1))
    x = randn(np.random.default_rng(seed), *shape)
    assert_gradients(model, [x], seed=seed,
                     expect=["input0", "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
                             "layers.3.weight", "layers.3.bias"])


@GRAD
@given(shape=shapes, seed=st.integers(0, 99))
def test_branch_then_add_gradients_match_finite_differences(assert_gradients, shape, seed):
    C = shape[-1]
    model = Sequential(Branch(linear(C, 4, seed), Sequential(linear(C, 4, seed + 1), GELU())), Add())
    x = randn(np.random.default_rng(seed), *shape)
    assert_gradients(model, [x], seed=seed,
                     expect=["input0", "layers.0.layers.0.weight", "layers.0.layers.1.layers.0.bias"])


# -------------------------------------------------------------------------------------------- Branch

def test_branch_returns_one_output_per_sublayer():
    rng = np.random.default_rng(0)
    left = linear(3, 2, 1)
    x = randn(rng, 4, 3)
    a, b = Branch(left, Identity())(x)
    np.testing.assert_allclose(a, x @ left.weight.data + left.bias.data, rtol=1e-12)
    assert b is x


def test_branch_backward_sums_the_gradients_of_its_sublayers():
    rng = np.random.default_rng(0)
    left, right = linear(3, 2, 1), linear(3, 5, 2)
    x, d_left, d_right = randn(rng, 4, 3), randn(rng, 4, 2), randn(rng, 4, 5)
    branch = Branch(left, right)
    branch(x)
    dx = branch.backward((d_left, d_right))
    np.testing.assert_allclose(dx, d_left @ left.weight.data.T + d_right @ right.weight.data.T, rtol=1e-12)


def test_branch_sharing_one_layer_twice_sums_its_parameter_gradients():
    rng = np.random.default_rng(0)
    shared = linear(3, 2, 1)
    x, d1, d2 = randn(rng, 4, 3), randn(rng, 4, 2), randn(rng, 4, 2)
    branch = Branch(shared, shared)
    branch(x)
    branch.backward((d1, d2))
    np.testing.assert_allclose(shared.weight.grad, x.T @ (d1 + d2), rtol=1e-12)


@GRAD
@given(shape=shapes, seed=st.integers(0, 99))
def test_branch_gradients_match_finite_differences(assert_gradients, shape, seed):
    """Two outputs: the check draws an upstream gradient for each."""
    C = shape[-1]
    branch = Branch(linear(C, 3, seed), GELU(), Identity())
    x = randn(np.random.default_rng(seed), *shape)
    assert_gradients(branch, [x], expect=["input0", "layers.0.weight", "layers.0.bias"], seed=seed)


def test_branch_rejects_a_wrong_number_of_gradients():
    branch = Branch(Identity(), Identity())
    branch(np.zeros(3))
    with pytest.raises(ValueError, match="2 outputs but got 3"):
        branch.backward((np.zeros(3),) * 3)


# ------------------------------------------------------------------------------------------ Residual

def test_residual_is_x_plus_f_of_x():
    rng = np.random.default_rng(0)
    f = linear(3, 3, 1)
    x = randn(rng, 2, 4, 3)
    np.testing.assert_allclose(Residual(f)(x), x + x @ f.weight.data + f.bias.data, rtol=1e-12)


def test_residual_backward_is_dy_plus_f_backward():
    rng = np.random.default_rng(0)
    x, dy = randn(rng, 2, 4, 3), randn(rng, 2, 4, 3)
    res = Residual(GELU("none"))
    res(x)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(res.backward(dy), dy + dy * (cdf + x * pdf), rtol=1e-12)


@GRAD
@given(shape=shapes, seed=st.integers(0, 99))
def test_residual_gradients_match_finite_differences(assert_gradients, shape, seed):
    C = shape[-1]
    res = Residual(Sequential(LayerNorm(C, dtype=np.float64), linear(C, C, seed)))
    x = randn(np.random.default_rng(seed), *shape)
    assert_gradients(res, [x], seed=seed,
                     expect=["input0", "layer.layers.0.weight", "layer.layers.1.weight", "layer.layers.1.bias"])


# --------------------------------------------------------------------------------------- FeedForward

def _gelu_tanh(h):
    return 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3)))


def _gelu_exact(h):
    return h * 0.5 * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))


@pytest.mark.parametrize("activation, act", [("gelu", _gelu_tanh), ("gelu_exact", _gelu_exact),
                                             ("relu", lambda h: np.maximum(h, 0))])
def test_feedforward_is_act_of_x_w1_plus_b1_times_w2_plus_b2(activation, act):
    rng = np.random.default_rng(0)
    ff = FeedForward(4, 16, activation, dtype=np.float64, rng=1)
    for p in ff.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    x = randn(rng, 2, 3, 4)
    hidden = act(x @ ff.c_fc.weight.data + ff.c_fc.bias.data)
    np.testing.assert_allclose(ff(x), hidden @ ff.c_proj.weight.data + ff.c_proj.bias.data, rtol=1e-12)


def test_feedforward_hidden_width_and_projection_init():
    ff = FeedForward(32, 128, rng=0, proj_init_std=0.005)
    assert ff.c_fc.weight.shape == (32, 128) and ff.c_proj.weight.shape == (128, 32)
    assert abs(ff.c_proj.weight.data.std() - 0.005) < 0.0005


def test_feedforward_dropout_is_inactive_in_eval_mode():
    rng = np.random.default_rng(0)
    ff = FeedForward(4, 8, dropout=0.5, dtype=np.float64, rng=1)
    x = randn(rng, 2, 3, 4)
    no_dropout = FeedForward(4, 8, dtype=np.float64, rng=1)
    np.testing.assert_array_equal(ff.eval()(x), no_dropout(x))


@GRAD
@given(shape=shapes, d_ff=st.integers(1, 12), activation=st.sampled_from(["gelu", "gelu_exact", "relu"]),
       dropout=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 99))
def test_feedforward_gradients_match_finite_differences(assert_gradients, shape, d_ff, activation, dropout, seed):
    C = shape[-1]
    ff = FeedForward(C, d_ff, activation, dropout=dropout, dtype=np.float64, rng=seed)
    rng = np.random.default_rng(seed)
    for p in ff.parameters():
        # Hidden pre-activations ~ N(0, 1.25): far in GELU's negative tail (h < -6) the true gradient is
        # ~1e-12 and finite differences of 1 + tanh(u) are noise, which dropout can leave as the only signal.
        p.data[...] = rng.standard_normal(p.shape) * (1.0 / math.sqrt(p.shape[0]) if p.data.ndim == 2 else 0.5)

    def reseed():
        ff.dropout.rng = np.random.default_rng(seed)

    assert_gradients(ff, [randn(rng, *shape)], before_forward=reseed, seed=seed,
                     expect=["input0", "c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"])


def test_feedforward_rejects_unknown_activation():
    with pytest.raises(ValueError, match="'swish'"):
        FeedForward(4, 8, activation="swish")


def test_feedforward_rejects_mismatched_width():
    with pytest.raises(ValueError, match="last dimension 4"):
        FeedForward(4, 8)(np.zeros((1, 2, 5), np.float32))


def test_causal_attention_gradients_match_finite_differences_and_look_only_back(assert_gradients):
    rng = np.random.default_rng(3)
    layer = CausalAttention(MultiHeadAttention(8, 2, dtype=np.float64, rng=0))
    x = randn(rng, 2, 5, 8)
    assert_gradients(layer, [x], expect=["input0", "attn.c_attn.weight", "attn.c_proj.weight"], seed=0)
    changed = x.copy()
    changed[:, -1] += 1.0                                   # the last position cannot change earlier outputs
    y, y2 = layer.forward(x), layer.forward(changed)
    assert np.array_equal(y[:, :-1], y2[:, :-1]) and not np.allclose(y[:, -1], y2[:, -1])
