"""Layer normalisation."""
import numpy as np

from ..core import Module, Parameter, check_float_dtype, check_input


class LayerNorm(Module):
    """Normalise each position's feature vector, then scale and shift:

        mean = mean(x),  var = mean((x - mean)^2)      (biased variance, over the last axis)
        rstd = 1 / sqrt(var + eps)                     (eps inside the square root, as GPT-2)
        xhat = (x - mean) * rstd
        y    = xhat * w + b

    Shapes: x, y (..., C); w, b (C,); mean, rstd (..., 1).
    Backward (dxhat = dY * w, averages over the last axis):
        dw += sum(dY * xhat),  db += sum(dY)
        dX  = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    Keeps xhat and rstd.
    """

    def __init__(self, d_model, eps=1e-5, dtype=np.float32):
        self.dtype = check_float_dtype(dtype)
        self.d_model = d_model
        self.eps = float(eps)                  # a Python float: a NumPy float64 scalar would upcast float32
        self.weight = Parameter(np.ones(d_model, dtype=self.dtype))
        self.bias = Parameter(np.zeros(d_model, dtype=self.dtype))

    def forward(self, x):
        check_input(x, self.dtype)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"LayerNorm expects last dimension {self.d_model}, got input of shape {x.shape}")
        # sum / C rather than np.mean (the same float32 numbers without np.mean's Python-level
        # overhead) and in-place arithmetic on fresh temporaries: decoding one token runs this 25 times
        # per step on a single row, where the cost is the number of NumPy calls, not the arithmetic.
        C = self.d_model
        xhat = x - x.sum(axis=-1, keepdims=True) / C                      # x - mean            (..., C)
        var = np.square(xhat).sum(axis=-1, keepdims=True) / C             # (..., 1)
        rstd = 1.0 / np.sqrt(var + self.eps)                              # (..., 1)
        xhat *= rstd                                                      # (x - mean) * rstd   (..., C)
        self.xhat, self.rstd = xhat, rstd
        y = xhat * self.weight.data
        y += self.bias.data
        return y

    def backward(self, dy):
        xhat, rstd = self.xhat, self.rstd
        lead = tuple(range(dy.ndim - 1))
        self.weight.grad += (dy * xhat).sum(axis=lead)
        self.bias.grad += dy.sum(axis=lead)
        dxhat = dy * self.weight.data
        return rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                       - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
