"""Element-wise non-linearities and the softmax."""
import math

import numpy as np

from ..core import Module
from .erf import cdf_from_tail, normal_cdf_tanh_form, normal_tail


class ReLU(Module):
    """y = max(x, 0);   dX = dY * [x > 0].   Keeps the mask x > 0."""

    def forward(self, x):
        self.positive = x > 0
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * self.positive


class Tanh(Module):
    """y = tanh(x);   dX = dY * (1 - y^2).   Shapes: any; y has x's shape.   Keeps y.   (BERT's pooler.)"""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1.0 - self.y * self.y)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_BLOCK = 1 << 16                       # elements per block in GELU: 256 KB of float32


def _as_rows(x):
    """x viewed as (N, C) rows of its last axis (a scalar: one row of one)."""
    return x.reshape(-1, x.shape[-1] if x.ndim else 1)


def _row_blocks(x2):
    """(rows per block, the blocks' slices) for (N, C) rows: blocks of about _BLOCK elements, so a dozen
    element-wise passes over one block stay in the CPU cache, where over the whole (B, T, d_ff) array
    every pass would go to main memory. Scratch buffers need min(rows, N) rows (N may be 0)."""
    rows = max(1, _BLOCK // x2.shape[1])
    return min(rows, len(x2)), [slice(start, start + rows) for start in range(0, len(x2), rows)]


def _gelu_block_float32(x, y, dydx, buffers, mask):
    """float32: Phi(x) = (1 + tanh(x P(x^2))) / 2 (layers.erf; 1e-7 absolute, no division), then
    y = x Phi(x) and (if asked) dy/dx = Phi(x) + x phi(x) with the exact pdf: 16 + 1 + 5 passes."""
    x_squared, cdf = buffers[0][:len(x)], buffers[1][:len(x)]
    with np.errstate(over="ignore"):                                   # |x| > 1.8e19: x^2 = inf, Phi still right
        np.multiply(x, x, out=x_squared)
    normal_cdf_tanh_form(x, x_squared, out=cdf)
    np.multiply(x, cdf, out=y)                                          # y = x Phi(x)
    if dydx is not None:
        x_squared *= -0.5
        pdf_x = np.exp(x_squared, out=x_squared)
        pdf_x *= x
        pdf_x *= _INV_SQRT_2PI                                          # x phi(x)
        np.add(cdf, pdf_x, out=dydx)                                    # dy/dx = Phi(x) + x phi(x)


def _gelu_block_float64(x, y, dydx, buffers, mask):
    """float64 (the gradient checks: 1e-12, speed not targeted): Phi from the erfc formula's tail
    Phi(-|x|), which keeps its relative accuracy far into x << 0. Without the derivative, y is written
    relu(x) - |x| Phi(-|x|): the same number on both sides of 0 (x >= 0: x - x Phi(-x) = x Phi(x))."""
    abs_x, e, t, tail = (b[:len(x)] for b in buffers)
    np.abs(x, out=abs_x)
    tail, e = normal_tail(x, abs_x, out=tail, exp_out=e, scratch=t)     # Phi(-|x|), exp(-x^2/2)
    if dydx is not None:
        cdf = cdf_from_tail(tail, x, out=t, mask=mask[:len(x)])         # Phi(x)
        np.multiply(x, cdf, out=y)                                      # y = x Phi(x)
        e *= x
        e *= _INV_SQRT_2PI                                              # x phi(x)
        np.add(cdf, e, out=dydx)                                        # dy/dx = Phi(x) + x phi(x)
    else:
        np.add(x, abs_x, out=y)
        y *= 0.5                                                        # relu(x) = (x + |x|) / 2
        abs_x *= tail
        y -= abs_x                                                      # y = relu(x) - |x| Phi(-|x|)


def _exact_gelu(x, with_derivative):
    """y = x Phi(x) and (if asked) dy/dx = Phi(x) + x phi(x), on blocks of rows that stay in the CPU cache
    (as the tanh form's backward), every temporary a reused buffer (a fresh array per step would cost page
    faults)."""
    dtype = x.dtype
    x = x if dtype in (np.float32, np.float64) else x.astype(np.float32)     # float16: computed in float32
    block_fn = _gelu_block_float64 if x.dtype == np.float64 else _gelu_block_float32
    x2 = _as_rows(x)                                                    # (N, C)
    y = np.empty_like(x2)
    dydx = np.empty_like(x2) if with_derivative else None
    rows, blocks = _row_blocks(x2)
    buffers = [np.empty((rows, x2.shape[1]), x.dtype) for _ in range(4)]
    mask = np.empty(buffers[0].shape, dtype=bool)
    for block in blocks:
        block_fn(x2[block], y[block], None if dydx is None else dydx[block], buffers, mask)
    y = y.reshape(x.shape).astype(dtype, copy=False)
    return y, None if dydx is None else dydx.reshape(x.shape).astype(dtype, copy=False)


class GELU(Module):
    """Gaussian Error Linear Unit, y = x * Phi(x), Phi the standard normal CDF.

    approximate="none":  Phi(x) = (1 + erf(x / sqrt 2)) / 2            (the exact form, BERT's "gelu")
        dX = dY * (Phi(x) + x * phi(x)),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        Phi and phi come from layers.erf (vectorised; float32 takes Phi = (1 + tanh(x P(x^2))) / 2 with a
        fitted degree-6 P, the tanh form below being its degree-1 member); a training-mode forward computes dY/dX too
        (phi shares Phi's exp) and keeps it; in eval mode backward recomputes it from x.
    approximate="tanh":  y = x/2 * (1 + tanh(u)),  u = sqrt(2/pi) * (x + 0.044715 x^3)   (GPT-2's "gelu_new")
        dX = dY * (  (1 + tanh u) / 2  +  x/2 * (1 - tanh^2 u) * sqrt(2/pi) * (1 + 3 * 0.044715 x^2)  )
    The two differ by up to ~5e-4: enough to break parity with GPT-2's logits, so the choice matters.
    Shapes: any; y has x's shape. Keeps x, and tanh u (tanh form) or dY/dX (exact form, training).
    Plain twin of the tanh form: gpt.py `gelu_forward` / `gelu_backward`; here in place on cache-sized blocks
    of rows (whole-array passes go to main memory), keeping tanh u so backward need not recompute it.
    """

    def __init__(self, approximate="tanh"):
        if approximate not in ("tanh", "none"):
            raise ValueError(f"GELU approximate must be 'tanh' or 'none', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        self.x = x
        if self.approximate == "tanh":
            # In-place arithmetic on cache-sized blocks of rows, written into the two outputs.
            x2 = _as_rows(x)                                            # (N, C)
            y, tanh_u = np.empty_like(x2), np.empty_like(x2)
            for block in _row_blocks(x2)[1]:
                xb, t, yb = x2[block], tanh_u[block], y[block]
                np.multiply(xb, xb, out=t)
                t *= xb
                t *= 0.044715
                t += xb
                t *= _SQRT_2_OVER_PI                                    # u = sqrt(2/pi) (x + 0.044715 x^3)
                np.tanh(t, out=t)
                np.add(t, 1.0, out=yb)
                yb *= xb
                yb *= 0.5                                               # y = x/2 (1 + tanh u)
            self.tanh_u = tanh_u.reshape(x.shape)
            return y.reshape(x.shape)
        y, self.dydx = _exact_gelu(x, with_derivative=self.training)
        return y

    def backward(self, dy):
        if self.approximate == "none":
            # An eval-mode forward (inference) skips dY/dX; a backward after one computes it from x.
            dydx = self.dydx if self.dydx is not None else _exact_gelu(self.x, with_derivative=True)[1]
            return dy * dydx
        x = self.x
        if self.approximate == "tanh":
            # The 11 passes below run on blocks of rows (~256 KB each) that stay in the CPU cache: over
            # the whole (B, T, d_ff) array at once every pass would go to main memory.
            x2, t2, dy2 = _as_rows(x), _as_rows(self.tanh_u), _as_rows(dy)    # (N, C)
            dx = np.empty_like(x2)
            rows, blocks = _row_blocks(x2)
            scratch = np.empty((rows, x2.shape[1]), dtype=x.dtype)
            for block in blocks:
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


def softmax(x, axis=-1, out=None):
    """exp(x - max) / sum(exp(x - max)): subtracting the max changes nothing mathematically and keeps
    exp from overflowing. out=x overwrites x (for a caller that owns it: attention's scores), saving the
    one temporary, which for a large array costs as much as two passes over it (fresh pages).
    np.maximum.reduce and np.add.reduce are x.max() and x.sum() without their Python-level wrappers,
    which cost more than the work on the small rows of a decoding step (12 heads x ~200 keys).
    Plain twin: the softmax lines of gpt.py `attention_forward` / `crossentropy_forward`; `out=` and the
    direct reduce calls are what make this one faster, nothing else."""
    e = np.subtract(x, np.maximum.reduce(x, axis=axis, keepdims=True), out=out)
    np.exp(e, out=e)                                                   # in place from here on
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e


class Softmax(Module):
    """y_i = exp(x_i) / sum_j exp(x_j) along `axis`.

    Backward (the Jacobian is diag(y) - y y^T):   dX = y * (dY - sum(dY * y, axis))
    Shapes: any; y has x's shape. Keeps y.
    Plain twin: the dS line of gpt.py `attention_backward`; here with `out=` (in place into attention's dA)
    and one einsum for the row sums, so that no extra (..., T) array is made.
    """

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x, out=None):
        """out=x: compute in place (see softmax)."""
        self.y = softmax(x, self.axis, out)
        return self.y

    def backward(self, dy, out=None):
        """out=dy: compute in place, for a caller that owns dY (attention's dA)."""
        y = self.y
        if self.axis in (-1, y.ndim - 1):
            row_dot = np.einsum("...i,...i->...", dy, y)[..., None]     # sum(dY * y): no (..., T) temporary
        else:
            row_dot = (dy * y).sum(axis=self.axis, keepdims=True)
        dx = np.subtract(dy, row_dot, out=out)
        dx *= y
        return dx


def sigmoid(x):
    """1 / (1 + exp(-x)), written as (1 + tanh(x/2)) / 2: the same function, and exp never overflows."""
    s = np.tanh(x * 0.5)
    s += 1.0
    s *= 0.5
    return s


class SiLU(Module):
    """Sigmoid Linear Unit ("swish"), y = x * sigmoid(x)   (Llama's hidden_act "silu").

    Backward, with s = sigmoid(x):   dX = dY * s * (1 + x * (1 - s))
    Shapes: any; y has x's shape. Keeps x and s.
    """

    def forward(self, x):
        self.x, self.s = x, sigmoid(x)
        return x * self.s

    def backward(self, dy):
        s = self.s
        return dy * s * (1.0 + self.x * (1.0 - s))
