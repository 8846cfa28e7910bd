"""LayerNorm, ReLU, GELU (tanh and exact), Softmax and Dropout."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.layers import GELU, Dropout, LayerNorm, ReLU, Softmax, softmax

GRAD = settings(max_examples=20, deadline=None)
shapes = st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 12))


def randn(rng, *shape):
    return rng.standard_normal(shape)


# ---------------------------------------------------------------------------------------- LayerNorm

def test_layernorm_output_has_zero_mean_and_unit_variance_per_position():
    x = randn(np.random.default_rng(0), 3, 5, 16) * 7.0 + 3.0
    y = LayerNorm(16, eps=0.0, dtype=np.float64)(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-13)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-12)


def test_layernorm_matches_the_direct_formula_with_gain_bias_and_eps():
    rng = np.random.default_rng(0)
    layer = LayerNorm(6, eps=1e-2, dtype=np.float64)
    layer.weight.data[:], layer.bias.data[:] = randn(rng, 6), randn(rng, 6)
    x = randn(rng, 2, 3, 6)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)          # biased variance, eps inside the sqrt
    expected = (x - mean) / np.sqrt(var + 1e-2) * layer.weight.data + layer.bias.data
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12)


def test_layernorm_starts_as_gain_one_bias_zero():
    layer = LayerNorm(4)
    np.testing.assert_array_equal(layer.weight.data, np.ones(4, np.float32))
    np.testing.assert_array_equal(layer.bias.data, np.zeros(4, np.float32))


@GRAD
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(3, 12)), seed=st.integers(0, 99))
def test_layernorm_gradients_match_finite_differences(assert_gradients, shape, seed):
    # Width >= 3: with 2 features xhat = +-1/sqrt(1 + eps/var) whatever x is, so the input gradient is
    # O(eps) and drowns in finite-difference noise (widths 1-2 are covered at a larger eps below).
    rng = np.random.default_rng(seed)
    layer = LayerNorm(shape[-1], dtype=np.float64)
    layer.weight.data[:], layer.bias.data[:] = randn(rng, shape[-1]), randn(rng, shape[-1])
    assert_gradients(layer, [randn(rng, *shape)], expect=["input0", "weight", "bias"], seed=seed)


@pytest.mark.parametrize("width", [1, 2])
def test_layernorm_gradients_for_one_or_two_features(assert_gradients, width):
    rng = np.random.default_rng(width)
    layer = LayerNorm(width, eps=0.5, dtype=np.float64)
    layer.weight.data[:], layer.bias.data[:] = randn(rng, width), randn(rng, width)
    assert_gradients(layer, [randn(rng, 2, 3, width)], expect=["input0", "weight", "bias"])


def test_layernorm_rejects_mismatched_width():
    with pytest.raises(ValueError, match="last dimension 4"):
        LayerNorm(4)(np.zeros((2, 3), np.float32))


# --------------------------------------------------------------------------------------------- ReLU

def test_relu_forward_zeroes_negatives_and_backward_masks_by_sign():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    relu = ReLU()
    np.testing.assert_array_equal(relu(x), [[0.0, 0.0, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(relu.backward(np.full_like(x, 2.0)), [[0.0, 0.0, 0.0, 2.0, 2.0]])


@GRAD
@given(shape=shapes, seed=st.integers(0, 99))
def test_relu_gradient_matches_finite_differences(assert_gradients, shape, seed):
    x = randn(np.random.default_rng(seed), *shape)
    x[np.abs(x) < 1e-3] = 0.5                  # keep away from the kink at 0
    assert_gradients(ReLU(), [x], expect=["input0"], seed=seed)


# --------------------------------------------------------------------------------------------- GELU

GRID = np.linspace(-6.0, 6.0, 1201)


def test_exact_gelu_is_x_times_the_normal_cdf():
    # Phi(x) = erfc(-x / sqrt 2) / 2 is accurate for x << 0, where 1 + erf(x / sqrt 2) cancels.
    expected = np.array([x * 0.5 * math.erfc(-x / math.sqrt(2.0)) for x in GRID])
    np.testing.assert_allclose(GELU("none")(GRID), expected, rtol=1e-12, atol=1e-15)


def test_tanh_gelu_matches_gpt2_gelu_new_formula():
    u = math.sqrt(2.0 / math.pi) * (GRID + 0.044715 * GRID ** 3)
    np.testing.assert_allclose(GELU("tanh")(GRID), 0.5 * GRID * (1.0 + np.tanh(u)), rtol=1e-14)


def test_tanh_and_exact_gelu_differ_by_less_than_1e_3_but_not_zero():
    diff = np.abs(GELU("tanh")(GRID) - GELU("none")(GRID)).max()
    assert 1e-5 < diff < 1e-3


@pytest.mark.parametrize("shape", [(2, 40000, 3), (3, 70000), (70000,), (), (0, 5)])
def test_tanh_gelu_on_many_cache_blocks_equals_the_formula(shape):
    """The forward and backward run on blocks of rows (~65,536 elements each): shapes spanning several
    blocks, a row longer than a block, one long row and a scalar give the formula's numbers."""
    rng = np.random.default_rng(0)
    x, dy = (rng.standard_normal(shape).astype(np.float32) * 3 for _ in range(2))
    gelu = GELU("tanh")
    x64 = x.astype(np.float64)
    t = np.tanh(math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64 ** 3))
    y, dx = gelu.forward(x), gelu.backward(dy)
    assert y.shape == dx.shape == shape and y.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(y, 0.5 * x64 * (1 + t), rtol=2e-6, atol=2e-6)
    slope = 0.5 * (1 + t) + 0.5 * x64 * (1 - t * t) * math.sqrt(2.0 / math.pi) * (1 + 3 * 0.044715 * x64 ** 2)
    np.testing.assert_allclose(dx, dy * slope, rtol=2e-5, atol=2e-5)


def test_exact_gelu_of_an_empty_batch_is_empty():
    for training in (True, False):
        gelu = GELU("none").train(training)
        x = np.zeros((0, 5), dtype=np.float32)
        assert gelu.forward(x).shape == gelu.backward(x).shape == (0, 5)


def test_gelu_default_is_tanh():
    assert GELU().approximate == "tanh"


@GRAD
@given(shape=shapes, approximate=st.sampled_from(["tanh", "none"]), seed=st.integers(0, 99))
def test_gelu_gradient_matches_finite_differences(assert_gradients, shape, approximate, seed):
    x = 2.0 * randn(np.random.default_rng(seed), *shape)
    assert_gradients(GELU(approximate), [x], expect=["input0"], seed=seed)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="'erf'"):
        GELU("erf")


# ------------------------------------------------------------------------------------------ Softmax

def test_softmax_matches_exp_over_sum_and_rows_sum_to_one():
    x = randn(np.random.default_rng(0), 3, 4, 7)
    y = Softmax()(x)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(-1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-14)


def test_softmax_along_another_axis_normalises_that_axis():
    x = randn(np.random.default_rng(0), 3, 4, 7)
    y = Softmax(axis=1)(x)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-13)


def test_softmax_of_huge_logits_is_finite_and_exact():
    y = softmax(np.array([1000.0, 1000.0, -1000.0]))
    np.testing.assert_array_equal(y, [0.5, 0.5, 0.0])


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_in_place_equals_out_of_place_and_leaves_inputs_alone_otherwise(axis):
    """out=x (attention's scores) and out=dy (its dA) overwrite only when asked to."""
    rng = np.random.default_rng(0)
    x, dy = randn(rng, 3, 4, 7), randn(rng, 3, 4, 7)
    x_copy, dy_copy = x.copy(), dy.copy()
    fresh = Softmax(axis)
    y, dx = fresh.forward(x), fresh.backward(dy)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dy, dy_copy)
    in_place = Softmax(axis)
    y2 = in_place.forward(x, out=x)
    dx2 = in_place.backward(dy, out=dy)
    assert y2 is x and dx2 is dy
    np.testing.assert_allclose(y2, y, rtol=1e-15)
    np.testing.assert_allclose(dx2, dx, rtol=1e-12, atol=1e-15)


@GRAD
@given(shape=shapes, axis=st.sampled_from([-1, 1, 0]), seed=st.integers(0, 99))
def test_softmax_gradient_matches_finite_differences(assert_gradients, shape, axis, seed):
    x = randn(np.random.default_rng(seed), *shape)
    assert_gradients(Softmax(axis), [x], expect=["input0"], seed=seed)


# ------------------------------------------------------------------------------------------ Dropout

def test_dropout_in_eval_mode_is_the_identity():
    x = randn(np.random.default_rng(0), 4, 5)
    layer = Dropout(0.5, rng=0).eval()
    assert layer(x) is x
    dy = randn(np.random.default_rng(1), 4, 5)
    assert layer.backward(dy) is dy


def test_dropout_with_p_zero_is_the_identity_in_training():
    x = randn(np.random.default_rng(0), 4, 5)
    assert Dropout(0.0, rng=0).train()(x) is x


def test_dropout_zeroes_about_p_of_the_entries_and_scales_the_rest():
    x = np.ones(200_000)
    y = Dropout(0.3, rng=0)(x)
    assert abs(np.mean(y == 0) - 0.3) < 0.005
    np.testing.assert_allclose(y[y != 0], 1.0 / 0.7, rtol=1e-15)


def test_dropout_keeps_the_expected_value():
    x = np.abs(randn(np.random.default_rng(0), 200_000)) + 1.0
    y = Dropout(0.4, rng=1)(x)
    assert abs(y.mean() / x.mean() - 1.0) < 0.01


def test_dropout_backward_uses_the_forward_mask():
    rng = np.random.default_rng(0)
    x, dy = randn(rng, 50, 40), randn(rng, 50, 40)
    layer = Dropout(0.5, rng=3)
    y = layer(x)
    np.testing.assert_allclose(layer.backward(dy), dy * (y / x), rtol=1e-14)


def test_dropout_same_seed_same_mask():
    x = np.ones((10, 10))
    np.testing.assert_array_equal(Dropout(0.5, rng=4)(x), Dropout(0.5, rng=4)(x))


@GRAD
@given(shape=shapes, p=st.sampled_from([0.1, 0.5, 0.9]), seed=st.integers(0, 99))
def test_dropout_gradient_matches_finite_differences_with_a_fixed_mask(assert_gradients, shape, p, seed):
    layer = Dropout(p)

    def reseed():                                   # every forward of the check draws the same mask
        layer.rng = np.random.default_rng(seed)

    x = randn(np.random.default_rng(seed + 1000), *shape)
    assert_gradients(layer, [x], expect=["input0"], seed=seed, before_forward=reseed)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_dropout_rejects_probability_outside_0_1(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(p)
