"""TransformerLM: the decoder-only language model (GPT-2's shape), and autoregressive generation."""
import numpy as np

from ..blocks import Decoder
from ..core import Module, check_float_dtype
from ..init import make_rng
from ..layers import (Dropout, Embedding, KVCache, LearnedPositionalEmbedding, SinusoidalPositionalEncoding,
                      TiedOutputHead)
from ..layers.embedding import check_ids
from ..sampling import sample_next_token


class TransformerLM(Module):
    """Decoder-only Transformer language model: predicts token t+1 from tokens <= t.

        x      = wte[ids] + wpe[positions]          (B, T) -> (B, T, C)     token + learned position
        x      = h[n_layers-1](... h[0](x))          (B, T, C)              causal DecoderBlocks
        x      = ln_f(x)                             (B, T, C)              (pre-LN stacks end with a norm)
        logits = x @ wte^T                           (B, T, V)              tied output head

    Parameter names follow GPT-2 (`wte.weight`, `wpe.weight`, `h.0.ln_1.weight`, `h.0.attn.c_attn.weight`,
    ..., `ln_f.bias`), so GPT-2 checkpoints load by name. Backward runs the same road in reverse;
    `wte` gets gradient from both ends (the embedding lookup and the tied head).
    """

    def __init__(self, vocab_size, d_model, n_heads, n_layers, d_ff, max_len, dropout=0.0, dtype=np.float32,
                 seed=None, pre_ln=True, activation="gelu", ln_eps=1e-5, positional="learned", eos_token_id=None):
        self.dtype = check_float_dtype(dtype)
        if positional not in ("learned", "sinusoidal"):
            raise ValueError(f"positional must be 'learned' or 'sinusoidal', got {positional!r}")
        self.config = dict(vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff,
                           max_len=max_len, dropout=dropout, pre_ln=pre_ln, activation=activation,
                           ln_eps=ln_eps, positional=positional, eos_token_id=eos_token_id)
        self.vocab_size, self.max_len, self.eos_token_id = vocab_size, max_len, eos_token_id
        self.n_heads, self.head_dim = n_heads, d_model // max(n_heads, 1)
        self._rng = make_rng(seed)          # one generator for init and dropout: a seed fixes the whole run
        self.wte = Embedding(vocab_size, d_model, dtype, self._rng)
        self.wpe = (LearnedPositionalEmbedding(max_len, d_model, dtype, self._rng) if positional == "learned"
                    else SinusoidalPositionalEncoding(max_len, d_model, dtype))
        self.drop = Dropout(dropout, self._rng)
        self._decoder = Decoder(n_layers, d_model, n_heads, d_ff, dropout, pre_ln, False, activation, ln_eps,
                                dtype, self._rng)
        self.h, self.ln_f = self._decoder.h, self._decoder.ln_f       # GPT-2's names for the stack's parts
        self.lm_head = TiedOutputHead(self.wte)

    def forward(self, ids, caches=None, last_only=False, keep_activations=True):
        """ids (B, T) integers -> logits (B, T, V), or (B, 1, V) for the last position with last_only.
        caches: one KVCache per block; the ids then continue the cached sequence.
        keep_activations=False: no backward will follow (generation), so the blocks may forget their
        saved inputs as they go (see Module.release_activations)."""
        ids = check_ids(ids, self.vocab_size)
        if ids.ndim != 2:
            raise ValueError(f"ids must be a (batch, time) array, got shape {ids.shape}")
        start = caches[0].length if caches else 0
        x = self.wte.forward(ids)                                      # (B, T, C)
        x = self.wpe.forward(x, start)                                 # + positions start .. start+T-1
        x = self.drop.forward(x)
        x = self._decoder.forward(x, caches=caches, keep_activations=keep_activations)   # (B, T, C)
        if last_only:
            x = x[:, -1:]                                              # (B, 1, C): all decoding needs
        return self.lm_head.forward(x)                                 # (B, T, V)

    def backward(self, dlogits):
        dx = self.lm_head.backward(dlogits)                            # (B, T, C)
        dx = self._decoder.backward(dx)
        dx = self.drop.backward(dx)
        dx = self.wpe.backward(dx)
        self.wte.backward(dx)
        return None                                                    # ids have no gradient

    # ----------------------------------------------------------------------------------- generation

    def new_caches(self, batch_size, length):
        """One empty KVCache per block, room for `length` positions."""
        return [KVCache(batch_size, self.n_heads, length, self.head_dim, self.dtype) for _ in self.h]

    def iter_generate(self, ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None):
        """Yield the next token of every sequence, (B,) ids, one step at a time.

        The prompt is run once ("prefill") filling a key/value cache; after that each step feeds only the
        newest token, whose query attends to the cached keys and values: no recomputation of the prefix.
        The prefill is one pass over the whole prompt: every weight matrix is read once, in one large
        matrix product (splitting the prompt into chunks would read all the weights once per chunk).
        keep_activations=False stops the activations that each block saves for backward from piling up
        across the stack (GPT-2 124M: ~100 MB for a 128-token prompt, ~1 GB for 1024 tokens).
        """
        ids = check_ids(ids, self.vocab_size)
        if ids.ndim == 1:
            ids = ids[None, :]
        B, T = ids.shape
        if T == 0:
            raise ValueError("the prompt is empty: generation needs at least one token")
        if T + max_new_tokens > self.max_len:
            raise ValueError(f"prompt of {T} tokens + {max_new_tokens} new tokens exceeds the context window "
                             f"of {self.max_len} positions")
        rng = np.random.default_rng(seed)
        caches = self.new_caches(B, T + max_new_tokens)
        logits = self.forward(ids, caches, last_only=True, keep_activations=False)[:, -1]   # (B, V)
        for _ in range(max_new_tokens):
            next_ids = sample_next_token(logits, temperature, top_k, top_p, rng)   # (B,)
            yield next_ids
            logits = self.forward(next_ids[:, None], caches)[:, -1]   # (B, V) from one new position

    def generate(self, ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
                 stop_at_eos=False):
        """Return ids (B, T) with up to max_new_tokens sampled tokens appended -> (B, T + n).

        temperature=0 is greedy; the same seed gives the same tokens. With stop_at_eos, generation ends
        once every sequence has produced `eos_token_id` (sequences that finished early are padded with it).
        """
        was_training = self.training
        self.eval()
        squeeze = np.asarray(ids).ndim == 1
        out = np.atleast_2d(np.asarray(ids, dtype=np.int64))
        if stop_at_eos and self.eos_token_id is None:
            raise ValueError("stop_at_eos needs the model's eos_token_id")
        finished = np.zeros(out.shape[0], dtype=bool)
        try:
            for next_ids in self.iter_generate(out, max_new_tokens, temperature, top_k, top_p, seed):
                if stop_at_eos:
                    next_ids = np.where(finished, self.eos_token_id, next_ids)
                    finished |= next_ids == self.eos_token_id
                out = np.concatenate([out, next_ids[:, None]], axis=1)
                if stop_at_eos and finished.all():
                    break
        finally:
            self.train(was_training)
        return out[0] if squeeze else out
