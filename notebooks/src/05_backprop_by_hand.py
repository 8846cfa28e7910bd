# %% [markdown]
# # 5. Backprop by hand
#
# Every layer in `transformer_np` has a `backward` written by hand, next to its `forward`. This notebook
# derives one of them, LayerNorm's, checks the formula against finite differences, then checks the
# whole model the same way.
#
# The check is always the same idea. For a layer with output Y and any fixed array dY (the "upstream
# gradient"), the number L = sum(Y * dY) is a function of the inputs and parameters; `backward(dY)` must
# return its gradient. Nudge one entry z by a tiny eps both ways and
# `(L(z + eps) - L(z - eps)) / (2 eps)` approximates dL/dz with an error of order eps^2. In float64 a
# correct backward agrees to about 1e-9 relative; a wrong one is off by percent.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))         # the checkout's root, when run from notebooks/
import numpy as np

from transformer_np import CrossEntropyLoss, LayerNorm, TransformerLM, gradient_check, viz
from transformer_np.gradcheck import relative_error
from transformer_np.viz.notebook import fast_mode, show, table

FAST = fast_mode()

# %% [markdown]
# ## 5.1 LayerNorm: the forward pass
#
# For one position's vector x of C numbers:
#
#     mu   = mean(x)
#     var  = mean((x - mu)^2)
#     r    = 1 / sqrt(var + eps)
#     xhat = (x - mu) * r
#     y    = xhat * w + b              (w, b: learned, C numbers each)
#
# ## 5.2 Deriving the backward pass
#
# Given dY = dL/dy, we want dL/dx (and dL/dw, dL/db).
#
# * **w and b** are easy: y_i = xhat_i w_i + b_i, so dL/dw_i = dy_i xhat_i and dL/db_i = dy_i, summed
#   over every position of the batch.
# * **Through the scale**: dL/dxhat_i = dy_i w_i. Call it g_i.
# * **Through the normalisation** is the interesting part, because *every* xhat_j depends on *every*
#   x_i through mu and r. Write xhat_j = (x_j - mu) r and differentiate:
#
#       d mu / d x_i    = 1/C
#       d var / d x_i   = (2/C) (x_i - mu)          (the terms through mu sum to zero)
#       d r / d x_i     = -1/2 (var + eps)^(-3/2) (2/C)(x_i - mu) = -(r^2 / C) xhat_i
#       d xhat_j / d x_i = r (delta_ij - 1/C) + (x_j - mu) d r / d x_i
#                        = r (delta_ij - 1/C - xhat_j xhat_i / C)
#
#   and so, summing over j with the chain rule,
#
#       dL/dx_i = sum_j g_j d xhat_j / d x_i = r ( g_i - mean(g) - xhat_i mean(g * xhat) )
#
# Three terms, each with a meaning: g_i is the direct effect; `- mean(g)` because moving x_i moves the
# mean, which shifts every output; `- xhat_i mean(g xhat)` because it also changes the spread, which
# rescales every output. The formula needs only xhat and r from the forward pass: that is what the
# library's LayerNorm keeps.

# %% stable
def layernorm_forward(x, w, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    return xhat * w + b, (xhat, r)


def layernorm_backward(dy, w, saved):
    """The derivation above, line for line."""
    xhat, r = saved
    g = dy * w                                               # dL/dxhat
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    dw = (dy * xhat).reshape(-1, w.size).sum(axis=0)
    db = dy.reshape(-1, w.size).sum(axis=0)
    return dx, dw, db


rng = np.random.default_rng(0)
x = rng.normal(size=(2, 3, 6))                               # (B=2, T=3, C=6), float64
w, b = rng.normal(size=6), rng.normal(size=6)
dy = rng.normal(size=x.shape)                                # a random upstream gradient
y, saved = layernorm_forward(x, w, b)
dx, dw, db = layernorm_backward(dy, w, saved)
print("dx[0, 0] =", np.round(dx[0, 0], 4))

# %% [markdown]
# ## 5.3 Checking it against finite differences
#
# Our own central differences, entry by entry, for the scalar L = sum(y * dy):

# %%
def numeric_gradient(f, z, eps=1e-6):
    """d f / d z by central differences (f takes no arguments and reads z, which we nudge in place)."""
    grad = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        original = z[idx]
        z[idx] = original + eps
        plus = f()
        z[idx] = original - eps
        minus = f()
        z[idx] = original
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def loss():
    return float(np.sum(layernorm_forward(x, w, b)[0] * dy))


checks = [["dx", relative_error(dx, numeric_gradient(loss, x))],
          ["dw", relative_error(dw, numeric_gradient(loss, w))],
          ["db", relative_error(db, numeric_gradient(loss, b))]]
show(table(checks, ["gradient", "relative error vs finite differences"], digits=2))
assert all(err < 1e-7 for _, err in checks)

# %% [markdown]
# A picture of what the derivation says: the Jacobian dy_j/dx_i of one position (w = 1). The diagonal
# is about r (the direct effect), and every entry is pulled down by the 1/C and xhat xhat / C terms,
# the coupling through the mean and the variance. Finite differences (left) and the formula (right):

# %% stable
x1 = rng.normal(size=6)
ones, zeros = np.ones(6), np.zeros(6)
jac_numeric = np.stack([numeric_gradient(lambda: float(layernorm_forward(x1, ones, zeros)[0][j]), x1)
                        for j in range(6)])
xh, r1 = layernorm_forward(x1, ones, zeros)[1]
jac_formula = r1 * (np.eye(6) - 1 / 6 - np.outer(xh, xh) / 6)
labels = [f"x{i}" for i in range(6)]
for name, jac in (("finite differences", jac_numeric), ("formula", jac_formula)):
    show(viz.matrix_svg(jac, title=f"dy_j / dx_i, {name}", row_labels=[f"y{j}" for j in range(6)],
                        col_labels=labels, digits=2, value_label="derivative"))
print("largest difference:", f"{np.abs(jac_numeric - jac_formula).max():.0e}" if
      np.abs(jac_numeric - jac_formula).max() > 1e-9 else "below 1e-9")

# %% [markdown]
# And the library's `LayerNorm` (`transformer_np/layers/norm.py`) computes the same numbers: its
# backward is exactly these three terms.

# %%
layer = LayerNorm(6, dtype=np.float64)
layer.weight.data[:], layer.bias.data[:] = w, b
assert np.allclose(layer.forward(x), y)
layer.zero_grad()
print(f"library dx vs ours: {relative_error(layer.backward(dy), dx):.1e}")
print(f"library dw vs ours: {relative_error(layer.weight.grad, dw):.1e}")
print("gradient_check (the tests' checker):", {k: f"{v:.1e}" for k, v in gradient_check(layer, [x]).items()})

# %% [markdown]
# ## 5.4 The softmax, in one line
#
# The same method for the softmax y = softmax(s) of attention: dy_i/ds_j = y_i (delta_ij - y_j), so
# `ds = y * (dy - sum(dy * y))`. No T x T Jacobian is ever built. Checked the same way:

# %%
s = rng.normal(size=(4, 5))
dys = rng.normal(size=s.shape)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ys = softmax(s)
ds = ys * (dys - (dys * ys).sum(axis=-1, keepdims=True))
error = relative_error(ds, numeric_gradient(lambda: float(np.sum(softmax(s) * dys)), s))
print(f"softmax backward, relative error: {error:.1e}")

# %% [markdown]
# ## 5.5 The whole model
#
# A TransformerLM's backward is its layers' backwards in reverse order: the head, then each block
# (MLP, then attention, each through its residual and LayerNorm), the positions and the embedding.
# `gradient_check` nudges sampled entries of every parameter tensor of a small float64 model and
# compares with what `model.backward` accumulated. Then the loss on top: cross-entropy's gradient with
# respect to the logits is softmax(logits) - onehot(target), divided by the number of scored tokens.

# %%
model = TransformerLM(vocab_size=11, d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=8,
                      dtype=np.float64, seed=0)
ids = np.random.default_rng(1).integers(0, 11, (2, 8))
errors = gradient_check(model, [ids], max_entries=6 if FAST else 20)
show(table(sorted(errors.items(), key=lambda kv: -kv[1])[:8], ["tensor (worst 8 of the model's)", "relative error"],
           digits=2))
print(f"{len(errors)} tensors checked; worst relative error {max(errors.values()):.1e}")
assert max(errors.values()) < 1e-6

# %%
logits = model.forward(ids)
targets = np.random.default_rng(2).integers(0, 11, (2, 8))
loss_fn = CrossEntropyLoss()
loss_fn.forward(logits, targets)
dlogits = loss_fn.backward()
numeric = numeric_gradient(lambda: CrossEntropyLoss().forward(logits, targets), logits)
print("cross-entropy gradient, relative error:", f"{relative_error(dlogits, numeric):.1e}")

# %% [markdown]
# Put together, `model.backward(loss_fn.backward())` is the gradient of the training loss with respect
# to every weight, and it agrees with finite differences to about 1e-8 (the float64 checks of a
# deeper computation lose a little more to rounding than a single layer's): this is all an optimiser
# needs (notebook 2).

# %% [markdown]
# ## Exercises
#
# 1. Drop the `- g.mean(...)` term from `layernorm_backward` and rerun 5.3; then put it back and drop
#    the `- xhat * ...` term instead. How big is the error? Would a check with dy and w all ones catch
#    the second bug?
#
# <details><summary>Answer</summary>
#
# Either way the relative error of dx jumps from ~1e-10 to about 0.35 (measured with the seed above):
# neither term is a small correction. With dy and w all ones, g is constant, so `mean(g * xhat)` is 0
# and the dropped term was 0 anyway: the broken formula returns exactly the true gradient, which is 0
# (adding the same amount to every output of a LayerNorm is impossible). The check cannot see the
# bug. A random dy exercises every direction; that is why `gradient_check` uses one.
# </details>
#
# 2. In `numeric_gradient`, try eps = 1e-2 and eps = 1e-12. What happens to the error, and why is
#    1e-6 a good choice in float64?
#
# <details><summary>Answer</summary>
#
# Measured here: 3e-5 with eps = 1e-2, 2.5e-10 with 1e-6, 3e-4 with 1e-12. With a large eps the
# O(eps^2) truncation error of central differences dominates; with a tiny one, float64 rounding (about
# 1e-16 relative, divided by eps). Around 1e-6 both are small: near the best float64 can do.
# </details>
#
# 3. Derive the backward of `y = x * sigmoid(x)` (SiLU) and check it the same way.
#
# <details><summary>Answer</summary>
#
# With s = sigmoid(x): dy/dx = s + x s (1 - s), so `dx = dy * (s + x * s * (1 - s))`. The check:
# `relative_error(dy * (s + x*s*(1-s)), numeric_gradient(lambda: float(np.sum(x / (1 + np.exp(-x)) * dy)), x))`
# comes out at about 2e-10.
# </details>
