"""The position-wise feed-forward network of each Transformer block."""
import numpy as np

from ..core import Module, check_float_dtype
from .activations import GELU, ReLU, SiLU
from .combinators import Sequential
from .dropout import Dropout
from .linear import Linear

ACTIVATIONS = {
    "gelu": lambda: GELU("tanh"),        # GPT-2's gelu_new
    "gelu_exact": lambda: GELU("none"),
    "relu": ReLU,                        # the original paper
    "silu": SiLU,
}


class FeedForward(Module):
    """y = dropout(act(x @ W_fc + b_fc) @ W_proj + b_proj), applied to every position independently.

    Shapes: x (B, T, C) -> hidden (B, T, d_ff) -> y (B, T, C); GPT-2 uses d_ff = 4C.
    It is Sequential(c_fc, act, c_proj, dropout); backward is those layers' backward in reverse.
    bias=False drops b_fc and b_proj.
    """

    def __init__(self, d_model, d_ff, activation="gelu", dropout=0.0, dtype=np.float32, rng=None,
                 proj_init_std=0.02, bias=True):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        check_float_dtype(dtype)
        self.c_fc = Linear(d_model, d_ff, bias, dtype, rng)
        self.act = ACTIVATIONS[activation]()
        self.c_proj = Linear(d_ff, d_model, bias, dtype, rng, init_std=proj_init_std)
        self.dropout = Dropout(dropout, rng)
        self._pipeline = Sequential(self.c_fc, self.act, self.c_proj, self.dropout)

    def forward(self, x):
        return self._pipeline.forward(x)

    def backward(self, dy):
        return self._pipeline.backward(dy)


class SwiGLU(Module):
    """The gated feed-forward of Llama (Shazeer 2020, "GLU Variants Improve Transformer"):

        g = x @ W_gate            u = x @ W_up              (B, T, d_ff) each
        h = silu(g) * u                                     (B, T, d_ff)   the gate scales each feature
        y = h @ W_down                                      (B, T, C)

    Three matrices instead of two, so at equal parameter count d_ff is 2/3 of the MLP's (Llama: 8/3 C).
    Names follow Hugging Face's LlamaMLP: gate_proj, up_proj, down_proj. No biases unless bias=True.
    Backward (a = silu(g); each Linear's backward also adds its dW = x^T d(out)):
        dh = dY @ W_down^T       da = dh * u       du = dh * a       dg = da * silu'(g)
        dX = dg @ W_gate^T + du @ W_up^T          (x feeds both branches, so the gradients add)
    Keeps u and a (and each Linear its input).
    """

    def __init__(self, d_model, d_ff, bias=False, dtype=np.float32, rng=None, proj_init_std=0.02):
        check_float_dtype(dtype)
        self.gate_proj = Linear(d_model, d_ff, bias, dtype, rng)
        self.up_proj = Linear(d_model, d_ff, bias, dtype, rng)
        self.down_proj = Linear(d_ff, d_model, bias, dtype, rng, init_std=proj_init_std)
        self.act = SiLU()

    def forward(self, x):
        self.a = self.act.forward(self.gate_proj.forward(x))          # (B, T, d_ff)
        self.u = self.up_proj.forward(x)                               # (B, T, d_ff)
        return self.down_proj.forward(self.a * self.u)                 # (B, T, C)

    def backward(self, dy):
        dh = self.down_proj.backward(dy)                               # (B, T, d_ff)
        dg = self.act.backward(dh * self.u)
        return self.gate_proj.backward(dg) + self.up_proj.backward(dh * self.a)
