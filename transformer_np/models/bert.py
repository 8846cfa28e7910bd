"""BERT: embeddings + the library's post-LN Encoder, and loading/saving Hugging Face `BertModel` checkpoints.

There is no second implementation of attention or blocks here. BERT *is*

    h0 = LayerNorm(wte[ids] + wpe[0..T-1] + wtt[token_type_ids])     (eps = layer_norm_eps, 1e-12)
    h  = Encoder(h0, key_padding_mask)    post-LN blocks, exact (erf) GELU ("gelu"), the same eps
    pooled = tanh(h[:, 0] @ W + b)        the optional pooler on the [CLS] position

and what differs from GPT-2 is only the configuration: post-LN instead of pre-LN, no causal mask, a token
type embedding, the exact GELU.

Hugging Face's names -> ours (torch Linear weights are (out, in), ours (in, out): transposed on the way):
    embeddings.word_embeddings / position_embeddings / token_type_embeddings   wte / wpe / wtt
    embeddings.LayerNorm                                                       ln_emb
    encoder.layer.N.attention.self.query | key | value   (3 Linears)          encoder.h.N.attn.c_attn (fused)
    encoder.layer.N.attention.output.dense                                    encoder.h.N.attn.c_proj
    encoder.layer.N.attention.output.LayerNorm                                encoder.h.N.ln_1
    encoder.layer.N.intermediate.dense / output.dense                         encoder.h.N.mlp.c_fc / c_proj
    encoder.layer.N.output.LayerNorm                                          encoder.h.N.ln_2
    pooler.dense                                                              pooler.dense
A checkpoint of a BERT with a task head (BertForMaskedLM, ...) prefixes the encoder's names with `bert.`;
the encoder is loaded and the head's tensors are left out. Old checkpoints name LayerNorm's weight and
bias `gamma` and `beta`; both spellings load.

Hugging Face's `attention_mask` is 1 at real tokens; the Encoder's `key_padding_mask` is True at padding.
"""
import itertools
import json
from pathlib import Path

import numpy as np

from ..blocks import Encoder
from ..core import Module, StateDictError, check_float_dtype
from ..init import make_rng, skip_init
from ..io.safetensors import load_safetensors, save_safetensors
from ..layers import Dropout, Embedding, LayerNorm, LearnedPositionalEmbedding, Linear
from ..layers.activations import Tanh
from ..layers.embedding import check_ids
from ..tokenizer.files import atomic_write_text
from .config_fields import ConfigError, ConfigFields, check_memory, describe, read_config_json

# BertConfig's defaults (transformers): bert-base-uncased's sizes.
DEFAULT_CONFIG = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                      layer_norm_eps=1e-12, pad_token_id=0, position_embedding_type="absolute")

# config.json's hidden_act -> the library's FeedForward activation (HF's "gelu" is the exact erf form).
ACTIVATIONS = {"gelu": "gelu_exact", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu"}

_PREFIX = "bert."
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")   # index buffers, not weights


def full_config(config=None, **overrides):
    """BertConfig's defaults, then `config` (config.json's dict), then `overrides`; private keys dropped."""
    merged = dict(DEFAULT_CONFIG)
    merged.update({k: v for k, v in (config or {}).items() if not k.startswith("_")})
    merged.update(overrides)
    return merged


def check_supported(config, source="config.json"):
    """Refuse, in one ConfigError line, a config describing something our BERT does not compute, a field of
    the wrong type or range, or a model larger than the machine's available memory."""
    fields = ConfigFields(config, source)
    problems = []
    if config.get("model_type", "bert") != "bert":
        problems.append(f"model_type={describe(config['model_type'])} (expected 'bert')")
    if not isinstance(config["hidden_act"], str) or config["hidden_act"] not in ACTIVATIONS:
        problems.append(f"hidden_act={describe(config['hidden_act'])} (supported: {', '.join(ACTIVATIONS)})")
    if config["position_embedding_type"] != "absolute":
        problems.append(f"position_embedding_type={describe(config['position_embedding_type'])} "
                        f"(supported: 'absolute')")
    for key in ("is_decoder", "add_cross_attention"):
        if fields.boolean(key, default=False):
            problems.append(f"{key}=true (an encoder only)")
    width, heads = fields.integer("hidden_size"), fields.integer("num_attention_heads")
    if width % heads:
        problems.append(f"num_attention_heads={heads} does not divide hidden_size={width}")
    if problems:
        raise ConfigError(f"unsupported BERT config ({source}): " + "; ".join(problems))
    for key in ("vocab_size", "num_hidden_layers", "intermediate_size", "max_position_embeddings", "type_vocab_size"):
        fields.integer(key)
    fields.probability("hidden_dropout_prob")
    fields.epsilon("layer_norm_eps")
    fields.integer("pad_token_id", minimum=0, optional=True)
    n_params = bert_parameter_count(config)
    check_memory(4 * n_params, f"the model's {n_params:,} parameters", source)


def bert_parameter_count(config, add_pooler=True):
    """Parameters of a BERT config (config.json's names, sizes already checked), nothing allocated:

        wte V*C + wpe P*C + wtt T*C + ln_emb 2C + L * (c_attn C*3C+3C + c_proj C*C+C + ln_1 2C
                                                      + c_fc C*F+F + c_proj F*C+C + ln_2 2C) + pooler C*C+C
    """
    C, F = config["hidden_size"], config["intermediate_size"]
    embeddings = (config["vocab_size"] + config["max_position_embeddings"] + config["type_vocab_size"]) * C + 2 * C
    block = (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (C * F + F) + (F * C + C) + 2 * C
    return embeddings + config["num_hidden_layers"] * block + ((C * C + C) if add_pooler else 0)


class BertPooler(Module):
    """pooled = tanh(h[:, 0] @ W + b): the [CLS] position through a dense layer.   h (B, T, C) -> (B, C).
    Backward: dh[:, 0] = dense'(tanh'(dpooled)), zero at the other positions."""

    def __init__(self, d_model, dtype=np.float32, rng=None):
        self.dense = Linear(d_model, d_model, True, dtype, rng)
        self.activation = Tanh()

    def forward(self, hidden):
        self.hidden_shape = hidden.shape
        return self.activation.forward(self.dense.forward(hidden[:, 0]))

    def backward(self, d_pooled):
        dh = np.zeros(self.hidden_shape, dtype=d_pooled.dtype)
        dh[:, 0] = self.dense.backward(self.activation.backward(d_pooled))
        return dh


class BERT(Module):
    """BERT encoder (Hugging Face `BertModel`).

        BERT(config_dict, **overrides)         random weights; sizes in config.json's names
        BERT.from_pretrained(dir | "all-MiniLM-L6-v2")
    forward(ids (B, T), token_type_ids=None, attention_mask=None) -> hidden states (B, T, C)
        attention_mask (B, T): 1 (or True) at real tokens, 0 at padding, as in Hugging Face.
    backward(d_hidden) accumulates every parameter's gradient; the pooler (`model.pooler`, or None) is
    applied by the caller: pooled = model.pooler(h); model.backward(model.pooler.backward(d_pooled)).
    """

    def __init__(self, config=None, *, add_pooler=True, dtype=np.float32, seed=None, **overrides):
        self.bert_config = config = full_config(config, **overrides)
        check_supported(config)
        self.dtype = check_float_dtype(dtype)
        rng = make_rng(seed)
        C = int(config["hidden_size"])
        self.vocab_size, self.type_vocab_size = int(config["vocab_size"]), int(config["type_vocab_size"])
        pad = config.get("pad_token_id")
        self.pad_token_id = int(pad) if pad is not None and 0 <= int(pad) < self.vocab_size else None
        self.wte = Embedding(self.vocab_size, C, dtype, rng)
        self.wpe = LearnedPositionalEmbedding(int(config["max_position_embeddings"]), C, dtype, rng, init_std=0.02)
        self.wtt = Embedding(self.type_vocab_size, C, dtype, rng)
        self.ln_emb = LayerNorm(C, float(config["layer_norm_eps"]), dtype)
        self.drop = Dropout(float(config["hidden_dropout_prob"]), rng)
        self.encoder = Encoder(int(config["num_hidden_layers"]), C, int(config["num_attention_heads"]),
                               int(config["intermediate_size"]), float(config["hidden_dropout_prob"]),
                               pre_ln=False, activation=ACTIVATIONS[config["hidden_act"]],
                               ln_eps=float(config["layer_norm_eps"]), dtype=dtype, rng=rng)
        self.pooler = BertPooler(C, dtype, rng) if add_pooler else None

    @property
    def d_model(self):
        return self.wte.embedding_dim

    def forward(self, ids, token_type_ids=None, attention_mask=None):
        ids = check_ids(ids, self.vocab_size)
        if ids.ndim != 2:
            raise ValueError(f"ids must be (B, T), got shape {ids.shape}")
        types = np.zeros_like(ids) if token_type_ids is None else check_ids(token_type_ids, self.type_vocab_size,
                                                                             "token_type_ids")
        if types.shape != ids.shape:
            raise ValueError(f"token_type_ids shape {types.shape} differs from ids shape {ids.shape}")
        x = self.wpe.forward(self.wte.forward(ids))                          # (B, T, C)
        x += self.wtt.forward(types)
        x = self.drop.forward(self.ln_emb.forward(x))
        return self.encoder.forward(x, key_padding_mask=padding_from_attention_mask(attention_mask, ids.shape))

    def backward(self, d_hidden):
        dx = self.ln_emb.backward(self.drop.backward(self.encoder.backward(d_hidden)))
        self.wtt.backward(dx)
        self.wte.backward(self.wpe.backward(dx))
        if self.pad_token_id is not None:
            # torch's Embedding(padding_idx): the [PAD] vector is never trained, so its gradient stays 0
            self.wte.weight.grad[self.pad_token_id] = 0.0
        return None

    # ------------------------------------------------------------------------------- checkpoints

    @classmethod
    def from_pretrained(cls, name_or_dir, *, dtype=np.float32, progress=True):
        """Load a Hugging Face BERT directory (config.json + model.safetensors) or a known name
        ("all-MiniLM-L6-v2": the installed package, the HF cache, or a download). Eval mode."""
        from ..io.hub import resolve_model_dir
        directory = resolve_model_dir(name_or_dir, progress=progress)
        config_path = directory / "config.json"
        config = full_config(read_config_json(config_path))
        check_supported(config, str(config_path))
        tensors = bert_state_dict(load_safetensors(directory / "model.safetensors"),
                                  int(config["num_hidden_layers"]), directory / "model.safetensors")
        with skip_init():
            model = cls(config, add_pooler="pooler.dense.weight" in tensors, dtype=dtype)
        model.load_state_dict(tensors, strict=True, source=directory / "model.safetensors")
        model.model_dir = directory
        return model.eval()

    def save_pretrained(self, directory, tokenizer=None):
        """Write config.json + model.safetensors in BertModel's names (what `transformers.BertModel`
        loads with the same outputs), and the tokenizer's vocab.txt + tokenizer_config.json when given."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = dict(self.bert_config, model_type="bert", architectures=["BertModel"])
        save_safetensors(directory / "model.safetensors", hf_tensors(self), metadata={"format": "pt"})
        atomic_write_text(directory / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
        if tokenizer is not None:
            tokenizer.save_pretrained(directory)
        return directory


def padding_from_attention_mask(attention_mask, shape):
    """Hugging Face's attention_mask (1 = real token) -> the Encoder's key_padding_mask (True = padding),
    or None when there is no padding at all (the attention then skips masking)."""
    if attention_mask is None:
        return None
    mask = np.asarray(attention_mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"attention_mask shape {mask.shape} differs from ids shape {tuple(shape)}")
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("attention_mask must hold 0 (padding) and 1 (token) only")
    padding = mask == 0
    return padding if padding.any() else None


# ---------------------------------------------------------------------------------------- name map

def _layer_names(i):
    """(ours, Hugging Face's, transpose?) for the tensors of encoder layer i other than q/k/v."""
    ours, hf = f"encoder.h.{i}.", f"encoder.layer.{i}."
    return [(ours + "attn.c_proj.weight", hf + "attention.output.dense.weight", True),
            (ours + "attn.c_proj.bias", hf + "attention.output.dense.bias", False),
            (ours + "ln_1.weight", hf + "attention.output.LayerNorm.weight", False),
            (ours + "ln_1.bias", hf + "attention.output.LayerNorm.bias", False),
            (ours + "mlp.c_fc.weight", hf + "intermediate.dense.weight", True),
            (ours + "mlp.c_fc.bias", hf + "intermediate.dense.bias", False),
            (ours + "mlp.c_proj.weight", hf + "output.dense.weight", True),
            (ours + "mlp.c_proj.bias", hf + "output.dense.bias", False),
            (ours + "ln_2.weight", hf + "output.LayerNorm.weight", False),
            (ours + "ln_2.bias", hf + "output.LayerNorm.bias", False)]


_EMBEDDING_NAMES = [("wte.weight", "embeddings.word_embeddings.weight", False),
                    ("wpe.weight", "embeddings.position_embeddings.weight", False),
                    ("wtt.weight", "embeddings.token_type_embeddings.weight", False),
                    ("ln_emb.weight", "embeddings.LayerNorm.weight", False),
                    ("ln_emb.bias", "embeddings.LayerNorm.bias", False)]
_POOLER_NAMES = [("pooler.dense.weight", "pooler.dense.weight", True),
                 ("pooler.dense.bias", "pooler.dense.bias", False)]
_QKV = ("query", "key", "value")


def _normalise_names(tensors):
    """Strip the `bert.` prefix (keeping only the encoder's tensors when it is there), spell LayerNorm's
    gamma/beta as weight/bias, drop the index buffers."""
    if any(name.startswith(_PREFIX) for name in tensors):
        tensors = {name[len(_PREFIX):]: v for name, v in tensors.items() if name.startswith(_PREFIX)}
    out = {}
    for name, value in tensors.items():
        if name in _BUFFERS:
            continue
        if ".LayerNorm." in name:
            name = name.replace(".LayerNorm.gamma", ".LayerNorm.weight").replace(".LayerNorm.beta", ".LayerNorm.bias")
        out[name] = value
    return out


def bert_state_dict(tensors, n_layers, source="model.safetensors"):
    """Hugging Face BertModel tensors -> our parameter names (float32, writable copies): transposes the
    Linear weights and fuses each layer's query/key/value into c_attn. Raises one line naming the
    missing or unexpected tensors."""
    hf = _normalise_names(tensors)
    used, state = set(), {}

    def take(name):
        if name not in hf:
            raise StateDictError(f"{source}: tensor {name!r} is missing (not a BertModel checkpoint?)")
        used.add(name)
        return np.asarray(hf[name], dtype=np.float32)

    # Layer by layer, so that a config.json with far more layers than the file stops at the first gap.
    names = itertools.chain(_EMBEDDING_NAMES, itertools.chain.from_iterable(map(_layer_names, range(n_layers))),
                            _POOLER_NAMES if "pooler.dense.weight" in hf else ())
    for ours, theirs, transpose in names:
        value = take(theirs)
        state[ours] = np.ascontiguousarray(value.T) if transpose else value.copy()
    for i in range(n_layers):
        base = f"encoder.layer.{i}.attention.self."
        # torch's (out, in) per role, transposed to (in, out) and side by side: [W_q | W_k | W_v] (C, 3C).
        state[f"encoder.h.{i}.attn.c_attn.weight"] = np.concatenate([take(base + r + ".weight").T for r in _QKV], axis=1)
        state[f"encoder.h.{i}.attn.c_attn.bias"] = np.concatenate([take(base + r + ".bias") for r in _QKV])
    unexpected = sorted(set(hf) - used)
    if unexpected:
        raise StateDictError(f"{source}: unexpected tensors {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''} "
                         f"(num_hidden_layers={n_layers} in config.json?)")
    return state


def hf_tensors(model, arrays=None):
    """Our parameters (or `arrays`: our name -> array, e.g. the gradients) -> BertModel's names and
    layouts, float32 (the inverse of bert_state_dict)."""
    arrays = arrays if arrays is not None else {name: p.data for name, p in model.named_parameters()}
    names = list(_EMBEDDING_NAMES)
    for i in range(len(model.encoder.h)):
        names += _layer_names(i)
    if model.pooler is not None:
        names += _POOLER_NAMES
    out = {}
    for ours, theirs, transpose in names:
        value = np.asarray(arrays[ours], dtype=np.float32)
        out[theirs] = np.ascontiguousarray(value.T if transpose else value)
    C = model.d_model
    for i in range(len(model.encoder.h)):
        weight, bias = arrays[f"encoder.h.{i}.attn.c_attn.weight"], arrays[f"encoder.h.{i}.attn.c_attn.bias"]
        for j, role in enumerate(_QKV):
            base = f"encoder.layer.{i}.attention.self.{role}."
            out[base + "weight"] = np.ascontiguousarray(weight[:, j * C:(j + 1) * C].T, dtype=np.float32)
            out[base + "bias"] = np.ascontiguousarray(bias[j * C:(j + 1) * C], dtype=np.float32)
    return out
