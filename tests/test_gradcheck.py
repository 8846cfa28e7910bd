"""The gradient checker itself: it must pass correct backward passes and catch wrong ones."""
import numpy as np
import pytest

from transformer_np.core import Module
from transformer_np.gradcheck import gradient_check, relative_error
from transformer_np.layers import Dropout, Embedding, Linear

TOL = 1e-6


def randn(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


def square_linear(cls=Linear):
    layer = cls(4, 4, dtype=np.float64, rng=0, init_std=1.0)
    layer.bias.data[:] = randn(1, 4)
    return layer


class LinearMissingTranspose(Linear):
    """dX = dY @ W instead of dY @ W.T (silently shape-correct for a square W)."""

    def backward(self, dy):
        super().backward(dy)
        return dy @ self.weight.data


class LinearDoubleBiasGrad(Linear):
    """Accumulates 2 * db."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.bias.grad += dy.reshape(-1, self.out_features).sum(axis=0)
        return dx


class LinearTransposedWeightGrad(Linear):
    """dW = (dY^T X)^T computed as dY^T @ X, i.e. transposed: wrong, and shape-correct for a square W."""

    def backward(self, dy):
        x2, dy2 = self.x.reshape(-1, self.in_features), dy.reshape(-1, self.out_features)
        self.weight.grad += dy2.T @ x2
        self.bias.grad += dy2.sum(axis=0)
        return dy @ self.weight.data.T


class Square(Module):
    """y = x^2 with a backward that ignores the upstream gradient: dX = 2x. It is right only for dY = 1,
    so a checker using an all-ones upstream gradient would pass it."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dy):
        return 2 * self.x


def test_relative_error_of_equal_arrays_is_zero():
    assert relative_error(np.array([1.0, -2.0]), np.array([1.0, -2.0])) == 0.0


def test_relative_error_of_two_zero_gradients_is_zero():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_relative_error_is_difference_norm_over_the_larger_norm():
    assert relative_error(np.array([3.0, 4.0]), np.array([0.0, 0.0])) == 1.0
    assert relative_error(np.array([2.0]), np.array([1.0])) == 0.5


def test_correct_linear_passes_for_input_weight_and_bias():
    errors = gradient_check(square_linear(), [randn(2, 3, 4)])
    assert set(errors) == {"input0", "weight", "bias"}
    assert max(errors.values()) < TOL


def test_missing_transpose_in_input_gradient_is_caught():
    errors = gradient_check(square_linear(LinearMissingTranspose), [randn(2, 3, 4)])
    assert errors["input0"] > 0.1
    assert errors["weight"] < TOL and errors["bias"] < TOL


def test_factor_two_in_bias_gradient_is_caught():
    errors = gradient_check(square_linear(LinearDoubleBiasGrad), [randn(2, 3, 4)])
    assert errors["bias"] == pytest.approx(0.5, rel=1e-6)          # ||2a - a|| / ||2a||
    assert errors["input0"] < TOL and errors["weight"] < TOL


def test_transposed_weight_gradient_is_caught():
    errors = gradient_check(square_linear(LinearTransposedWeightGrad), [randn(2, 3, 4)])
    assert errors["weight"] > 0.1


def test_random_upstream_gradient_catches_a_backward_that_ignores_it():
    errors = gradient_check(Square(), [randn(0, 3, 4)])
    assert errors["input0"] > 0.1


def test_gradient_check_refuses_float32_inputs():
    with pytest.raises(TypeError, match="float64"):
        gradient_check(Linear(4, 4), [randn(0, 2, 4).astype(np.float32)])


def test_integer_inputs_are_skipped():
    errors = gradient_check(Embedding(5, 3, dtype=np.float64, rng=0), [np.array([[0, 4, 4]])])
    assert set(errors) == {"weight"}


def test_caller_inputs_are_not_modified():
    x = randn(0, 2, 4)
    x_before = x.copy()
    gradient_check(square_linear(), [x])
    np.testing.assert_array_equal(x, x_before)


def test_dropout_without_reseeding_fails_and_with_reseeding_passes():
    """A fresh mask per forward makes finite differences meaningless; before_forward fixes the mask."""
    layer, x = Dropout(0.5), randn(0, 4, 5)
    layer.rng = np.random.default_rng(1)
    assert gradient_check(layer, [x])["input0"] > 0.1

    def reseed():
        layer.rng = np.random.default_rng(1)

    assert gradient_check(layer, [x], before_forward=reseed)["input0"] < TOL


def test_max_entries_bounds_the_number_of_forward_passes():
    calls = []

    class Counting(Linear):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    layer = Counting(6, 6, dtype=np.float64, rng=0)       # input 60 entries, weight 36, bias 6
    gradient_check(layer, [randn(0, 10, 6)], max_entries=5)
    assert len(calls) == 1 + 2 * (5 + 5 + 5)               # one initial forward, two per checked entry
