"""GPT-2: the library's TransformerLM in GPT-2's configuration, and loading/saving Hugging Face checkpoints.

There is no second implementation here. GPT-2 *is* `TransformerLM` with

    pre-LN blocks, learned positions (`wpe`), tanh-GELU ("gelu_new"), a tied output head,
    LayerNorm eps = config["layer_norm_epsilon"], d_ff = config["n_inner"] or 4 * n_embd,

and the LM already names its parameters as GPT-2 does (`wte.weight`, `h.0.attn.c_attn.weight`, ...;
Linear stores its weight (in, out) exactly like GPT-2's Conv1D), so loading a checkpoint is a copy by name.

A checkpoint directory (Hugging Face layout) holds
    config.json          sizes: n_embd, n_layer, n_head, n_positions, n_inner, vocab_size, ...
    model.safetensors    the weights: [u64 header size][JSON header][raw little-endian data]
    vocab.json, merges.txt   the tokenizer (see transformer_np.tokenizer)
The weights are memory-mapped copy-on-write: float32 tensors are views of the file's pages (read by
the OS on first use, shared with the page cache), so a 124M model costs one copy of its weights, not
two, and the model is still trainable (a page is copied only when an optimiser writes into it).
"""
import json
import math
import mmap
from pathlib import Path

import numpy as np

from ..core import StateDictError
from ..init import skip_init
from ..io.safetensors import map_safetensors, read_safetensors_header, save_safetensors
from ..tokenizer.files import atomic_write_text
from .config_fields import ConfigError, ConfigFields, read_config_json
from .lm import TransformerLM, check_layers_present, check_lm_config

# The four released sizes (everything else in their config.json is the GPT-2 default below).
PRESETS = {
    "gpt2": dict(n_embd=768, n_layer=12, n_head=12),
    "gpt2-medium": dict(n_embd=1024, n_layer=24, n_head=16),
    "gpt2-large": dict(n_embd=1280, n_layer=36, n_head=20),
    "gpt2-xl": dict(n_embd=1600, n_layer=48, n_head=25),
}

# GPT2Config's defaults (transformers), i.e. the 124M model.
DEFAULT_CONFIG = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                      activation_function="gelu_new", layer_norm_epsilon=1e-5, resid_pdrop=0.1, embd_pdrop=0.1,
                      attn_pdrop=0.1, bos_token_id=50256, eos_token_id=50256, tie_word_embeddings=True)

# config.json's activation names -> the library's (HF's "gelu" is the exact erf form, "gelu_new" the tanh one).
ACTIVATIONS = {"gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "gelu_fast": "gelu", "gelu": "gelu_exact",
               "relu": "relu"}
_ACTIVATION_NAMES = {"gelu": "gelu_new", "gelu_exact": "gelu", "relu": "relu"}

# Buffers of the original hub file that are not parameters (the causal mask, a constant -1e4).
_BUFFER_SUFFIXES = (".attn.bias", ".attn.masked_bias")
_PREFIX = "transformer."


def full_config(config=None, **overrides):
    """A complete GPT-2 config dict: GPT2Config's defaults, then `config`, then `overrides`.
    `config` may be a dict (config.json's contents) or a preset name ("gpt2", "gpt2-medium", ...)."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown GPT-2 preset {config!r} (known: {', '.join(PRESETS)})")
        config = PRESETS[config]
    merged = dict(DEFAULT_CONFIG)
    merged.update({k: v for k, v in (config or {}).items() if not k.startswith("_")})
    merged.update(overrides)
    if "n_ctx" in merged and "n_positions" not in (config or {}) and "n_positions" not in overrides:
        merged["n_positions"] = merged["n_ctx"]               # very old configs name the window n_ctx
    return merged


def check_supported(config, source="GPT-2 config"):
    """Refuse configs that describe a model our TransformerLM does not compute (rather than load it wrongly),
    and fields of the wrong type (`"tie_word_embeddings": "false"` is not false): one ConfigError line."""
    fields = ConfigFields(config, source)
    fields.choice("activation_function", tuple(ACTIVATIONS))
    for key, ok in (("add_cross_attention", False), ("scale_attn_by_inverse_layer_idx", False),
                    ("scale_attn_weights", True), ("tie_word_embeddings", True)):
        if fields.boolean(key, default=ok) != ok:
            raise ConfigError(f"{source}: unsupported GPT-2 config: {key}={config[key]!r} (only {ok})")


def config_to_kwargs(config, source="GPT-2 config"):
    """config.json's names -> TransformerLM's keyword arguments, every field type- and range-checked
    (ConfigError naming `source` and the field) and the parameter memory checked against the machine's.
    Every value becomes a Python int/float: a NumPy float64 scalar (e.g. eps read by np.load) would
    upcast float32 activations."""
    config = full_config(config)
    check_supported(config, source)
    fields = ConfigFields(config, source)
    n_embd, n_head = fields.integer("n_embd"), fields.integer("n_head")
    fields.divides("n_head", n_head, "n_embd", n_embd)
    fields.token_id("bos_token_id")                  # only written back, but compared with the vocabulary then
    kwargs = dict(vocab_size=fields.integer("vocab_size"), d_model=n_embd, n_heads=n_head,
                  n_layers=fields.integer("n_layer"), d_ff=fields.integer("n_inner", optional=True) or 4 * n_embd,
                  max_len=fields.integer("n_positions"), dropout=fields.probability("resid_pdrop"), pre_ln=True,
                  activation=ACTIVATIONS[config["activation_function"]],
                  ln_eps=fields.epsilon("layer_norm_epsilon"), positional="learned",
                  eos_token_id=fields.token_id("eos_token_id"))
    check_lm_config(kwargs, source)
    return kwargs


def count_parameters(config):
    """The number of parameters of a GPT-2 config, from the sizes alone (nothing allocated).

        wte V*C + wpe P*C + n_layer * (ln_1 2C + c_attn C*3C+3C + c_proj C*C+C + ln_2 2C
                                       + c_fc C*F+F + mlp.c_proj F*C+C) + ln_f 2C         (head tied to wte)
    gpt2: 124,439,808   gpt2-medium: 354,823,168   gpt2-large: 774,030,080   gpt2-xl: 1,557,611,200
    """
    k = config_to_kwargs(config)
    V, P, C, F, L = k["vocab_size"], k["max_len"], k["d_model"], k["d_ff"], k["n_layers"]
    per_block = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * F + F) + (F * C + C)
    return V * C + P * C + L * per_block + 2 * C


# ------------------------------------------------------------------------------------- checkpoints

def read_checkpoint(path):
    """name -> float32 array for every tensor of a safetensors file, memory-mapped copy-on-write.

    The format: 8 bytes little-endian u64 N, N bytes of JSON header {name: {"dtype", "shape",
    "data_offsets": [begin, end]}}, then the raw little-endian data (offsets relative to byte 8 + N).
    F32 tensors are views of the map (no copy; writable, and a write copies only the touched page, never
    the file). F16 and BF16 are widened to float32 (BF16 is the top half of a float32: shift left 16 bits).
    """
    path = Path(path)
    header = read_safetensors_header(path)                     # every format rule checked (io.safetensors)
    if not header.tensors:
        return {}
    pages = map_safetensors(path, header, mmap.ACCESS_COPY)    # private: writes never reach the file
    stored = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8"}
    tensors = {}
    for entry in header.tensors:
        name, dtype_name, shape = entry.name, entry.dtype, entry.shape
        if dtype_name not in stored:
            if name.endswith(_BUFFER_SUFFIXES):
                continue                                         # e.g. a bool/uint8 causal-mask buffer
            raise ValueError(f"{path}: tensor {name!r} has dtype {dtype_name}; expected F32, F16 or BF16")
        raw = np.frombuffer(pages, dtype=stored[dtype_name], count=math.prod(shape),
                            offset=header.data_start + entry.begin).reshape(shape)
        if dtype_name == "F32" and raw.flags.aligned:
            tensors[name] = raw.view(np.float32)                 # the file's own bytes
        elif dtype_name == "BF16":
            tensors[name] = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            tensors[name] = raw.astype(np.float32)               # F16 / F64 / a misaligned F32 tensor
    return tensors


def gpt2_state_dict(tensors, source="checkpoint"):
    """Checkpoint names -> our parameter names: strip `transformer.`, drop the attention-mask buffers,
    and check that an untied `lm_head.weight`, if present, equals `wte.weight` (we only compute tied heads)."""
    out = {}
    for name, value in tensors.items():
        key = name[len(_PREFIX):] if name.startswith(_PREFIX) else name
        if key.endswith(_BUFFER_SUFFIXES):
            continue
        out[key] = value
    head = out.pop("lm_head.weight", None)          # missing lm_head.weight means tied: nothing to do
    if head is not None and "wte.weight" in out and not np.array_equal(head, out["wte.weight"]):
        raise StateDictError(f"{source}: lm_head.weight differs from wte.weight: untied output heads are not "
                             f"supported")
    return out


def hf_config_from_lm(model):
    """The complete config.json dict (GPT2Config's keys) of a TransformerLM in GPT-2's configuration: a GPT2
    (its own config, updated) or a plain TransformerLM such as train_toy.py's text models."""
    k = model.config
    if not k["pre_ln"] or k["positional"] != "learned" or k["activation"] not in _ACTIVATION_NAMES:
        raise ValueError("only a pre-LN TransformerLM with learned positions and a GELU/ReLU MLP has a GPT-2 "
                         f"config (got pre_ln={k['pre_ln']}, positional={k['positional']!r}, "
                         f"activation={k['activation']!r})")
    p = float(k["dropout"])
    config = dict(getattr(model, "gpt2_config", None) or full_config(resid_pdrop=p, embd_pdrop=p, attn_pdrop=p))
    config.update(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=k["vocab_size"],
                  n_positions=k["max_len"], n_embd=k["d_model"], n_layer=k["n_layers"],
                  n_head=k["n_heads"], n_inner=k["d_ff"] if k["d_ff"] != 4 * k["d_model"] else None,
                  activation_function=_ACTIVATION_NAMES[k["activation"]], layer_norm_epsilon=k["ln_eps"],
                  eos_token_id=k["eos_token_id"], tie_word_embeddings=True)
    if config.get("bos_token_id") is not None and config["bos_token_id"] >= k["vocab_size"]:
        config["bos_token_id"] = k["eos_token_id"]
    config.pop("n_ctx", None)
    return config


def hf_tensors(model):
    """The model's weights under Hugging Face's names (`transformer.` prefix; no lm_head.weight: tied)."""
    return {_PREFIX + name: np.ascontiguousarray(p.data, dtype=np.float32) for name, p in model.named_parameters()}


# ------------------------------------------------------------------------------------------- model

class GPT2(TransformerLM):
    """GPT-2 = TransformerLM(pre_ln=True, positional="learned", activation="gelu" (tanh), tied head).

        GPT2()                              random 124M model (GPT2Config's defaults)
        GPT2("gpt2-medium")                 random weights, a preset's sizes
        GPT2({"n_embd": 64, ...})           sizes from a config.json dict (missing keys: GPT-2 defaults)
        GPT2.from_pretrained("gpt2" | dir)  weights from a Hugging Face checkpoint
    Keyword overrides use config.json's names (n_layer=2, vocab_size=1000, ...). `self.gpt2_config` is the
    full config dict that save_pretrained writes back.
    """

    def __init__(self, config=None, *, dtype=np.float32, seed=None, **overrides):
        self.gpt2_config = full_config(config, **overrides)
        super().__init__(**config_to_kwargs(self.gpt2_config), dtype=dtype, seed=seed)

    @classmethod
    def from_config_file(cls, path, **kwargs):
        return cls(read_config_json(path), **kwargs)

    @classmethod
    def from_pretrained(cls, name_or_dir, progress=True, seed=None, **overrides):
        """Load a checkpoint directory (config.json + model.safetensors) or a released model name
        ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl": found in the Hugging Face cache or downloaded
        by transformer_np.io.hub). Returns the model in eval mode (dropout off), computing in float32.
        `overrides` replace config.json values that do not change the weights (e.g. resid_pdrop for
        fine-tuning); `seed` seeds the dropout masks."""
        from ..io.hub import resolve_model_dir   # the download machinery is only needed here
        directory = resolve_model_dir(name_or_dir, progress=progress)
        config_path = directory / "config.json"
        config = read_config_json(config_path)
        kwargs = config_to_kwargs(dict(config, **overrides), config_path)   # every field checked, naming the file
        weights_path = directory / "model.safetensors"
        state = gpt2_state_dict(read_checkpoint(weights_path), weights_path)
        check_layers_present(state, kwargs["n_layers"], weights_path, f"{config_path.name}'s n_layer")
        with skip_init():                     # no random weights: they would be overwritten at once
            model = cls(config, seed=seed, **overrides)
        model.load_state_dict(state, strict=True, source=weights_path)
        model.model_dir = directory
        return model.eval()

    def save_pretrained(self, directory, tokenizer=None):
        """Write the Hugging Face layout: config.json, model.safetensors (names with the `transformer.`
        prefix, no lm_head.weight: tied), and the tokenizer's vocab.json + merges.txt when given.
        `transformers.GPT2LMHeadModel.from_pretrained(directory)` loads it with the same logits."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = hf_config_from_lm(self)
        save_safetensors(directory / "model.safetensors", hf_tensors(self), metadata={"format": "pt"})
        atomic_write_text(directory / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
        if tokenizer is not None:
            tokenizer.save(directory)
        return directory
