"""Attention: masks, scaled dot-product attention, multi-head attention and its key/value cache."""
import math

import numpy as np

from ..core import Module, check_float_dtype, check_input
from .activations import Softmax
from .linear import Linear


# ---------------------------------------------------------------------------------------------- masks
# A mask is a boolean array broadcastable to the scores (B, H, T_q, T_k): True = "may attend".

def causal_mask(t_query, t_key):
    """(T_q, T_k) lower-triangular mask. The queries are the last T_q of the T_k positions (T_k > T_q when
    earlier keys come from a cache), so query i sits at position i + T_k - T_q and sees keys up to it."""
    offset = t_key - t_query
    return np.arange(t_key)[None, :] <= np.arange(t_query)[:, None] + offset


def padding_mask(key_padding):
    """(B, 1, 1, T_k) from a (B, T_k) boolean array that is True at padding positions (never attended)."""
    key_padding = np.asarray(key_padding, dtype=bool)
    return ~key_padding[:, None, None, :]


def combine_masks(*masks):
    """AND of the masks that are not None (None = no constraint)."""
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    combined = masks[0]
    for m in masks[1:]:
        combined = combined & m
    return combined


# ------------------------------------------------------------------------------- scaled dot-product

class ScaledDotProductAttention(Module):
    """out = softmax(Q K^T / sqrt(d_k) + mask) V

    Shapes: Q (B, H, T_q, d_k), K (B, H, T_k, d_k), V (B, H, T_k, d_v), mask broadcastable to
    (B, H, T_q, T_k) with True where attending is allowed; out (B, H, T_q, d_v).

    Why 1/sqrt(d_k): with unit-variance q and k, q . k has variance d_k; unscaled, the softmax saturates
    (one weight ~1, the rest ~0) and its gradient vanishes.

    Backward (A = the attention weights, S = the scaled scores):
        dV = A^T @ dOut                  dA = dOut @ V^T
        dS = A * (dA - sum_k(dA * A))    (the softmax backward; masked entries have A = 0, so dS = 0)
        dQ = dS @ K / sqrt(d_k)          dK = dS^T @ Q / sqrt(d_k)
    Keeps Q, K, V and A (`attn_weights`, also what the attention pictures show).
    """

    def __init__(self):
        self.softmax = Softmax(axis=-1)

    def forward(self, q, k, v, mask=None):
        self.scale = 1.0 / math.sqrt(q.shape[-1])                     # Python float: keeps float32 float32
        scores = (q @ k.swapaxes(-1, -2)) * self.scale                 # (B, H, T_q, T_k)
        if mask is not None:
            # The most negative finite number rather than -inf: a fully masked row then gives uniform
            # weights instead of NaN (0/0), and the gradient through it is still exactly zero.
            scores = np.where(mask, scores, np.finfo(scores.dtype).min)
        self.q, self.k, self.v, self.mask = q, k, v, mask
        self.attn_weights = self.softmax.forward(scores)               # (B, H, T_q, T_k)
        return self.attn_weights @ v                                   # (B, H, T_q, d_v)

    def backward(self, d_out):
        A = self.attn_weights
        dv = A.swapaxes(-1, -2) @ d_out                                # (B, H, T_k, d_v)
        dA = d_out @ self.v.swapaxes(-1, -2)                           # (B, H, T_q, T_k)
        dscores = self.softmax.backward(dA) * self.scale
        if self.mask is not None and not self.mask.any(axis=-1).all():
            # Masked scores are constants: no gradient flows to q, k through them. Where a row may attend
            # somewhere its masked weights are exactly 0, so dscores = A * (...) is 0 there already; only a
            # fully masked row (uniform weights) needs the explicit zeroing.
            dscores *= self.mask                                       # in place: dscores is ours
        dq = dscores @ self.k                                          # (B, H, T_q, d_k)
        dk = dscores.swapaxes(-1, -2) @ self.q                         # (B, H, T_k, d_k)
        return dq, dk, dv


# ------------------------------------------------------------------------------------- KV cache

class KVCache:
    """Keys and values of the positions seen so far, for one attention layer, so that decoding token t
    costs one new key/value instead of recomputing all t. Preallocated to `max_len` positions.

    keys, values: (B, H, max_len, d_k); `length` positions are filled.
    """

    def __init__(self, batch_size, n_heads, max_len, head_dim, dtype=np.float32):
        self.keys = np.zeros((batch_size, n_heads, max_len, head_dim), dtype=dtype)
        self.values = np.zeros_like(self.keys)
        self.length = 0

    def append(self, k, v):
        """Store k, v (B, H, T, d_k) after the cached positions; return all keys and values so far."""
        start, stop = self.length, self.length + k.shape[2]
        if stop > self.keys.shape[2]:
            raise ValueError(f"KV cache holds {self.keys.shape[2]} positions; cannot add {k.shape[2]} "
                             f"more after {start}")
        self.keys[:, :, start:stop] = k
        self.values[:, :, start:stop] = v
        self.length = stop
        return self.keys[:, :, :stop], self.values[:, :, :stop]


# ---------------------------------------------------------------------------------------- multi-head

class MultiHeadAttention(Module):
    """Multi-head attention (self- or cross-attention), GPT-2's parameter layout.

    Self-attention (cross=False): one fused projection c_attn makes queries, keys and values from x:
        [Q | K | V] = x @ W_attn + b_attn                       (B, T, 3C)
    Cross-attention (cross=True): queries from x, keys and values from the encoder output `context`:
        Q = x @ W_q + b_q    (B, T, C)      [K | V] = context @ W_kv + b_kv    (B, S, 2C)
    Each of Q, K, V is split into H heads of d_k = C / H channels, (B, T, C) -> (B, H, T, d_k); each
    head attends on its own (ScaledDotProductAttention); the heads are concatenated back to (B, T, C) and
    mixed:  y = concat(heads) @ W_proj + b_proj.
    Single-head attention is the case n_heads=1 (d_k = C).

    Backward runs the same road in reverse: c_proj, merge heads, attention, split heads, projections.
    The cross-attention backward returns (dX, dContext); self-attention returns dX.
    """

    record_attention = None     # a list to append each forward's weights (B, H, T_q, T_k) to; None = off

    def __init__(self, d_model, n_heads, cross=False, bias=True, dtype=np.float32, rng=None, proj_init_std=0.02):
        if d_model % n_heads:
            raise ValueError(f"n_heads={n_heads} must divide d_model={d_model}")
        self.dtype = check_float_dtype(dtype)
        self.d_model, self.n_heads, self.head_dim, self.cross = d_model, n_heads, d_model // n_heads, cross
        if cross:
            self.c_q = Linear(d_model, d_model, bias, dtype, rng)
            self.c_kv = Linear(d_model, 2 * d_model, bias, dtype, rng)
        else:
            self.c_attn = Linear(d_model, 3 * d_model, bias, dtype, rng)
        self.c_proj = Linear(d_model, d_model, bias, dtype, rng, init_std=proj_init_std)
        self.attention = ScaledDotProductAttention()

    def split_heads(self, x, parts=1):
        """(B, T, parts * C) -> (parts, B, H, T, d_k): a view (reshape + transpose), nothing is copied.
        With parts=3, [Q | K | V] from c_attn comes apart into Q, K and V by unpacking the first axis."""
        B, T, _ = x.shape
        return x.reshape(B, T, parts, self.n_heads, self.head_dim).transpose(2, 0, 3, 1, 4)

    def merge_heads(self, x):
        """(B, H, T, d_k) -> (B, T, C)"""
        B, _, T, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(B, T, self.d_model)

    def forward(self, x, context=None, causal=False, key_padding_mask=None, cache=None):
        """x (B, T, C); context (B, S, C) for cross-attention; key_padding_mask (B, T_k) True at padding;
        cache: a KVCache to read and extend (incremental decoding, self-attention only)."""
        check_input(x, self.dtype)
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"attention expects input (B, T, {self.d_model}), got shape {x.shape}")
        if self.cross:
            if context is None:
                raise ValueError("cross-attention needs the encoder output `context`")
            check_input(context, self.dtype, "context")
            (q,) = self.split_heads(self.c_q(x))                       # (B, H, T, d_k)
            k, v = self.split_heads(self.c_kv(context), 2)             # 2 x (B, H, S, d_k)
        else:
            q, k, v = self.split_heads(self.c_attn(x), 3)              # 3 x (B, H, T, d_k)
        if cache is not None:
            k, v = cache.append(k, v)                                  # (B, H, T_past + T, d_k)
        t_query, t_key = q.shape[2], k.shape[2]
        mask = combine_masks(
            causal_mask(t_query, t_key) if causal and t_query > 1 else None,   # one new query sees all
            padding_mask(key_padding_mask) if key_padding_mask is not None else None)
        heads = self.attention.forward(q, k, v, mask)                  # (B, H, T, d_k)
        if self.record_attention is not None:                          # opt-in, see viz.capture_attention
            self.record_attention.append(self.attention.attn_weights.copy())
        return self.c_proj(self.merge_heads(heads))                    # (B, T, C)

    @property
    def attn_weights(self):
        """The last forward's attention weights (B, H, T_q, T_k)."""
        return self.attention.attn_weights

    def backward(self, dy):
        d_heads = self.merge_heads_backward(self.c_proj.backward(dy))  # (B, H, T, d_k)
        dq, dk, dv = self.attention.backward(d_heads)
        if self.cross:
            dq, dk, dv = self.merge_heads(dq), self.merge_heads(dk), self.merge_heads(dv)  # (B, T, C)
            return self.c_q.backward(dq), self.c_kv.backward(np.concatenate([dk, dv], axis=-1))
        # [dQ | dK | dV] (B, T, 3C), the heads merged straight into one buffer: merge_heads + concatenate
        # would allocate and copy twice (fresh multi-MB arrays cost page faults as much as the copying).
        B, _, T, _ = dq.shape
        d_qkv = np.empty((B, T, 3, self.n_heads, self.head_dim), dtype=dq.dtype)
        for i, d in enumerate((dq, dk, dv)):
            d_qkv[:, :, i] = d.transpose(0, 2, 1, 3)                   # (B, H, T, d_k) -> (B, T, H, d_k)
        return self.c_attn.backward(d_qkv.reshape(B, T, 3 * self.d_model))

    def merge_heads_backward(self, dy):
        """The gradient of merge_heads is split_heads (a pure reshuffle of entries)."""
        return self.split_heads(dy)[0]
