"""Sampling: greedy, temperature, top-k, top-p change the distribution as they should."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from transformer_np.sampling import next_token_distribution, sample_next_token

LOGITS = np.log(np.array([[0.5, 0.25, 0.15, 0.07, 0.03]], dtype=np.float32))


def empirical(logits, n=20000, **kw):
    rng = np.random.default_rng(0)
    draws = sample_next_token(np.repeat(logits, n, axis=0), rng=rng, **kw)
    return np.bincount(draws, minlength=logits.shape[-1]) / n


def test_temperature_zero_is_argmax():
    logits = np.array([[0.1, 2.0, 1.9], [5.0, -1.0, 4.0]], dtype=np.float32)
    np.testing.assert_array_equal(sample_next_token(logits, temperature=0), [1, 0])


def test_temperature_one_samples_the_softmax():
    np.testing.assert_allclose(empirical(LOGITS), [0.5, 0.25, 0.15, 0.07, 0.03], atol=0.015)


def test_low_temperature_sharpens_and_high_flattens():
    p_cold = next_token_distribution(LOGITS, temperature=0.5)[0]
    p_hot = next_token_distribution(LOGITS, temperature=2.0)[0]
    expected_cold = np.array([0.5, 0.25, 0.15, 0.07, 0.03]) ** 2
    np.testing.assert_allclose(p_cold, expected_cold / expected_cold.sum(), rtol=1e-6)
    assert p_cold[0] > 0.5 > p_hot[0] and p_hot[-1] > 0.03
    np.testing.assert_allclose(empirical(LOGITS, temperature=0.5), p_cold, atol=0.015)


def test_top_k_keeps_only_k_tokens_renormalised():
    p = next_token_distribution(LOGITS, top_k=2)[0]
    np.testing.assert_allclose(p, [2 / 3, 1 / 3, 0, 0, 0], rtol=1e-6)
    assert set(np.flatnonzero(empirical(LOGITS, top_k=2))) == {0, 1}


def test_top_p_keeps_the_smallest_nucleus():
    # 0.5 < 0.7, 0.5 + 0.25 >= 0.7: the nucleus is the first two tokens.
    np.testing.assert_allclose(next_token_distribution(LOGITS, top_p=0.7)[0], [2 / 3, 1 / 3, 0, 0, 0], rtol=1e-6)
    # Exactly reaching p after three tokens keeps three.
    np.testing.assert_allclose(next_token_distribution(LOGITS, top_p=0.9)[0][:3].sum(), 1.0, rtol=1e-6)
    # A tiny p keeps only the most likely token.
    np.testing.assert_allclose(next_token_distribution(LOGITS, top_p=1e-9)[0], [1, 0, 0, 0, 0])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), V=st.integers(2, 30), k=st.integers(1, 30), p=st.floats(0.05, 1.0))
def test_filtered_distribution_is_a_distribution(seed, V, k, p):
    logits = np.random.default_rng(seed).standard_normal((3, V)).astype(np.float32) * 3
    probs = next_token_distribution(logits, temperature=0.8, top_k=k, top_p=p)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-9)
    assert ((probs > 0).sum(-1) <= min(k, V)).all()
    assert (probs.argmax(-1) == logits.argmax(-1)).all()      # the most likely token always survives


def test_same_seed_same_samples_and_different_seed_differs():
    logits = np.zeros((1, 1000), dtype=np.float32)
    a = sample_next_token(np.repeat(logits, 50, 0), rng=np.random.default_rng(1))
    b = sample_next_token(np.repeat(logits, 50, 0), rng=np.random.default_rng(1))
    c = sample_next_token(np.repeat(logits, 50, 0), rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs, message", [({"top_k": 0}, "top_k"), ({"top_p": 0.0}, "top_p"),
                                             ({"top_p": 1.5}, "top_p"), ({"temperature": -1.0}, "temperature")])
def test_bad_sampling_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_next_token(LOGITS, **kwargs)
