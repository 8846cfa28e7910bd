"""Sampling: greedy, temperature, top-k, top-p change the distribution as they should."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from transformer_np.sampling import NUCLEUS_SHORTLIST, StopStrings, next_token_distribution, nucleus, sample_next_token

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
    assert probs.dtype == np.float32                            # no float64 upcast
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
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


@pytest.mark.parametrize("scale", [0.1, 8.0])                    # flat: full sort; peaked: the shortlist
def test_top_p_shortlist_equals_sorting_the_whole_vocabulary(scale):
    logits = (np.random.default_rng(0).standard_normal((3, 5000)) * scale).astype(np.float32)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    expected = nucleus(probs, 0.8)                                  # every token sorted
    got = next_token_distribution(logits, top_p=0.8)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    assert ((got > 0).sum(-1) < NUCLEUS_SHORTLIST).all() == (scale > 1)


def test_top_k_samples_only_the_k_best_of_a_large_vocabulary():
    logits = np.random.default_rng(1).standard_normal((200, 50257)).astype(np.float32)
    best = np.argsort(-logits, axis=-1)[:, :5]
    draws = sample_next_token(logits, top_k=5, rng=np.random.default_rng(0))
    assert all(d in row for d, row in zip(draws, best))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_logits_are_a_clear_error(bad):
    logits = np.zeros((2, 10), dtype=np.float32)
    logits[1, 3] = bad
    for temperature in (0, 1.0):
        with pytest.raises(FloatingPointError, match="NaN or inf"):
            sample_next_token(logits, temperature=temperature)


def byte_tokens(token_id):
    return bytes([token_id])


def feed(stops, prompt, text):
    """Feed `text` one byte-token at a time; return the index of the byte whose token completed a stop."""
    checker = StopStrings(stops, byte_tokens, [list(prompt.encode())])
    for i, byte in enumerate(text.encode()):
        if checker.update(np.array([byte]))[0]:
            return i, checker.cut(0)
    return None, checker.cut(0)


def test_stop_strings_follow_the_huggingface_rule():
    assert feed(["\n\n"], "", "one\n\ntwo") == (4, b"one")                # found on the token completing it
    assert feed(["ab", "xyz"], "", "..xyz.ab") == (4, b"..")                # the first to complete wins
    assert feed(["\n\n"], "a\n", "\nb") == (0, b"")                         # straddling the prompt counts
    assert feed(["ab"], "ab", "cd") == (None, b"cd")                        # complete before: does not
    # A stop string inside a longer token is found too (its end overhangs the stop string).
    checker = StopStrings(["top"], lambda t: {1: b"las", 2: b"topper"}[t], [[]])
    assert not checker.update(np.array([1]))[0] and checker.update(np.array([2]))[0]
    assert checker.cut(0) == b"las"
    with pytest.raises(ValueError, match="empty"):
        StopStrings([""], byte_tokens, [[]])


def test_stop_strings_hold_back_only_what_a_match_could_still_use():
    checker = StopStrings(["END"], byte_tokens, [[]])
    for byte in b"abcEN":
        checker.update(np.array([byte]))
    assert checker.safe_length(0) == 3                              # "EN" may still become "END"
