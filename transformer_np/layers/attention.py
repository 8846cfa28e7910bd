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
        # (Q / sqrt(d_k)) K^T: the same scores, with the scale on Q (B, H, T_q, d_k) rather than on the
        # scores (B, H, T_q, T_k), the larger array. The scores are a fresh array, so the mask and the
        # softmax work on it in place: a new array of that size costs as much as two passes over it.
        scores = (q * self.scale) @ k.swapaxes(-1, -2)                 # (B, H, T_q, T_k)
        if mask is not None:
            # The most negative finite number rather than -inf: a fully masked row then gives uniform
            # weights instead of NaN (0/0), and the gradient through it is still exactly zero.
            np.copyto(scores, np.finfo(scores.dtype).min, where=~mask)
        self.q, self.k, self.v, self.mask = q, k, v, mask
        self.attn_weights = self.softmax.forward(scores, out=scores)   # (B, H, T_q, T_k)
        return self.attn_weights @ v                                   # (B, H, T_q, d_v)

    def forward_shared_prefix(self, q, k, v, mask, prefix):
        """Decoding n rows per prompt (rows b*n .. b*n + n-1 continue prompt b): the prompt's keys and
        values K_p, V_p (B, H, T_p, d_k) are shared, so its n queries meet them as n rows of one product
        and K_p, V_p are read once, not n times; k, v (B*n, H, T, d_k) are each row's own later keys.
            S = [Q K_p^T | Q K^T] / sqrt(d_k)     A = softmax(S)     out = A_p V_p + A_own V
        The same numbers as attending to n copies of the prompt's keys. Decoding only (no backward)."""
        scale = 1.0 / math.sqrt(q.shape[-1])
        Bn, H, T, d_k = q.shape
        B, n, T_p = prefix.keys.shape[0], prefix.n, prefix.keys.shape[2]
        as_rows = lambda x: x.reshape(B, n, H, T, -1).transpose(0, 2, 1, 3, 4).reshape(B, H, n * T, -1)  # noqa: E731
        s_prefix = (as_rows(q) @ prefix.keys.swapaxes(-1, -2)) * scale          # (B, H, n*T, T_p)
        if prefix.padding is not None:
            s_prefix = np.where(~prefix.padding[:, None, None, :], s_prefix, np.finfo(s_prefix.dtype).min)
        s_prefix = s_prefix.reshape(B, H, n, T, T_p).transpose(0, 2, 1, 3, 4).reshape(Bn, H, T, T_p)
        s_own = (q @ k.swapaxes(-1, -2)) * scale                               # (B*n, H, T, T_own)
        if mask is not None:
            s_own = np.where(mask, s_own, np.finfo(s_own.dtype).min)
        for name in ("q", "k", "v", "mask"):                                   # no backward from here
            vars(self).pop(name, None)
        self.attn_weights = self.softmax.forward(np.concatenate([s_prefix, s_own], axis=-1))
        out = as_rows(self.attn_weights[..., :T_p]) @ prefix.values             # (B, H, n*T, d_k)
        out = out.reshape(B, H, n, T, d_k).transpose(0, 2, 1, 3, 4).reshape(Bn, H, T, d_k)
        return out + self.attn_weights[..., T_p:] @ v                         # (B*n, H, T, d_k)

    def backward(self, d_out):
        A = self.attn_weights
        dv = A.swapaxes(-1, -2) @ d_out                                # (B, H, T_k, d_v)
        dA = d_out @ self.v.swapaxes(-1, -2)                           # (B, H, T_q, T_k)
        dscores = self.softmax.backward(dA, out=dA)                    # in place: dA is ours
        if self.mask is not None and not self.mask.any(axis=-1).all():
            # Masked scores are constants: no gradient flows to q, k through them. Where a row may attend
            # somewhere its masked weights are exactly 0, so dscores = A * (...) is 0 there already; only a
            # fully masked row (uniform weights) needs the explicit zeroing.
            dscores *= self.mask
        dq = dscores @ self.k                                          # (B, H, T_q, d_k)
        dk = dscores.swapaxes(-1, -2) @ self.q                         # (B, H, T_k, d_k)
        dq *= self.scale                                               # S = (Q scale) K^T: the scale
        dk *= self.scale                                               # comes back on both
        return dq, dk, dv


# ------------------------------------------------------------------------------------- KV cache

class KVCache:
    """Keys and values of the positions seen so far, for one attention layer, so that decoding token t
    costs one new key/value instead of recomputing all t. Preallocated to `max_len` positions.

    keys, values: (B, H, max_len, d_k); `length` positions are filled.
    padding: None, or (B, max_len) bool, True at the positions of a left-padded batch that hold no token:
    they are never attended (in the prefill and in every later step), and a row's positions count from
    its first real token (see `positions`), as Hugging Face does with position_ids = cumsum(mask) - 1.
    """

    def __init__(self, batch_size, n_heads, max_len, head_dim, dtype=np.float32):
        self.keys = np.zeros((batch_size, n_heads, max_len, head_dim), dtype=dtype)
        self.values = np.zeros_like(self.keys)
        self.length = 0
        self.padding = None
        self.prefix, self.offset = None, 0      # see repeat: keys[:, :, i] is position offset + i

    @property
    def capacity(self):
        return self.offset + self.keys.shape[2]

    def mark_padding(self, is_padding):
        """Say which of the next T positions (B, T) hold padding; call before appending them."""
        is_padding = np.asarray(is_padding, dtype=bool)
        if self.padding is None:
            if not is_padding.any():
                return                                              # the common case costs nothing
            self.padding = np.zeros((self.keys.shape[0], self.capacity), dtype=bool)
        self.padding[:, self.length:self.length + is_padding.shape[1]] = is_padding

    def key_padding_mask(self):
        """(B, length) True at padded keys, or None when the batch has no padding."""
        return None if self.padding is None else self.padding[:, self.offset:self.length]

    def positions(self, t_new):
        """(B, t_new) position of each of the next t_new entries, counted from each row's first real token
        (padding gets 0, as in Hugging Face; it is never attended), or None without padding (positions
        are then simply length, length + 1, ...)."""
        if self.padding is None:
            return None
        real = ~self.padding[:, :self.length + t_new]
        return np.maximum(np.cumsum(real, axis=1)[:, self.length:] - 1, 0)

    def repeat(self, n, share_prefix=True):
        """A cache for n continuations of each row (row b -> rows b*n .. b*n + n-1) after one prefill.

        share_prefix: the rows' common past (the prompt) stays one copy, `prefix`, read once per step for
        all n rows (ScaledDotProductAttention.forward_shared_prefix); this cache then holds only what
        comes after it (the prompt's keys and values are read once per step instead of n times).
        Otherwise every row gets its own copy of everything."""
        if self.prefix is not None:
            raise ValueError("this cache already shares a prefix")
        B, H, _, d_k = self.keys.shape
        out = KVCache.__new__(KVCache)
        out.length = self.length
        out.padding = None if self.padding is None else np.repeat(self.padding, n, axis=0)
        if share_prefix:
            out.prefix = SharedPrefix(self.keys[:, :, :self.length], self.values[:, :, :self.length],
                                      None if self.padding is None else self.padding[:, :self.length], n)
            out.offset = self.length
            out.keys = np.zeros((B * n, H, self.capacity - self.length, d_k), dtype=self.keys.dtype)
            out.values = np.zeros_like(out.keys)
        else:
            out.prefix, out.offset = None, 0
            out.keys, out.values = np.repeat(self.keys, n, axis=0), np.repeat(self.values, n, axis=0)
        return out


    def append(self, k, v):
        """Store k, v (B, H, T, d_k) after the cached positions; return all keys and values so far (with a
        shared prefix: those after it)."""
        start, stop = self.length - self.offset, self.length - self.offset + k.shape[2]
        if stop > self.keys.shape[2]:
            raise ValueError(f"KV cache holds {self.capacity} positions; cannot add {k.shape[2]} "
                             f"more after {self.length}")
        self.keys[:, :, start:stop] = k
        self.values[:, :, start:stop] = v
        self.length += k.shape[2]
        return self.keys[:, :, :stop], self.values[:, :, :stop]


def rotary_positions(cache, t_new):
    """Where the next t_new queries and keys sit: 0 without a cache, the cached length, or, in a left-padded
    batch, each row's own positions (B, t_new) counted from its first real token."""
    if cache is None:
        return 0
    positions = cache.positions(t_new)
    return cache.length if positions is None else positions


class SharedPrefix:
    """The keys and values (B, H, T_p, d_k) of B prompts, each shared by `n` rows of a decode batch, and
    their padding (B, T_p) True at padded keys, or None."""

    def __init__(self, keys, values, padding, n):
        self.keys, self.values, self.padding, self.n = keys, values, padding, n



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

    Llama's options (self-attention only):
    - separate_qkv=True: Hugging Face Llama's layout, one matrix per role: q_proj, k_proj, v_proj and the
      output o_proj (instead of c_attn and c_proj).
    - n_kv_heads (None = n_heads; 1 = multi-query): grouped-query attention. K and V get only H_kv heads,
      each shared by G = H / H_kv query heads (query head h uses key/value head h // G), so the KV cache
      holds H_kv heads, G times less memory. The G query heads of one group are stacked as G blocks of
      rows, Q (B, H, T, d_k) -> (B, H_kv, G*T, d_k), and attend to their shared K, V in one product;
      in backward the same products  dK = dS^T @ Q,  dV = A^T @ dOut  then sum over all G*T rows, i.e.
      over the query heads that share each key/value head.
    - rotary: a RotaryEmbedding that rotates Q and K by position (after the cache offset) before the
      scores; its backward rotates dQ and dK back.

    Backward runs the same road in reverse: c_proj, merge heads, attention, split heads, projections.
    The cross-attention backward returns (dX, dContext); self-attention returns dX.
    """

    record_attention = None     # a list to append each forward's weights (B, H, T_q, T_k) to; None = off

    def __init__(self, d_model, n_heads, cross=False, bias=True, dtype=np.float32, rng=None, proj_init_std=0.02,
                 n_kv_heads=None, rotary=None, separate_qkv=False):
        if d_model % n_heads:
            raise ValueError(f"n_heads={n_heads} must divide d_model={d_model}")
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if not 1 <= n_kv_heads <= n_heads or n_heads % n_kv_heads:
            raise ValueError(f"n_kv_heads={n_kv_heads} must divide n_heads={n_heads}")
        if cross and (n_kv_heads != n_heads or rotary is not None or separate_qkv):
            raise ValueError("cross-attention has no n_kv_heads, rotary or separate_qkv options")
        self.dtype = check_float_dtype(dtype)
        self.d_model, self.n_heads, self.head_dim, self.cross = d_model, n_heads, d_model // n_heads, cross
        self.n_kv_heads, self.groups = n_kv_heads, n_heads // n_kv_heads
        kv_width = n_kv_heads * self.head_dim
        if cross:
            self.c_q = Linear(d_model, d_model, bias, dtype, rng)
            self.c_kv = Linear(d_model, 2 * d_model, bias, dtype, rng)
        elif separate_qkv:
            self.q_proj = Linear(d_model, d_model, bias, dtype, rng)
            self.k_proj = Linear(d_model, kv_width, bias, dtype, rng)
            self.v_proj = Linear(d_model, kv_width, bias, dtype, rng)
        else:
            self.c_attn = Linear(d_model, d_model + 2 * kv_width, bias, dtype, rng)
        self.separate_qkv = separate_qkv
        self._out_proj = Linear(d_model, d_model, bias, dtype, rng, init_std=proj_init_std)
        if separate_qkv:
            self.o_proj = self._out_proj
        else:
            self.c_proj = self._out_proj
        self.rotary = rotary
        self.attention = ScaledDotProductAttention()

    def split_heads(self, x, parts=1, n_heads=None):
        """(B, T, parts * H * d_k) -> (parts, B, H, T, d_k): a view (reshape + transpose), nothing is copied.
        With parts=2, [K | V] from c_kv comes apart into K and V by unpacking the first axis.
        n_heads: H (default: the query heads)."""
        B, T, _ = x.shape
        return x.reshape(B, T, parts, n_heads or self.n_heads, self.head_dim).transpose(2, 0, 3, 1, 4)

    def merge_heads(self, x):
        """(B, H, T, d_k) -> (B, T, H * d_k)   (H * d_k = C for queries, smaller for grouped keys/values)"""
        B, _, T, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(B, T, -1)

    def project_qkv(self, x):
        """Self-attention's Q (B, H, T, d_k), K and V (B, H_kv, T, d_k) from x (B, T, C)."""
        if self.separate_qkv:
            return (self.split_heads(self.q_proj(x))[0], self.split_heads(self.k_proj(x), 1, self.n_kv_heads)[0],
                    self.split_heads(self.v_proj(x), 1, self.n_kv_heads)[0])
        if self.groups == 1:
            return self.split_heads(self.c_attn(x), 3)                 # GPT-2: [Q | K | V] unpacked, views
        H, H_kv = self.n_heads, self.n_kv_heads
        heads = self.split_heads(self.c_attn(x), 1, H + 2 * H_kv)[0]  # (B, H + 2 H_kv, T, d_k), views
        return heads[:, :H], heads[:, H:H + H_kv], heads[:, H + H_kv:]

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
            q, k, v = self.project_qkv(x)                              # (B, H, T, d_k), 2 x (B, H_kv, T, d_k)
        if self.rotary is not None:                                    # rotate at the true positions
            start = rotary_positions(cache, q.shape[2])
            q, k = self.rotary.forward(q, start), self.rotary.forward(k, start)
        if cache is not None:
            k, v = cache.append(k, v)                                  # (B, H_kv, T_past + T, d_k)
            if key_padding_mask is None:
                key_padding_mask = cache.key_padding_mask()            # a left-padded batch's pads
        t_query, t_key = q.shape[2], k.shape[2]
        mask = combine_masks(
            causal_mask(t_query, t_key) if causal and t_query > 1 else None,   # one new query sees all
            padding_mask(key_padding_mask) if key_padding_mask is not None else None)
        if self.groups > 1:
            q, mask = self.group_queries(q, mask)                      # (B, H_kv, G*T, d_k)
        if cache is not None and cache.prefix is not None:             # n samples of each prompt: its
            if self.groups > 1:                                        # keys are read once for all n
                raise ValueError("a cache with a shared prefix needs n_kv_heads == n_heads")
            heads = self.attention.forward_shared_prefix(q, k, v, mask, cache.prefix)
        else:
            heads = self.attention.forward(q, k, v, mask)              # (B, H_kv, G*T, d_k)
        if self.groups > 1:
            heads = heads.reshape(x.shape[0], self.n_heads, t_query, self.head_dim)   # (B, H, T, d_k)
        if self.record_attention is not None:                          # opt-in, see viz.capture_attention
            self.record_attention.append(self.attn_weights.copy())
        return self._out_proj(self.merge_heads(heads))                 # (B, T, C)

    def group_queries(self, q, mask):
        """Stack the G query heads of each key/value head as G blocks of rows: (B, H, T, d_k) ->
        (B, H_kv, G*T, d_k) (head h = kv * G + g, as Hugging Face's repeat_kv orders them); a mask
        that varies by query row (causal) is repeated for every block."""
        B, H, T, d_k = q.shape
        if mask is not None and mask.shape[-2] == T > 1:
            mask = np.concatenate([mask] * self.groups, axis=-2)      # (..., G*T, T_k)
        return q.reshape(B, self.n_kv_heads, self.groups * T, d_k), mask

    def head_queries_keys(self):
        """The last forward's queries (B, H, T_q, d_k) and keys (B, H, T_k, d_k), one per query head (a shared
        key/value head repeated for each query head of its group): what each head's scores come from."""
        q, k = self.attention.q, self.attention.k
        return q.reshape(q.shape[0], self.n_heads, -1, self.head_dim), np.repeat(k, self.groups, axis=1)

    @property
    def attn_weights(self):
        """The last forward's attention weights (B, H, T_q, T_k)."""
        weights = self.attention.attn_weights                           # (B, H_kv, G*T_q, T_k)
        return weights.reshape(weights.shape[0], self.n_heads, -1, weights.shape[-1])

    def backward(self, dy):
        d_heads = self.merge_heads_backward(self._out_proj.backward(dy))   # (B, H, T, d_k)
        B, _, T, _ = d_heads.shape
        d_heads = d_heads.reshape(B, self.n_kv_heads, self.groups * T, self.head_dim)  # no-op unless grouped
        dq, dk, dv = self.attention.backward(d_heads)                  # dK, dV summed over each group's heads
        dq = dq.reshape(B, self.n_heads, T, self.head_dim)
        if self.rotary is not None:
            dq, dk = self.rotary.backward(dq), self.rotary.backward(dk)
        if self.cross:
            dq, dk, dv = self.merge_heads(dq), self.merge_heads(dk), self.merge_heads(dv)  # (B, T, C)
            return self.c_q.backward(dq), self.c_kv.backward(np.concatenate([dk, dv], axis=-1))
        if self.separate_qkv:                                          # x fed all three: gradients add
            return (self.q_proj.backward(self.merge_heads(dq)) + self.k_proj.backward(self.merge_heads(dk))
                    + self.v_proj.backward(self.merge_heads(dv)))
        # [dQ | dK | dV] (B, T, (H + 2 H_kv) d_k), the heads merged straight into one buffer: merge_heads +
        # concatenate would allocate and copy twice (fresh multi-MB arrays cost page faults as much as the
        # copying).
        H, H_kv = self.n_heads, self.n_kv_heads
        d_qkv = np.empty((B, T, H + 2 * H_kv, self.head_dim), dtype=dq.dtype)
        for d, first, stop in ((dq, 0, H), (dk, H, H + H_kv), (dv, H + H_kv, H + 2 * H_kv)):
            d_qkv[:, :, first:stop] = d.transpose(0, 2, 1, 3)          # (B, h, T, d_k) -> (B, T, h, d_k)
        return self.c_attn.backward(d_qkv.reshape(B, T, -1))

    def merge_heads_backward(self, dy):
        """The gradient of merge_heads is split_heads (a pure reshuffle of entries)."""
        return self.split_heads(dy)[0]
