"""TransformerLM: the decoder-only language model (GPT-2's shape), and autoregressive generation."""
import inspect

import numpy as np

from ..blocks import Decoder
from ..core import Module, StateDictError, check_float_dtype
from ..decoding import repeat_cache
from ..init import make_rng
from ..layers import (Dropout, Embedding, KVCache, LearnedPositionalEmbedding, Linear, RotaryEmbedding,
                      SinusoidalPositionalEncoding, TiedOutputHead)
from ..layers.embedding import check_ids
from ..layers.feedforward import ACTIVATIONS
from ..sampling import RepetitionPenalty, StopStrings, check_sampling, sample_next_token
from .config_fields import ConfigFields, check_memory


class TransformerLM(Module):
    """Decoder-only Transformer language model: predicts token t+1 from tokens <= t.

        x      = wte[ids] + wpe[positions]          (B, T) -> (B, T, C)     token + learned position
        x      = h[n_layers-1](... h[0](x))          (B, T, C)              causal DecoderBlocks
        x      = ln_f(x)                             (B, T, C)              (pre-LN stacks end with a norm)
        logits = x @ wte^T                           (B, T, V)              tied output head

    Parameter names follow GPT-2 (`wte.weight`, `wpe.weight`, `h.0.ln_1.weight`, `h.0.attn.c_attn.weight`,
    ..., `ln_f.bias`), so GPT-2 checkpoints load by name. Backward runs the same road in reverse;
    `wte` gets gradient from both ends (the embedding lookup and the tied head).

    The Llama configuration (see models.llama.LLAMA_STYLE) changes options, not the code path:
    norm="rmsnorm", ffn="swiglu", positional="rope" (no `wpe`: q and k are rotated in every attention
    layer by one shared RotaryEmbedding with base `rope_base`), n_kv_heads < n_heads (grouped-query
    attention; separate_qkv=True names the projections q_proj, k_proj, v_proj, o_proj), bias=False,
    and tie_head=False (an own output matrix `lm_head.weight` (C, V): logits = x @ W_head).
    """

    def __init__(self, vocab_size, d_model, n_heads, n_layers, d_ff, max_len, dropout=0.0, dtype=np.float32,
                 seed=None, pre_ln=True, activation="gelu", ln_eps=1e-5, positional="learned", eos_token_id=None,
                 norm="layernorm", ffn="mlp", n_kv_heads=None, bias=True, tie_head=True, rope_base=10000.0,
                 separate_qkv=False):
        self.dtype = check_float_dtype(dtype)
        self.config = dict(vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff,
                           max_len=max_len, dropout=dropout, pre_ln=pre_ln, activation=activation,
                           ln_eps=ln_eps, positional=positional, eos_token_id=eos_token_id, norm=norm, ffn=ffn,
                           n_kv_heads=n_kv_heads, bias=bias, tie_head=tie_head, rope_base=rope_base,
                           separate_qkv=separate_qkv)
        check_lm_config(self.config, "TransformerLM", self.dtype.itemsize)    # before any array exists
        self.vocab_size, self.max_len, self.eos_token_id = vocab_size, max_len, eos_token_id
        self.n_heads, self.head_dim = n_heads, d_model // max(n_heads, 1)
        self.n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        self._rng = make_rng(seed)          # one generator for init and dropout: a seed fixes the whole run
        self.wte = Embedding(vocab_size, d_model, dtype, self._rng)
        self.rotary = RotaryEmbedding(self.head_dim, max_len, rope_base, dtype) if positional == "rope" else None
        self.wpe = (LearnedPositionalEmbedding(max_len, d_model, dtype, self._rng) if positional == "learned"
                    else SinusoidalPositionalEncoding(max_len, d_model, dtype) if positional == "sinusoidal"
                    else None)
        self.drop = Dropout(dropout, self._rng)
        self._decoder = Decoder(n_layers, d_model, n_heads, d_ff, dropout, pre_ln, False, activation, ln_eps,
                                dtype, self._rng, norm=norm, ffn=ffn, bias=bias, n_kv_heads=n_kv_heads,
                                rotary=self.rotary, separate_qkv=separate_qkv)
        self.h, self.ln_f = self._decoder.h, self._decoder.ln_f       # GPT-2's names for the stack's parts
        self.lm_head = (TiedOutputHead(self.wte) if tie_head
                        else Linear(d_model, vocab_size, False, dtype, self._rng))

    def forward(self, ids, caches=None, last_only=False, keep_activations=True, attention_mask=None):
        """ids (B, T) integers -> logits (B, T, V), or (B, 1, V) for the last position with last_only.
        caches: one KVCache per block; the ids then continue the cached sequence.
        keep_activations=False: no backward will follow (generation), so the blocks may forget their
        saved inputs as they go (see Module.release_activations).
        attention_mask (B, T): 1 at real tokens, 0 at padding (Hugging Face's convention; a left-padded
        batch). Padded keys are never attended and each row's positions count from its first real token.
        The caches carry the padding to every layer and every later step (without caches, a temporary
        one does)."""
        ids = check_ids(ids, self.vocab_size)
        if ids.ndim != 2:
            raise ValueError(f"ids must be a (batch, time) array, got shape {ids.shape}")
        if attention_mask is not None:
            caches = caches or self.new_caches(*ids.shape)
            for cache in caches:
                cache.mark_padding(~check_attention_mask(attention_mask, ids.shape))
        start = caches[0].length if caches else 0
        positions = caches[0].positions(ids.shape[1]) if caches else None   # None: start, start + 1, ...
        x = self.wte.forward(ids)                                      # (B, T, C)
        if self.wpe is not None:                                       # (rope: positions act inside attention)
            x = self.wpe.forward(x, start if positions is None else positions)   # + each token's position
        x = self.drop.forward(x)
        x = self._decoder.forward(x, caches=caches, keep_activations=keep_activations)   # (B, T, C)
        if last_only:
            x = x[:, -1:]                                              # (B, 1, C): all decoding needs
        return self.lm_head.forward(x)                                 # (B, T, V)

    def backward(self, dlogits):
        dx = self.lm_head.backward(dlogits)                            # (B, T, C)
        dx = self._decoder.backward(dx)
        dx = self.drop.backward(dx)
        if self.wpe is not None:
            dx = self.wpe.backward(dx)
        self.wte.backward(dx)
        return None                                                    # ids have no gradient

    @classmethod
    def from_pretrained(cls, name_or_dir, progress=True):
        """A model shipped with the package ("shakespeare-char"), a GPT-2 name, or a checkpoint directory,
        in eval mode; its tokenizer (None if the directory has none) is `model.tokenizer`. See
        transformer_np.models.auto.load_lm."""
        from .auto import load_lm       # auto builds on this module
        model, _ = load_lm(name_or_dir, progress=progress, need_tokenizer=False)
        return model

    # ----------------------------------------------------------------------------------- generation

    def generation_memory_bytes(self, batch_size, length):
        """About how much memory decoding `batch_size` rows of `length` positions takes beyond the weights:
        the key/value caches, 2 * n_layers * B * n_kv_heads * length * head_dim values, and a few (B, V)
        logits-sized arrays for sampling."""
        itemsize = self.dtype.itemsize
        caches = 2 * len(self.h) * batch_size * self.n_kv_heads * length * self.head_dim * itemsize
        return caches + 4 * batch_size * self.vocab_size * itemsize

    def new_caches(self, batch_size, length):
        """One empty KVCache per block, room for `length` positions."""
        return [KVCache(batch_size, self.n_kv_heads, length, self.head_dim, self.dtype) for _ in self.h]

    def iter_generate(self, ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None, *,
                      attention_mask=None, num_samples=1, repetition_penalty=None, sliding_window=False,
                      window_stride=1):
        """Yield the next token of every row, (B * num_samples,) ids, one step at a time.

        The prompt is run once ("prefill") filling a key/value cache; after that each step feeds only the
        newest token, whose query attends to the cached keys and values: no recomputation of the prefix.
        The prefill is one pass over the whole prompt: every weight matrix is read once, in one large
        matrix product (splitting the prompt into chunks would read all the weights once per chunk).
        keep_activations=False stops the activations that each block saves for backward from piling up
        across the stack (one block's activations in memory instead of n_layers blocks').

        attention_mask (B, T): prompts of different lengths as one left-padded batch (0 at padding, the
            last column real); each row gets what its prompt gets alone (see forward).
        num_samples: continuations per prompt, drawn from ONE batched decode (rows b*n .. b*n + n-1 are
            prompt b's): the prompt is prefilled once and its cache copied, and each step reads the
            weights once for all rows, so n samples cost little more than one (decode is memory-bound).
        repetition_penalty: Hugging Face's (see sampling.RepetitionPenalty); None or 1 = off.
        sliding_window: past the context window, crop the oldest tokens and continue (minGPT / nanoGPT)
            instead of raising. With window_stride=1 every token past the window is predicted from the
            last max_len tokens exactly as nanoGPT does, at the cost of re-running all of them (a
            max_len-token prefill per token). window_stride=s keeps only the last max_len - s + 1 tokens
            when the cache is full, so the recomputation happens once every s tokens (the context then
            varies between max_len - s + 1 and max_len tokens).
        """
        check_sampling(temperature, top_k, top_p)
        ids = check_ids(ids, self.vocab_size)
        if ids.ndim == 1:
            ids = ids[None, :]
        B, T = ids.shape
        if T == 0:
            raise ValueError("the prompt is empty: generation needs at least one token")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        mask = None if attention_mask is None else check_attention_mask(attention_mask, ids.shape)
        if mask is not None and mask.all():
            mask = None                                                # nothing padded: the plain path
        if sliding_window:
            if not 1 <= window_stride <= self.max_len:
                raise ValueError(f"window_stride must be in [1, {self.max_len}], got {window_stride}")
            ids, mask = crop_to_window(ids, mask, self.max_len)
        elif T + max_new_tokens > self.max_len:                       # the output must fit the window
            raise ValueError(f"prompt of {T} tokens + {max_new_tokens} new tokens exceeds the context window "
                             f"of {self.max_len} positions (sliding_window=True crops the oldest tokens)")
        rng = np.random.default_rng(seed)
        # Room for the prompt and every new token but the last, which is never fed to the model.
        caches = self.new_caches(B, min(ids.shape[1] + max(max_new_tokens - 1, 0), self.max_len))
        logits = self.forward(ids, caches, last_only=True, keep_activations=False, attention_mask=mask)[:, -1]
        if num_samples > 1:                                            # one prefill, n copies of its cache
            share = self.n_kv_heads == self.n_heads                   # (grouped heads: plain copies)
            caches = [repeat_cache(cache, num_samples, share_prefix=share) for cache in caches]
            logits = np.repeat(logits, num_samples, axis=0)            # (B * n, V)
            ids = np.repeat(ids, num_samples, axis=0)
            mask = None if mask is None else np.repeat(mask, num_samples, axis=0)
        penalty = (RepetitionPenalty(repetition_penalty, ids, self.vocab_size, mask)
                   if repetition_penalty not in (None, 1, 1.0) else None)
        generated = []                                                 # kept only to slide the window
        for step in range(max_new_tokens):
            if penalty is not None:
                logits = penalty(logits)
            next_ids = sample_next_token(logits, temperature, top_k, top_p, rng)   # (B,)
            yield next_ids
            if step + 1 == max_new_tokens:
                return                                                 # no forward for a token never asked for
            if penalty is not None:
                penalty.add(next_ids)
            if sliding_window:
                generated.append(next_ids)
            if caches[0].length < caches[0].capacity:
                logits = self.forward(next_ids[:, None], caches)[:, -1]   # (B, V) from one new position
            else:                                                      # full (only with sliding_window)
                window, window_mask = crop_to_window(
                    np.concatenate([ids, np.stack(generated, axis=1)], axis=1),
                    None if mask is None else np.pad(mask, ((0, 0), (0, len(generated))), constant_values=True),
                    self.max_len - window_stride + 1)
                caches = self.new_caches(window.shape[0], self.max_len)
                logits = self.forward(window, caches, last_only=True, keep_activations=False,
                                      attention_mask=window_mask)[:, -1]

    def generate(self, ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
                 stop_at_eos=False, *, attention_mask=None, num_samples=1, repetition_penalty=None,
                 sliding_window=False, window_stride=1, stop_strings=None, tokenizer=None, pad_token_id=None):
        """Return ids (B, T) with up to max_new_tokens sampled tokens appended -> (B * num_samples, T + n).

        temperature=0 is greedy; the same seed gives the same tokens. A row is finished once it produced
        `eos_token_id` (with stop_at_eos) or its text ends in one of `stop_strings` (needs `tokenizer`,
        anything with decode_bytes; Hugging Face's rule, see sampling.StopStrings: the tokens that complete
        the stop string are kept). Finished rows are padded with pad_token_id (default: eos_token_id, else
        0); generation ends when every row is finished. The other options: see iter_generate.
        """
        was_training = self.training
        self.eval()
        squeeze = np.asarray(ids).ndim == 1 and num_samples == 1        # 1-D in, 1-D out
        out = np.atleast_2d(np.asarray(ids, dtype=np.int64))
        if stop_at_eos and self.eos_token_id is None:
            raise ValueError("stop_at_eos needs the model's eos_token_id")
        if stop_strings and tokenizer is None:
            raise ValueError("stop_strings need a tokenizer (to see the text of each token)")
        pad = pad_token_id if pad_token_id is not None else self.eos_token_id if self.eos_token_id is not None else 0
        out = np.repeat(out, num_samples, axis=0)
        stops = None
        if stop_strings:
            real = (np.ones(out.shape, bool) if attention_mask is None
                    else np.repeat(np.asarray(attention_mask, bool), num_samples, axis=0))
            stops = StopStrings(stop_strings, lambda t: tokenizer.decode_bytes([t]),
                                [row[keep] for row, keep in zip(out, real)])
        finished = np.zeros(out.shape[0], dtype=bool)
        new_tokens = []
        try:
            for next_ids in self.iter_generate(out[::num_samples], max_new_tokens, temperature, top_k, top_p,
                                               seed, attention_mask=attention_mask, num_samples=num_samples,
                                               repetition_penalty=repetition_penalty,
                                               sliding_window=sliding_window, window_stride=window_stride):
                next_ids = np.where(finished, pad, next_ids)
                new_tokens.append(next_ids)
                if stop_at_eos:
                    finished |= next_ids == self.eos_token_id
                if stops is not None:
                    finished |= stops.update(next_ids, active=~finished)
                if finished.all():
                    break
        finally:
            self.train(was_training)
        if new_tokens:
            out = np.concatenate([out, np.stack(new_tokens, axis=1)], axis=1)
        return out[0] if squeeze else out


_LM_PARAMETERS = inspect.signature(TransformerLM.__init__).parameters
#: TransformerLM's required size arguments, and its options with their defaults (dtype and seed aside).
LM_SIZES = tuple(name for name, p in _LM_PARAMETERS.items() if name != "self" and p.default is inspect.Parameter.empty)
LM_DEFAULTS = {name: p.default for name, p in _LM_PARAMETERS.items()
               if p.default is not inspect.Parameter.empty and name not in ("dtype", "seed")}


def parameter_count(config):
    """The number of parameters of TransformerLM(**config) (its keyword arguments, e.g. `model.config`),
    from the sizes alone: nothing is allocated.

        wte V*C + wpe P*C (learned positions) + L * block + ln_f + lm_head C*V (untied head only)
        block = ln_1 + ln_2 + attention C*(C + 2*KV) + C*C + MLP 2*C*F (SwiGLU 3*C*F), plus biases,
        KV = n_kv_heads * C / n_heads (grouped-query attention), a norm = C (RMSNorm) or 2C (LayerNorm)
    """
    k = dict(LM_DEFAULTS, **config)
    V, C, L, F, P = k["vocab_size"], k["d_model"], k["n_layers"], k["d_ff"], k["max_len"]
    kv_width = (k["n_kv_heads"] or k["n_heads"]) * (C // k["n_heads"])
    norm = C if k["norm"] == "rmsnorm" else 2 * C
    bias = 1 if k["bias"] else 0
    attention = C * (C + 2 * kv_width) + C * C + bias * (C + 2 * kv_width + C)
    ffn = (3 * C * F + bias * (2 * F + C)) if k["ffn"] == "swiglu" else (2 * C * F + bias * (F + C))
    return (V * C + (P * C if k["positional"] == "learned" else 0) + L * (2 * norm + attention + ffn)
            + (norm if k["pre_ln"] else 0) + (0 if k["tie_head"] else C * V))


def check_lm_config(config, source, itemsize=4):
    """Types and ranges of TransformerLM's keyword arguments, then the memory its parameters will take
    (`itemsize` bytes each, plus a sinusoidal table's P*C) against the machine's: one ConfigError line
    naming `source` and the argument, raised before anything is allocated."""
    fields = ConfigFields(dict(LM_DEFAULTS, **config), source)
    sizes = {key: fields.integer(key) for key in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff", "max_len")}
    fields.divides("n_heads", sizes["n_heads"], "d_model", sizes["d_model"])
    n_kv_heads = fields.integer("n_kv_heads", optional=True)
    if n_kv_heads is not None:
        fields.divides("n_kv_heads", n_kv_heads, "n_heads", sizes["n_heads"])
    fields.probability("dropout")
    fields.epsilon("ln_eps")
    fields.positive_float("rope_base")
    fields.choice("positional", ("learned", "sinusoidal", "rope"))
    fields.choice("norm", ("layernorm", "rmsnorm"))
    fields.choice("ffn", ("mlp", "swiglu"))
    fields.choice("activation", tuple(ACTIVATIONS))
    for key in ("pre_ln", "bias", "tie_head", "separate_qkv"):
        fields.boolean(key)
    fields.token_id("eos_token_id")      # (GPT-2's default 50256 stays even in a small vocabulary)
    n_values = parameter_count(fields.config)
    if fields.config["positional"] == "sinusoidal":
        n_values += sizes["max_len"] * sizes["d_model"]
    check_memory(n_values * itemsize, f"the model's {n_values:,} parameters", source)


def check_layers_present(state, n_layers, source, field):
    """Before building a model of `n_layers` blocks for a checkpoint, check that the checkpoint's state dict
    (our names: block i is `h.i.*`) has that many: a config.json saying 100,000 layers over a 2-layer file
    would otherwise spend a minute and gigabytes building blocks only to find their tensors missing."""
    last_block = f"h.{n_layers - 1}."
    if not any(name.startswith(last_block) for name in state):
        held = len({name.split(".")[1] for name in state if name.startswith("h.")})
        raise StateDictError(f"{source}: {field} is {n_layers} but the weights hold {held} layers "
                             f"(no tensor {last_block}*)")


def check_attention_mask(attention_mask, shape):
    """(B, T) 0/1 (or bool) -> bool, True at real tokens; the last column must be real (left padding:
    generation continues after it) and every row needs a token."""
    mask = np.asarray(attention_mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"attention_mask has shape {mask.shape}; the ids have shape {tuple(shape)}")
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("attention_mask must hold 0 (padding) and 1 (token) only")
    mask = mask.astype(bool)
    if not mask[:, -1].all():
        raise ValueError("attention_mask: pad on the left (each row's last column must be a real token)")
    return mask


def crop_to_window(ids, mask, length):
    """The last `length` columns of ids (B, T) and of its mask (None: no padding; a window without any
    padding left also gives None)."""
    ids = ids[:, -length:]
    if mask is not None:
        mask = mask[:, -length:]
        mask = None if mask.all() else mask
    return ids, mask
