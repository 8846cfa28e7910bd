"""Transformer blocks (one layer of a stack) and the Encoder / Decoder stacks built from them.

Every sub-layer (attention or feed-forward) sits in a residual connection with a LayerNorm, in one of
two arrangements:
    post-LN (the 2017 paper):  y = LN(x + dropout(f(x)))
    pre-LN  (GPT-2):           y = x + dropout(f(LN(x)))
Pre-LN leaves the residual stream un-normalised, so gradients reach early layers unchanged through the
`+`; deep pre-LN stacks train without careful warm-up, and they need one final LayerNorm (`ln_f`).
The norm and the feed-forward are options of the block (`make_norm`, `make_ffn`): LayerNorm and the GELU
MLP for GPT-2 and BERT, RMSNorm and SwiGLU for the Llama family (which also has no biases).
"""
import numpy as np

from .core import Module, check_float_dtype
from .init import make_rng
from .layers import Dropout, FeedForward, LayerNorm, MultiHeadAttention, RMSNorm, SwiGLU

NORMS = ("layernorm", "rmsnorm")
FFNS = ("mlp", "swiglu")


def make_norm(norm, d_model, eps, dtype):
    """The block's normalisation: "layernorm" (GPT-2, BERT) or "rmsnorm" (Llama)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return (LayerNorm if norm == "layernorm" else RMSNorm)(d_model, eps, dtype)


def make_ffn(ffn, d_model, d_ff, activation, bias, dtype, rng, proj_init_std):
    """The block's feed-forward: "mlp" (act(x W_fc) W_proj, GPT-2) or "swiglu" (Llama's gated one)."""
    if ffn not in FFNS:
        raise ValueError(f"ffn must be one of {FFNS}, got {ffn!r}")
    if ffn == "swiglu":
        return SwiGLU(d_model, d_ff, bias, dtype, rng, proj_init_std=proj_init_std)
    return FeedForward(d_model, d_ff, activation, 0.0, dtype, rng, proj_init_std=proj_init_std, bias=bias)


class ResidualSublayer(Module):
    """x -> x + dropout(f(LN(x)))  (pre-LN)   or   x -> LN(x + dropout(f(x)))  (post-LN).

    Backward, pre-LN:   dX = dY + LN'(f'(dropout'(dY)))
    Backward, post-LN:  dS = LN'(dY),  dX = dS + f'(dropout'(dS))
    When f has a second differentiable input (cross-attention's encoder output), backward returns
    (dX, dContext).
    The norm and f are owned by the block (so parameters keep the block's names, e.g. `ln_1`, `attn`);
    this object only wires them together. Pre-LN, it computes Trax's Residual(Sequential(norm, f)) from
    layers/combinators.py (tests/test_combinator_block.py keeps the two equal); the explicit wiring also
    carries post-LN, dropout, the KV cache and cross-attention's second input.
    """

    def __init__(self, norm, layer, dropout, pre_ln):
        self._norm, self._layer, self._dropout, self.pre_ln = norm, layer, dropout, pre_ln

    def forward(self, x, *args, **kwargs):
        if self.pre_ln:
            return x + self._dropout.forward(self._layer.forward(self._norm.forward(x), *args, **kwargs))
        return self._norm.forward(x + self._dropout.forward(self._layer.forward(x, *args, **kwargs)))

    def backward(self, dy):
        if not self.pre_ln:
            dy = self._norm.backward(dy)                                # dS: the gradient of x + f(x)
        d_layer = self._layer.backward(self._dropout.backward(dy))
        d_input, *d_extra = d_layer if isinstance(d_layer, tuple) else (d_layer,)
        if self.pre_ln:
            d_input = self._norm.backward(d_input)
        dx = dy + d_input
        return (dx, *d_extra) if d_extra else dx


class EncoderBlock(Module):
    """Self-attention (every position sees every non-padding position) then feed-forward, each in a
    residual sub-layer.  x (B, S, C) -> (B, S, C).   key_padding_mask (B, S): True at padding."""

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, pre_ln=True, activation="gelu", ln_eps=1e-5,
                 dtype=np.float32, rng=None, proj_init_std=0.02):
        rng = make_rng(rng)
        self.ln_1 = LayerNorm(d_model, ln_eps, dtype)
        self.attn = MultiHeadAttention(d_model, n_heads, dtype=dtype, rng=rng, proj_init_std=proj_init_std)
        self.ln_2 = LayerNorm(d_model, ln_eps, dtype)
        self.mlp = FeedForward(d_model, d_ff, activation, 0.0, dtype, rng, proj_init_std=proj_init_std)
        self.attn_dropout = Dropout(dropout, rng)     # public, so train()/eval() reach it
        self._attn_path = ResidualSublayer(self.ln_1, self.attn, self.attn_dropout, pre_ln)
        self.mlp_dropout = Dropout(dropout, rng)
        self._mlp_path = ResidualSublayer(self.ln_2, self.mlp, self.mlp_dropout, pre_ln)

    def forward(self, x, key_padding_mask=None):
        x = self._attn_path.forward(x, key_padding_mask=key_padding_mask)
        return self._mlp_path.forward(x)

    def backward(self, dy):
        return self._attn_path.backward(self._mlp_path.backward(dy))


class DecoderBlock(Module):
    """Causal self-attention (position t sees positions <= t), optional cross-attention over the encoder
    output, then feed-forward; each a residual sub-layer.  x (B, T, C) -> (B, T, C).

    Without cross-attention this is a GPT-2 block (`ln_1`, `attn`, `ln_2`, `mlp`). The Llama block is the
    same block configured: norm="rmsnorm", ffn="swiglu", bias=False, n_kv_heads < n_heads (grouped-query
    attention), separate_qkv=True (q_proj, k_proj, v_proj, o_proj) and a shared RotaryEmbedding `rotary`.
    Backward returns dX, or (dX, dContext) with cross-attention.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, pre_ln=True, cross_attention=False,
                 activation="gelu", ln_eps=1e-5, dtype=np.float32, rng=None, proj_init_std=0.02, *,
                 norm="layernorm", ffn="mlp", bias=True, n_kv_heads=None, rotary=None, separate_qkv=False):
        rng = make_rng(rng)
        self.ln_1 = make_norm(norm, d_model, ln_eps, dtype)
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dtype=dtype, rng=rng, proj_init_std=proj_init_std,
                                       n_kv_heads=n_kv_heads, rotary=rotary, separate_qkv=separate_qkv)
        self.attn_dropout = Dropout(dropout, rng)     # public, so train()/eval() reach it
        self._attn_path = ResidualSublayer(self.ln_1, self.attn, self.attn_dropout, pre_ln)
        self.cross_attention = cross_attention
        if cross_attention:
            self.ln_cross_attn = LayerNorm(d_model, ln_eps, dtype)
            self.crossattention = MultiHeadAttention(d_model, n_heads, cross=True, dtype=dtype, rng=rng,
                                                     proj_init_std=proj_init_std)
            self.cross_dropout = Dropout(dropout, rng)
            self._cross_path = ResidualSublayer(self.ln_cross_attn, self.crossattention, self.cross_dropout,
                                                pre_ln)
        self.ln_2 = make_norm(norm, d_model, ln_eps, dtype)
        self.mlp = make_ffn(ffn, d_model, d_ff, activation, bias, dtype, rng, proj_init_std)
        self.mlp_dropout = Dropout(dropout, rng)
        self._mlp_path = ResidualSublayer(self.ln_2, self.mlp, self.mlp_dropout, pre_ln)

    def forward(self, x, context=None, context_padding_mask=None, cache=None):
        x = self._attn_path.forward(x, causal=True, cache=cache)
        if self.cross_attention:
            x = self._cross_path.forward(x, context, key_padding_mask=context_padding_mask)
        return self._mlp_path.forward(x)

    def backward(self, dy):
        dx = self._mlp_path.backward(dy)
        if not self.cross_attention:
            return self._attn_path.backward(dx)
        dx, d_context = self._cross_path.backward(dx)
        return self._attn_path.backward(dx), d_context


class Encoder(Module):
    """A stack of n_layers EncoderBlocks (+ a final LayerNorm `ln_f` when pre-LN).
    forward(x (B, S, C), key_padding_mask (B, S) or None) -> (B, S, C)."""

    def __init__(self, n_layers, d_model, n_heads, d_ff, dropout=0.0, pre_ln=True, activation="gelu",
                 ln_eps=1e-5, dtype=np.float32, rng=None):
        check_float_dtype(dtype)
        rng = make_rng(rng)
        proj_std = 0.02 / (2 * n_layers) ** 0.5     # GPT-2: residual projections scaled by 1/sqrt(2 N)
        self.h = [EncoderBlock(d_model, n_heads, d_ff, dropout, pre_ln, activation, ln_eps, dtype, rng, proj_std)
                  for _ in range(n_layers)]
        self.ln_f = LayerNorm(d_model, ln_eps, dtype) if pre_ln else None

    def forward(self, x, key_padding_mask=None):
        for block in self.h:
            x = block.forward(x, key_padding_mask=key_padding_mask)
        return self.ln_f.forward(x) if self.ln_f is not None else x

    def backward(self, dy):
        if self.ln_f is not None:
            dy = self.ln_f.backward(dy)
        for block in reversed(self.h):
            dy = block.backward(dy)
        return dy


class Decoder(Module):
    """A stack of n_layers DecoderBlocks (+ `ln_f` when pre-LN).

    forward(x (B, T, C), context=None, context_padding_mask=None, caches=None) -> (B, T, C);
    `caches` is one KVCache per block for incremental decoding.
    backward returns dX, or (dX, dContext) with cross-attention (the context feeds every block, so its
    gradient is the sum over blocks).
    `block_options` (norm, ffn, bias, n_kv_heads, rotary, separate_qkv) configure every DecoderBlock;
    `norm` also picks ln_f.
    """

    def __init__(self, n_layers, d_model, n_heads, d_ff, dropout=0.0, pre_ln=True, cross_attention=False,
                 activation="gelu", ln_eps=1e-5, dtype=np.float32, rng=None, **block_options):
        check_float_dtype(dtype)
        rng = make_rng(rng)
        proj_std = 0.02 / (2 * n_layers) ** 0.5
        self.h = [DecoderBlock(d_model, n_heads, d_ff, dropout, pre_ln, cross_attention, activation, ln_eps,
                               dtype, rng, proj_std, **block_options) for _ in range(n_layers)]
        norm = block_options.get("norm", "layernorm")
        self.ln_f = make_norm(norm, d_model, ln_eps, dtype) if pre_ln else None
        self.cross_attention = cross_attention

    def forward(self, x, context=None, context_padding_mask=None, caches=None, keep_activations=True):
        """keep_activations=False (generation: no backward will come) lets each block forget what it saved
        for backward as soon as it is done, so memory holds one block's activations, not the stack's."""
        for i, block in enumerate(self.h):
            x = block.forward(x, context, context_padding_mask, None if caches is None else caches[i])
            if not keep_activations:
                block.release_activations()
        return self.ln_f.forward(x) if self.ln_f is not None else x

    def backward(self, dy):
        if self.ln_f is not None:
            dy = self.ln_f.backward(dy)
        d_context = None
        for block in reversed(self.h):
            dy = block.backward(dy)
            if self.cross_attention:
                dy, dc = dy
                d_context = dc if d_context is None else d_context + dc
        return (dy, d_context) if self.cross_attention else dy
