"""Dropout."""
import numpy as np

from ..core import Module
from ..init import make_rng


class Dropout(Module):
    """In training: y = x * m / (1 - p), m ~ Bernoulli(1 - p) per element ("inverted" dropout, so the
    expected value is unchanged and evaluation needs no rescaling). In evaluation: y = x.

    Backward: dX = dY * m / (1 - p)  (the same mask). Shapes: any. Keeps the scaled mask.
    """

    def __init__(self, p=0.0, rng=None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = make_rng(rng)
        self.scaled_mask = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self.scaled_mask = None
            return x
        keep = self.rng.random(x.shape) >= self.p
        self.scaled_mask = keep.astype(x.dtype) * (1.0 / (1.0 - self.p))
        return x * self.scaled_mask

    def backward(self, dy):
        return dy if self.scaled_mask is None else dy * self.scaled_mask
