"""Weight initialisation shared by every layer (one place, so all layers start the same way)."""
import contextlib

import numpy as np

_skip_init = False


def make_rng(seed_or_rng=None):
    """A `np.random.Generator` from a seed, an existing Generator (returned as is), or None (fresh entropy)."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def normal(rng, shape, std, dtype):
    """N(0, std^2) samples in `dtype` (GPT-2 initialises weights with std 0.02)."""
    if _skip_init:
        return np.empty(shape, dtype=dtype)
    return (rng.standard_normal(shape) * std).astype(dtype)


@contextlib.contextmanager
def skip_init():
    """Build modules whose weights are about to be overwritten (loaded from a file) without drawing them:
    inside this block `normal` returns uninitialised memory, which costs neither time nor RAM (the pages
    are never touched). Loading GPT-2 this way keeps peak memory near the size of its weights."""
    global _skip_init
    previous, _skip_init = _skip_init, True
    try:
        yield
    finally:
        _skip_init = previous
