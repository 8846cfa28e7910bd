"""Transformer: the encoder-decoder of "Attention Is All You Need"."""
import numpy as np

from ..blocks import Decoder, Encoder
from ..core import Module, check_float_dtype
from ..init import make_rng
from ..layers import Dropout, Embedding, KVCache, Linear, SinusoidalPositionalEncoding
from ..layers.embedding import check_ids
from ..sampling import sample_next_token


class Transformer(Module):
    """Encoder-decoder Transformer: reads a source sequence, writes a target sequence.

        memory = Encoder(src_embed[src] + PE)                         (B, S, C)
        x      = Decoder(tgt_embed[tgt] + PE, memory)                 (B, T, C)   causal self-attention,
                                                                                  cross-attention to memory
        logits = x @ W_out + b_out                                    (B, T, V_tgt)
    Defaults follow the paper: sinusoidal positions, ReLU feed-forward, post-LN (pre_ln=True gives the
    GPT-2 arrangement, which trains more easily). Embeddings start with unit variance, the scale the
    paper reaches by multiplying by sqrt(d_model).

    Backward: the decoder returns gradients for its input and for `memory`; the latter flows back
    through the encoder: this is how the encoder learns.
    `src_padding_mask` (B, S), True at padding: no attention (encoder or cross) reads those positions.
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, d_model, n_heads, n_layers, d_ff, max_len, dropout=0.0,
                 dtype=np.float32, seed=None, pre_ln=False, activation="relu", ln_eps=1e-5):
        self.dtype = check_float_dtype(dtype)
        self.config = dict(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, d_model=d_model,
                           n_heads=n_heads, n_layers=n_layers, d_ff=d_ff, max_len=max_len, dropout=dropout,
                           pre_ln=pre_ln, activation=activation, ln_eps=ln_eps)
        self.src_vocab_size, self.tgt_vocab_size, self.max_len = src_vocab_size, tgt_vocab_size, max_len
        self.n_heads, self.head_dim = n_heads, d_model // max(n_heads, 1)
        self._rng = make_rng(seed)
        self.src_embed = Embedding(src_vocab_size, d_model, dtype, self._rng, init_std=1.0)
        self.tgt_embed = Embedding(tgt_vocab_size, d_model, dtype, self._rng, init_std=1.0)
        self.positions = SinusoidalPositionalEncoding(max_len, d_model, dtype)
        self.src_drop = Dropout(dropout, self._rng)
        self.tgt_drop = Dropout(dropout, self._rng)
        self.encoder = Encoder(n_layers, d_model, n_heads, d_ff, dropout, pre_ln, activation, ln_eps, dtype,
                               self._rng)
        self.decoder = Decoder(n_layers, d_model, n_heads, d_ff, dropout, pre_ln, True, activation, ln_eps,
                               dtype, self._rng)
        self.lm_head = Linear(d_model, tgt_vocab_size, True, dtype, self._rng)

    def encode(self, src_ids, src_padding_mask=None):
        """src_ids (B, S) -> memory (B, S, C)."""
        src_ids = check_ids(src_ids, self.src_vocab_size, "source ids")
        x = self.src_drop.forward(self.positions.forward(self.src_embed.forward(src_ids)))
        return self.encoder.forward(x, key_padding_mask=src_padding_mask)

    def decode(self, tgt_ids, memory, src_padding_mask=None, caches=None):
        """tgt_ids (B, T), memory (B, S, C) -> logits (B, T, V_tgt)."""
        tgt_ids = check_ids(tgt_ids, self.tgt_vocab_size, "target ids")
        start = caches[0].length if caches else 0
        x = self.tgt_drop.forward(self.positions.forward(self.tgt_embed.forward(tgt_ids), start))
        x = self.decoder.forward(x, memory, src_padding_mask, caches)
        return self.lm_head.forward(x)

    def forward(self, src_ids, tgt_ids, src_padding_mask=None):
        """src_ids (B, S), tgt_ids (B, T) -> logits (B, T, V_tgt): position t predicts tgt[t+1]."""
        return self.decode(tgt_ids, self.encode(src_ids, src_padding_mask), src_padding_mask)

    def backward(self, dlogits):
        dx, d_memory = self.decoder.backward(self.lm_head.backward(dlogits))
        self.tgt_embed.backward(self.positions.backward(self.tgt_drop.backward(dx)))
        d_src = self.encoder.backward(d_memory)
        self.src_embed.backward(self.positions.backward(self.src_drop.backward(d_src)))
        return None

    def generate(self, src_ids, max_new_tokens, start_id=0, temperature=1.0, top_k=None, top_p=None, seed=None,
                 src_padding_mask=None):
        """Encode once, then decode token by token (a KV cache for the decoder's self-attention).
        Returns (B, 1 + max_new_tokens): start_id followed by the generated tokens."""
        was_training = self.training
        self.eval()
        try:
            src_ids = np.atleast_2d(np.asarray(src_ids))
            B = src_ids.shape[0]
            if 1 + max_new_tokens > self.max_len:
                raise ValueError(f"{max_new_tokens} new tokens exceed the context window of {self.max_len}")
            memory = self.encode(src_ids, src_padding_mask)
            rng = np.random.default_rng(seed)
            caches = [KVCache(B, self.n_heads, 1 + max_new_tokens, self.head_dim, self.dtype) for _ in self.decoder.h]
            out = np.full((B, 1), start_id, dtype=np.int64)
            for _ in range(max_new_tokens):
                logits = self.decode(out[:, -1:], memory, src_padding_mask, caches)[:, -1]   # (B, V)
                out = np.concatenate([out, sample_next_token(logits, temperature, top_k, top_p, rng)[:, None]], 1)
        finally:
            self.train(was_training)
        return out
