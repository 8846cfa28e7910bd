"""Layer normalisation."""
import numpy as np

from ..core import Module, Parameter, check_float_dtype, check_input


def init_gain(layer, d_model, eps, dtype):
    """What both norms hold: dtype, width, eps and a gain w = 1 (C,)."""
    layer.dtype = check_float_dtype(dtype)
    layer.d_model = d_model
    layer.eps = float(eps)                 # a Python float: a NumPy float64 scalar would upcast float32
    layer.weight = Parameter(np.ones(d_model, dtype=layer.dtype))


def check_features(layer, x):
    """x must be in the layer's dtype with the layer's d_model features on the last axis."""
    check_input(x, layer.dtype)
    if x.shape[-1] != layer.d_model:
        raise ValueError(f"{type(layer).__name__} expects last dimension {layer.d_model}, got input of shape {x.shape}")


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
        init_gain(self, d_model, eps, dtype)
        self.bias = Parameter(np.zeros(d_model, dtype=self.dtype))

    def forward(self, x):
        check_features(self, x)
        # np.add.reduce (what x.sum() runs, without its Python-level wrapper: 40% of this forward's
        # time on one row) divided by C rather than np.mean, and in-place arithmetic on fresh
        # temporaries: decoding one token runs this 25 times per step on a single row, where the cost
        # is the number of NumPy calls and their overhead, not the arithmetic.
        C = self.d_model
        xhat = x - np.add.reduce(x, axis=-1, keepdims=True) / C           # x - mean            (..., C)
        var = np.add.reduce(np.square(xhat), axis=-1, keepdims=True) / C  # (..., 1)
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


class RMSNorm(Module):
    """Root-mean-square normalisation (Llama): scale each feature vector to unit RMS, then by a gain:

        rstd = 1 / sqrt(mean(x^2) + eps)               (over the last axis; no mean is subtracted)
        xhat = x * rstd
        y    = xhat * w                                (no bias)

    Cheaper than LayerNorm (no mean, no shift) and, in practice, as good: what matters is the scale.
    Shapes: x, y (..., C); w (C,); rstd (..., 1).
    Backward (dxhat = dY * w):
        dw += sum(dY * xhat)
        dX  = rstd * (dxhat - xhat * mean(dxhat * xhat))
    Keeps xhat and rstd.
    """

    def __init__(self, d_model, eps=1e-6, dtype=np.float32):
        init_gain(self, d_model, eps, dtype)

    def forward(self, x):
        check_features(self, x)
        mean_square = np.add.reduce(np.square(x), axis=-1, keepdims=True) / self.d_model   # (..., 1), see LayerNorm
        rstd = 1.0 / np.sqrt(mean_square + self.eps)                           # (..., 1)
        self.xhat, self.rstd = x * rstd, rstd                                   # (..., C)
        return self.xhat * self.weight.data

    def backward(self, dy):
        xhat = self.xhat
        self.weight.grad += (dy * xhat).sum(axis=tuple(range(dy.ndim - 1)))
        dxhat = dy * self.weight.data
        return self.rstd * (dxhat - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
