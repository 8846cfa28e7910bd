"""Weight initialisation shared by every layer (one place, so all layers start the same way)."""
import numpy as np


def make_rng(seed_or_rng=None):
    """A `np.random.Generator` from a seed, an existing Generator (returned as is), or None (fresh entropy)."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def normal(rng, shape, std, dtype):
    """N(0, std^2) samples in `dtype` (GPT-2 initialises weights with std 0.02)."""
    return (rng.standard_normal(shape) * std).astype(dtype)
