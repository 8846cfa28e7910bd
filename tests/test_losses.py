"""CrossEntropyLoss (with a loss mask) and accuracy."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.gradcheck import relative_error
from transformer_np.losses import CrossEntropyLoss, accuracy


def reference_loss(logits, targets, weights=None):
    """-log softmax(logits)[target], weighted mean, written directly (float64)."""
    weights = np.ones(targets.shape) if weights is None else weights
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    return (nll * weights).sum() / weights.sum()


def numeric_gradient(logits, targets, weights, eps=1e-6):
    grad = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = (CrossEntropyLoss()(plus, targets, weights) - CrossEntropyLoss()(minus, targets, weights)) / (2 * eps)
    return grad


def test_loss_matches_the_direct_log_softmax_formula():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((2, 3, 5)), rng.integers(0, 5, (2, 3))
    assert CrossEntropyLoss()(logits, targets) == pytest.approx(reference_loss(logits, targets), rel=1e-13)


def test_weighted_loss_is_the_weighted_mean():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((2, 4, 5)), rng.integers(0, 5, (2, 4))
    weights = np.array([[0, 1, 1, 0], [0, 0, 2, 1]], dtype=float)
    assert CrossEntropyLoss()(logits, targets, weights) == pytest.approx(reference_loss(logits, targets, weights),
                                                                         rel=1e-13)


def test_uniform_logits_give_log_vocab_size():
    assert CrossEntropyLoss()(np.zeros((3, 7)), np.array([0, 3, 6])) == pytest.approx(np.log(7), rel=1e-14)


def test_backward_is_softmax_minus_onehot_over_the_count():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((4, 5)), rng.integers(0, 5, 4)
    loss = CrossEntropyLoss()
    loss(logits, targets)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(loss.backward(), (probs - np.eye(5)[targets]) / 4, rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 2), length=st.integers(1, 4), vocab=st.integers(2, 6), masked=st.booleans(),
       seed=st.integers(0, 99))
def test_backward_matches_finite_differences(batch, length, vocab, masked, seed):
    rng = np.random.default_rng(seed)
    logits, targets = 2 * rng.standard_normal((batch, length, vocab)), rng.integers(0, vocab, (batch, length))
    weights = None
    if masked:
        weights = rng.integers(0, 3, (batch, length)).astype(float)
        weights.flat[0] = 1.0                                       # at least one position scored
    loss = CrossEntropyLoss()
    loss(logits, targets, weights)
    assert relative_error(loss.backward(), numeric_gradient(logits, targets, weights)) <= 1e-6


def test_positions_with_zero_weight_affect_neither_loss_nor_gradients():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((2, 4, 6)), rng.integers(0, 6, (2, 4))
    weights = np.array([[0, 0, 1, 1], [1, 0, 0, 1]], dtype=float)
    other_logits, other_targets = logits.copy(), targets.copy()
    masked = weights == 0
    other_logits[masked] = 100 * rng.standard_normal((masked.sum(), 6))
    other_targets[masked] = (targets[masked] + 1) % 6
    a, b = CrossEntropyLoss(), CrossEntropyLoss()
    assert a(logits, targets, weights) == b(other_logits, other_targets, weights)
    ga, gb = a.backward(), b.backward()
    np.testing.assert_array_equal(ga, gb)
    assert not ga[masked].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_give_finite_exact_loss_and_gradient(dtype):
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=dtype)
    loss = CrossEntropyLoss()
    value = loss(logits, np.array([1, 2]))
    # row 0: -log p[1] = 1e4 (exp(-1e4) underflows away); row 1: -log(1/2)
    assert value == pytest.approx((1e4 + np.log(2)) / 2, rel=1e-6)
    grad = loss.backward()
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [0.0, 0.25, -0.25]], atol=1e-7)


def test_float32_logits_give_float32_gradient():
    logits = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    loss = CrossEntropyLoss()
    loss(logits, np.array([0, 1, 2]), np.array([1.0, 0.0, 2.0]))
    assert loss.backward().dtype == np.float32


@pytest.mark.parametrize("bad", [-1, 5])
def test_targets_out_of_range_raise_value_error(bad):
    with pytest.raises(ValueError, match=r"targets must be in \[0, 5\)"):
        CrossEntropyLoss()(np.zeros((2, 5)), np.array([0, bad]))


def test_float_targets_raise_type_error():
    with pytest.raises(TypeError, match="targets must be integers"):
        CrossEntropyLoss()(np.zeros((2, 5)), np.array([0.0, 1.0]))


def test_targets_of_the_wrong_shape_raise_value_error():
    with pytest.raises(ValueError, match="targets shape"):
        CrossEntropyLoss()(np.zeros((2, 3, 5)), np.zeros((2, 2), dtype=int))


def test_weights_of_the_wrong_shape_raise_value_error():
    with pytest.raises(ValueError, match="weights shape"):
        CrossEntropyLoss()(np.zeros((2, 5)), np.array([0, 1]), np.ones(3))


def test_weights_summing_to_zero_raise_value_error():
    with pytest.raises(ValueError, match="sum to zero"):
        CrossEntropyLoss()(np.zeros((2, 5)), np.array([0, 1]), np.zeros(2))


# ------------------------------------------------------------------------------------------ accuracy

def test_accuracy_is_the_fraction_of_argmax_hits():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(logits, np.array([1, 0, 0, 1])) == 0.5


def test_accuracy_with_weights_counts_only_weighted_positions():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    targets = np.array([1, 0, 0, 1])                    # hits: yes, yes, no, no
    assert accuracy(logits, targets, np.array([0, 1, 1, 1])) == pytest.approx(1 / 3)
    assert accuracy(logits, targets, np.array([2, 0, 0, 1])) == pytest.approx(2 / 3)
