"""Decoding machinery only generation uses: n continuations of each prompt from one prefill, the prompt's
keys and values shared by the n rows (TransformerLM.iter_generate with num_samples > 1).

A layer's plain cache is layers.attention.KVCache; `repeat_cache` turns it, after the prefill, into one
for n rows per prompt, and a SharedPrefixCache attends over the shared prompt and each row's own keys.
"""
import math

import numpy as np

from .layers.attention import KVCache


class SharedPrefix:
    """The keys and values (B, H, T_p, d_k) of B prompts, each shared by `n` rows of a decode batch, and
    their padding (B, T_p) True at padded keys, or None."""

    def __init__(self, keys, values, padding, n):
        self.keys, self.values, self.padding, self.n = keys, values, padding, n


class SharedPrefixCache(KVCache):
    """A KVCache for n rows per prompt that holds only what comes after the prompt (from position `offset`);
    the prompt's keys and values are one copy, `prefix` (a SharedPrefix), read once per step for all n rows."""

    def attend(self, attention, q, k, v, mask):
        return shared_prefix_attention(attention, q, k, v, mask, self.prefix)


def repeat_cache(cache, n, share_prefix=True):
    """A cache for n continuations of each row (row b -> rows b*n .. b*n + n-1) after one prefill.

    share_prefix: the rows' common past (the prompt) stays one copy, `prefix`, read once per step for
    all n rows (shared_prefix_attention); the new cache then holds only what comes after it (the prompt's keys
    and values are read once per step instead of n times). Otherwise every row gets its own copy of everything."""
    if isinstance(cache, SharedPrefixCache):
        raise ValueError("this cache already shares a prefix")
    B, H, _, d_k = cache.keys.shape
    kind = SharedPrefixCache if share_prefix else KVCache
    out = kind.__new__(kind)                         # filled below: no zeroed buffers to throw away
    out.length = cache.length
    out.padding = None if cache.padding is None else np.repeat(cache.padding, n, axis=0)
    if share_prefix:
        out.prefix = SharedPrefix(cache.keys[:, :, :cache.length], cache.values[:, :, :cache.length],
                                  None if cache.padding is None else cache.padding[:, :cache.length], n)
        out.offset = cache.length
        out.keys = np.zeros((B * n, H, cache.capacity - cache.length, d_k), dtype=cache.keys.dtype)
        out.values = np.zeros_like(out.keys)
    else:
        out.keys, out.values = np.repeat(cache.keys, n, axis=0), np.repeat(cache.values, n, axis=0)
    return out


def shared_prefix_attention(attention, q, k, v, mask, prefix):
    """Decoding n rows per prompt (rows b*n .. b*n + n-1 continue prompt b): the prompt's keys and
    values K_p, V_p (B, H, T_p, d_k) are shared, so its n queries meet them as n rows of one product
    and K_p, V_p are read once, not n times; k, v (B*n, H, T, d_k) are each row's own later keys.
        S = [Q K_p^T | Q K^T] / sqrt(d_k)     A = softmax(S)     out = A_p V_p + A_own V
    The same numbers as `attention` (a ScaledDotProductAttention) attending to n copies of the prompt's
    keys; its attn_weights are set as its forward sets them. Decoding only (no backward)."""
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
        vars(attention).pop(name, None)
    attention.attn_weights = attention.softmax.forward(np.concatenate([s_prefix, s_own], axis=-1))
    out = as_rows(attention.attn_weights[..., :T_p]) @ prefix.values         # (B, H, n*T, d_k)
    out = out.reshape(B, H, n, T, d_k).transpose(0, 2, 1, 3, 4).reshape(Bn, H, T, d_k)
    return out + attention.attn_weights[..., T_p:] @ v                     # (B*n, H, T, d_k)
