"""The position-wise feed-forward network of each Transformer block."""
import numpy as np

from ..core import Module, check_float_dtype
from .activations import GELU, ReLU
from .combinators import Sequential
from .dropout import Dropout
from .linear import Linear

ACTIVATIONS = {
    "gelu": lambda: GELU("tanh"),        # GPT-2's gelu_new
    "gelu_exact": lambda: GELU("none"),
    "relu": ReLU,                        # the original paper
}


class FeedForward(Module):
    """y = dropout(act(x @ W_fc + b_fc) @ W_proj + b_proj), applied to every position independently.

    Shapes: x (B, T, C) -> hidden (B, T, d_ff) -> y (B, T, C); GPT-2 uses d_ff = 4C.
    It is Sequential(c_fc, act, c_proj, dropout); backward is those layers' backward in reverse.
    """

    def __init__(self, d_model, d_ff, activation="gelu", dropout=0.0, dtype=np.float32, rng=None,
                 proj_init_std=0.02):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        check_float_dtype(dtype)
        self.c_fc = Linear(d_model, d_ff, True, dtype, rng)
        self.act = ACTIVATIONS[activation]()
        self.c_proj = Linear(d_ff, d_model, True, dtype, rng, init_std=proj_init_std)
        self.dropout = Dropout(dropout, rng)
        self._pipeline = Sequential(self.c_fc, self.act, self.c_proj, self.dropout)

    def forward(self, x):
        return self._pipeline.forward(x)

    def backward(self, dy):
        return self._pipeline.backward(dy)
