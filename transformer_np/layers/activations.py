"""Element-wise non-linearities and the softmax."""
import math

import numpy as np

from ..core import Module


class ReLU(Module):
    """y = max(x, 0);   dX = dY * [x > 0].   Keeps the mask x > 0."""

    def forward(self, x):
        self.positive = x > 0
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * self.positive


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)   # NumPy has no erf; math.erf is exact, if slow element by element
_BLOCK = 1 << 16                       # elements per block in GELU.backward: 256 KB of float32


class GELU(Module):
    """Gaussian Error Linear Unit, y = x * Phi(x), Phi the standard normal CDF.

    approximate="none":  Phi(x) = (1 + erf(x / sqrt 2)) / 2            (the exact form; slow: math.erf)
        dX = dY * (Phi(x) + x * phi(x)),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    approximate="tanh":  y = x/2 * (1 + tanh(u)),  u = sqrt(2/pi) * (x + 0.044715 x^3)   (GPT-2's "gelu_new")
        dX = dY * (  (1 + tanh u) / 2  +  x/2 * (1 - tanh^2 u) * sqrt(2/pi) * (1 + 3 * 0.044715 x^2)  )
    The two differ by up to ~5e-4: enough to break parity with GPT-2's logits, so the choice matters.
    Shapes: any; y has x's shape. Keeps x (and tanh u).
    """

    def __init__(self, approximate="tanh"):
        if approximate not in ("tanh", "none"):
            raise ValueError(f"GELU approximate must be 'tanh' or 'none', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        self.x = x
        if self.approximate == "tanh":
            # In-place arithmetic on one temporary: the same formula, a third of the memory traffic.
            u = x * x
            u *= x
            u *= 0.044715
            u += x
            u *= _SQRT_2_OVER_PI
            self.tanh_u = np.tanh(u, out=u)                              # u = sqrt(2/pi) (x + 0.044715 x^3)
            y = self.tanh_u + 1.0
            y *= x
            y *= 0.5
            return y
        self.cdf = (0.5 * (1.0 + _erf(x * _INV_SQRT_2))).astype(x.dtype)
        return x * self.cdf

    def backward(self, dy):
        x = self.x
        if self.approximate == "tanh":
            # The 11 passes below run on blocks of rows (~256 KB each) that stay in the CPU cache: over
            # the whole (B, T, d_ff) array at once every pass would go to main memory (2.4x slower).
            C = x.shape[-1]
            x2, t2, dy2 = x.reshape(-1, C), self.tanh_u.reshape(-1, C), dy.reshape(-1, C)   # (N, C)
            dx = np.empty_like(x2)
            rows = max(1, _BLOCK // C)
            scratch = np.empty((min(rows, len(x2)), C), dtype=x.dtype)
            for start in range(0, len(x2), rows):
                block = slice(start, start + rows)
                x, t, g = x2[block], t2[block], dx[block]               # (n, C), n <= rows
                du_dx = np.multiply(x, x, out=scratch[:len(x)])         # sqrt(2/pi) (1 + 3 * 0.044715 x^2)
                du_dx *= _SQRT_2_OVER_PI * 3 * 0.044715
                du_dx += _SQRT_2_OVER_PI
                np.multiply(t, t, out=g)                                # 0.5 x (1 - t^2) du_dx
                np.subtract(1.0, g, out=g)
                g *= x
                g *= du_dx
                g += t                                                  # ... + 0.5 (1 + t), halves folded
                g += 1.0
                g *= 0.5
                g *= dy2[block]
            return dx.reshape(dy.shape)
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * (x * x))
        return dy * (self.cdf + x * pdf)


def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)): subtracting the max changes nothing mathematically and keeps
    exp from overflowing."""
    e = x - x.max(axis=axis, keepdims=True)
    np.exp(e, out=e)                                                   # in place: one temporary, not two
    e /= e.sum(axis=axis, keepdims=True)
    return e


class Softmax(Module):
    """y_i = exp(x_i) / sum_j exp(x_j) along `axis`.

    Backward (the Jacobian is diag(y) - y y^T):   dX = y * (dY - sum(dY * y, axis))
    Shapes: any; y has x's shape. Keeps y.
    """

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        self.y = softmax(x, self.axis)
        return self.y

    def backward(self, dy):
        y = self.y
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))
