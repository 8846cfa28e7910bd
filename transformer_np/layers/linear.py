"""Linear (fully connected) layer, stored as GPT-2's Conv1D stores it: weight (in, out)."""
import numpy as np

from ..core import Module, Parameter, check_float_dtype, check_input
from ..init import make_rng, normal


class Linear(Module):
    """y = x @ W + b

    Shapes: x (..., in_features), W (in_features, out_features), b (out_features,), y (..., out_features).
    Backward, with the leading axes flattened into N rows (X: (N, in), dY: (N, out)):
        dX = dY @ W.T          (N, in)
        dW += X.T @ dY         (in, out)
        db += sum_rows(dY)     (out,)
    Keeps X for dW.
    Plain twin: gpt.py `linear_forward` / `linear_backward`; the special cases here are one row (decoding)
    as a matrix-vector product, any number of leading axes, no bias, and gradients added into .grad.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None, init_std=0.02):
        self.dtype = check_float_dtype(dtype)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(normal(make_rng(rng), (in_features, out_features), init_std, self.dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=self.dtype)) if bias else None

    def forward(self, x):
        check_input(x, self.dtype)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear expects last dimension {self.in_features}, got input of shape {x.shape}")
        self.x = x
        if x.size == self.in_features:
            # One row (decoding one token): a matrix-vector product. A 1-D x makes NumPy call BLAS gemv,
            # which streams W once; (1, 1, in) @ W goes through gemm with M=1, slower.
            y = (x.reshape(-1) @ self.weight.data).reshape(*x.shape[:-1], self.out_features)
        else:
            # One (N, in) @ (in, out) gemm: NumPy runs a 3-D x @ W as one smaller gemm per batch entry,
            # slower (the same holds for dX = dY @ W^T in backward; docs/PERFORMANCE.md).
            y = (x.reshape(-1, self.in_features) @ self.weight.data).reshape(*x.shape[:-1], self.out_features)
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, dy):
        x2 = self.x.reshape(-1, self.in_features)                       # (N, in)
        dy2 = dy.reshape(-1, self.out_features)                         # (N, out)
        self.weight.grad += x2.T @ dy2
        if self.bias is not None:
            self.bias.grad += dy2.sum(axis=0)
        if dy.ndim > 2:                                                 # (N, out) @ (out, in): one gemm
            return (dy2 @ self.weight.data.T).reshape(*dy.shape[:-1], self.in_features)
        return dy @ self.weight.data.T                                  # (..., in)
