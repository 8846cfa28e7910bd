"""A GPT-2 decode step in the fewest NumPy calls: the reference bench/gpt2_speed.py measures ours against.

Not the library's way (the library decodes through the same Modules it trains, one class per layer, each
checking its input): one function, one row, no checks, no modules, every array 1-D where it can be. What
it still has to do is what any NumPy decoder has to do:
  * the floor's matrix-vector products (every weight read once: the bench's "floor"),
  * read the key/value cache in every attention layer (~1 MB per layer for a 150-token context; the floor
    leaves it out), in 12 small per-head products,
  * ~30 small NumPy calls per layer: two LayerNorms, the softmax, GELU, the bias and residual adds.
So  floor / this  is what NumPy allows a decoder, and  this / ours  what the library's structure costs.
"""
import math

import numpy as np


def minimal_decoder(model, caches, return_logits=False):
    """step(token, t) -> the greedy next token after `token` at position t (return_logits: the (V,) logits),
    with `model`'s weights (a GPT2, tanh GELU), reading and extending `caches` (model.new_caches(1, ...)
    after model.forward's prefill)."""
    H, d_k = model.n_heads, model.head_dim
    C = H * d_k
    inv_c, scale, eps = 1.0 / C, 1.0 / math.sqrt(d_k), model.h[0].ln_1.eps
    wte, wpe = model.wte.weight.data, model.wpe.weight.data

    def layer_norm(x, ln):                                   # x (C,)
        xc = x - np.add.reduce(x) * inv_c
        xc *= 1.0 / math.sqrt(float(xc @ xc) * inv_c + eps)  # the variance as one dot product
        xc *= ln.weight.data
        xc += ln.bias.data
        return xc

    layers = [(b.ln_1, b.attn.c_attn.weight.data, b.attn.c_attn.bias.data, b.attn.c_proj.weight.data,
               b.attn.c_proj.bias.data, b.ln_2, b.mlp.c_fc.weight.data, b.mlp.c_fc.bias.data,
               b.mlp.c_proj.weight.data, b.mlp.c_proj.bias.data, cache.keys[0], cache.values[0])
              for b, cache in zip(model.h, caches)]

    def step(token, t):
        x = wte[token] + wpe[t]                                                  # (C,)
        for ln_1, w_attn, b_attn, w_proj, b_proj, ln_2, w_fc, b_fc, w_out, b_out, keys, values in layers:
            qkv = layer_norm(x, ln_1) @ w_attn
            qkv += b_attn                                                        # (3C,)
            q, k, v = qkv.reshape(3, H, d_k)
            keys[:, t], values[:, t] = k, v                                      # cache (H, capacity, d_k)
            scores = (keys[:, :t + 1] @ (q * scale)[:, :, None])[:, :, 0]        # (H, t+1)
            scores -= np.maximum.reduce(scores, axis=1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= np.add.reduce(scores, axis=1, keepdims=True)
            heads = scores[:, None, :] @ values[:, :t + 1]                       # (H, 1, d_k)
            y = heads.reshape(C) @ w_proj
            y += b_proj
            x += y
            h = layer_norm(x, ln_2) @ w_fc
            h += b_fc                                                            # (4C,)
            u = h * h                                                            # tanh GELU, in place
            u *= h
            u *= 0.044715
            u += h
            u *= math.sqrt(2.0 / math.pi)
            np.tanh(u, out=u)
            u += 1.0
            u *= h
            u *= 0.5
            y = u @ w_out
            y += b_out
            x += y
        logits = wte @ layer_norm(x, model.ln_f)                                 # (V,)
        return logits if return_logits else int(np.argmax(logits))

    return step
