"""Choosing the next token from the model's logits: greedy, temperature, top-k, top-p (nucleus)."""
import numpy as np

from .layers.activations import softmax


def filter_top_k(logits, k):
    """Keep the k largest logits of each row, set the rest to -inf (ties at the k-th value are kept)."""
    if k >= logits.shape[-1]:
        return logits
    kth_largest = np.partition(logits, -k, axis=-1)[:, -k, None]        # (B, 1)
    return np.where(logits < kth_largest, -np.inf, logits)


def filter_top_p(probs, p):
    """Nucleus filter: keep the smallest set of most likely tokens whose probability adds up to >= p,
    renormalised. The most likely token is always kept."""
    order = np.argsort(-probs, axis=-1)                                 # (B, V) most likely first
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs       # mass of strictly likelier tokens
    keep_sorted = mass_before < p
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    filtered = np.where(keep, probs, 0.0)
    return filtered / filtered.sum(axis=-1, keepdims=True)


def next_token_distribution(logits, temperature=1.0, top_k=None, top_p=None):
    """(B, V) logits -> (B, V) float64 probabilities after temperature, top-k and top-p.

    Temperature divides the logits before the softmax: T < 1 sharpens the distribution, T > 1 flattens
    it. (Dividing and then taking the argmax would change nothing: temperature only matters when sampling.)
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0 for a distribution (temperature=0 means greedy)")
    scaled = logits.astype(np.float64) / float(temperature)
    if top_k is not None:
        scaled = filter_top_k(scaled, int(top_k))
    probs = softmax(scaled, axis=-1)
    if top_p is not None and top_p < 1.0:
        probs = filter_top_p(probs, float(top_p))
    return probs


def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, rng=None):
    """(B, V) logits -> (B,) token ids. temperature=0 is greedy (argmax); otherwise sample with `rng`."""
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if temperature == 0:
        return logits.argmax(axis=-1)
    probs = next_token_distribution(logits, temperature, top_k, top_p)
    rng = np.random.default_rng() if rng is None else rng
    # Inverse-CDF sampling: the first token whose cumulative probability exceeds a uniform draw.
    cumulative = np.cumsum(probs, axis=-1)
    draws = rng.random((probs.shape[0], 1)) * cumulative[:, -1:]
    return (cumulative > draws).argmax(axis=-1)
