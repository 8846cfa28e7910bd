"""Llama: the library's TransformerLM in its Llama configuration, and Hugging Face LlamaForCausalLM checkpoints.

There is no second implementation here. A Llama-family decoder (Llama, SmolLM, TinyLlama, ...) *is*
`TransformerLM` with these options (LLAMA_STYLE):

    norm="rmsnorm"        RMSNorm before each sub-layer and at the end (eps = rms_norm_eps)
    positional="rope"     no position table: q and k are rotated by position (base = rope_theta)
    ffn="swiglu"          down(silu(gate(x)) * up(x)), d_ff = intermediate_size
    n_kv_heads            grouped-query attention (num_key_value_heads)
    bias=False            no biases anywhere
    separate_qkv=True     q_proj, k_proj, v_proj, o_proj (Hugging Face's names)
    tie_head              tie_word_embeddings (SmolLM ties, Llama does not)

Our parameter names are the library's (`wte`, `h.N.ln_1`, `h.N.attn.q_proj`, `h.N.mlp.gate_proj`, `ln_f`,
`lm_head`); `hf_name` / `our_name` translate to and from the checkpoint's (`model.embed_tokens`,
`model.layers.N.input_layernorm`, `model.layers.N.self_attn.q_proj`, ..., `model.norm`, `lm_head`).
torch's Linear stores its weight (out, in) and ours (in, out), so every `*_proj` and `lm_head` matrix is
transposed on the way in and out (the embedding is (V, C) in both).
A directory holds config.json and model.safetensors, or, for large models, shards listed in
model.safetensors.index.json; F32, F16 and BF16 tensors load (widened to float32).
"""
import json
from pathlib import Path

import numpy as np

from ..core import StateDictError
from ..init import skip_init
from ..io.safetensors import save_safetensors
from ..tokenizer import BPETokenizer
from ..tokenizer.files import atomic_write_text
from ..tokenizer.tokenizer_json import write_tokenizer_json
from .gpt2 import read_checkpoint
from .config_fields import ConfigError, ConfigFields, describe, read_config_json
from .lm import TransformerLM, check_layers_present, check_lm_config

LLAMA_STYLE = dict(pre_ln=True, norm="rmsnorm", ffn="swiglu", positional="rope", bias=False, separate_qkv=True,
                   activation="silu")

# LlamaConfig's defaults (transformers), i.e. Llama-2 7B's sizes.
DEFAULT_CONFIG = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=None, hidden_act="silu",
                      max_position_embeddings=2048, rms_norm_eps=1e-6, rope_theta=10000.0,
                      tie_word_embeddings=False, attention_bias=False, mlp_bias=False, bos_token_id=1,
                      eos_token_id=2)

INDEX_FILE = "model.safetensors.index.json"
WEIGHTS_FILE = "model.safetensors"

# Checkpoint name pieces -> ours: prefixes (first match only), then infixes.
_PREFIXES = (("model.embed_tokens.", "wte."), ("model.norm.", "ln_f."), ("model.layers.", "h."))
_INFIXES = ((".self_attn.", ".attn."), (".input_layernorm.", ".ln_1."), (".post_attention_layernorm.", ".ln_2."))
_BUFFER_SUFFIX = ".rotary_emb.inv_freq"         # older checkpoints store the rotary frequencies: recomputed


def _translate(name, prefixes, infixes):
    for old, new in prefixes:
        if name.startswith(old):
            name = new + name[len(old):]
            break
    for old, new in infixes:
        name = name.replace(old, new)
    return name


def our_name(checkpoint_name):
    """`model.layers.3.self_attn.q_proj.weight` -> `h.3.attn.q_proj.weight`."""
    return _translate(checkpoint_name, _PREFIXES, _INFIXES)


def hf_name(name):
    """`h.3.attn.q_proj.weight` -> `model.layers.3.self_attn.q_proj.weight`."""
    return _translate(name, [(o, t) for t, o in _PREFIXES], [(o, t) for t, o in _INFIXES])


def is_linear_weight(name):
    """Linear weights are stored transposed by torch: (out, in)."""
    return name.endswith("_proj.weight") or name == "lm_head.weight"


# ------------------------------------------------------------------------------------------ config

def full_config(config=None, **overrides):
    """A complete Llama config dict: LlamaConfig's defaults, then `config`, then `overrides`."""
    merged = dict(DEFAULT_CONFIG)
    merged.update({k: v for k, v in (config or {}).items() if not k.startswith("_")})
    merged.update(overrides)
    if merged.get("num_key_value_heads") is None:
        merged["num_key_value_heads"] = merged["num_attention_heads"]
    return merged


def rope_settings(config, source="Llama config"):
    """(rope_type, rope_theta): transformers 5 keeps them in `rope_parameters`, older configs in
    `rope_theta` and `rope_scaling` (None = plain rotary). A non-default type in either one wins."""
    fields = ConfigFields(config, source)
    sources = [fields.mapping("rope_scaling"), fields.mapping("rope_parameters")]
    types = [source.get("rope_type", source.get("type", "default")) for source in sources]
    rope_type = next((t for t in types if t != "default"), "default")
    if "rope_theta" in sources[1]:
        return rope_type, ConfigFields(sources[1], f"{source}: rope_parameters").positive_float("rope_theta")
    return rope_type, fields.positive_float("rope_theta") if "rope_theta" in config else 10000.0


def check_supported(config, source="Llama config"):
    """Refuse configs that describe a model our TransformerLM does not compute (rather than load it wrongly),
    and fields of the wrong type (`"tie_word_embeddings": "false"` is not false): one ConfigError line."""
    fields = ConfigFields(config, source)
    unsupported = []
    if config.get("model_type", "llama") != "llama":
        unsupported.append(f"model_type={describe(config['model_type'])} (only 'llama')")
    if config.get("hidden_act") != "silu":
        unsupported.append(f"hidden_act={describe(config.get('hidden_act'))} (only 'silu')")
    rope_type, _ = rope_settings(config, source)
    if rope_type != "default":
        unsupported.append(f"rope type {describe(rope_type)} (only plain rotary, 'default')")
    for key in ("attention_bias", "mlp_bias", "use_sliding_window"):
        if fields.boolean(key, default=False):
            unsupported.append(f"{key}=true")
    if config.get("sliding_window") is not None:
        unsupported.append(f"sliding_window={describe(config.get('sliding_window'))}")
    heads, width = fields.integer("num_attention_heads"), fields.integer("hidden_size")
    kv_heads = fields.integer("num_key_value_heads")
    fields.divides("num_attention_heads", heads, "hidden_size", width)
    if fields.integer("head_dim", optional=True) not in (None, width // heads):
        unsupported.append(f"head_dim={config['head_dim']} (only hidden_size / num_attention_heads = {width // heads})")
    fields.divides("num_key_value_heads", kv_heads, "num_attention_heads", heads)
    if unsupported:
        raise ConfigError(f"{source}: unsupported Llama config: " + "; ".join(unsupported))


def first_id(token_id, source="Llama config", key="eos_token_id"):
    """Llama 3 lists several eos ids; the model keeps the first as its own."""
    if isinstance(token_id, (list, tuple)):
        token_id = token_id[0] if token_id else None
    return ConfigFields({key: token_id}, source).token_id(key)


def config_to_kwargs(config, source="Llama config"):
    """config.json's names -> TransformerLM's keyword arguments (Python ints/floats only), every field
    type- and range-checked (ConfigError naming `source` and the field), parameter memory included."""
    config = full_config(config)
    check_supported(config, source)
    fields = ConfigFields(config, source)
    first_id(config.get("bos_token_id"), source, "bos_token_id")
    kwargs = dict(LLAMA_STYLE, vocab_size=fields.integer("vocab_size"), d_model=fields.integer("hidden_size"),
                  n_heads=fields.integer("num_attention_heads"), n_kv_heads=fields.integer("num_key_value_heads"),
                  n_layers=fields.integer("num_hidden_layers"), d_ff=fields.integer("intermediate_size"),
                  max_len=fields.integer("max_position_embeddings"), ln_eps=fields.epsilon("rms_norm_eps"),
                  rope_base=rope_settings(config, source)[1], tie_head=fields.boolean("tie_word_embeddings"),
                  eos_token_id=first_id(config.get("eos_token_id"), source))
    check_lm_config(kwargs, source)
    return kwargs


def hf_config_from_kwargs(k, base=None):
    """TransformerLM's configuration -> a LlamaConfig dict (what transformers reads), over `base`."""
    config = full_config(base)
    config.update(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=k["vocab_size"],
                  hidden_size=k["d_model"], intermediate_size=k["d_ff"], num_hidden_layers=k["n_layers"],
                  num_attention_heads=k["n_heads"], num_key_value_heads=k["n_kv_heads"] or k["n_heads"],
                  head_dim=k["d_model"] // k["n_heads"], max_position_embeddings=k["max_len"],
                  rms_norm_eps=k["ln_eps"], tie_word_embeddings=k["tie_head"], eos_token_id=k["eos_token_id"],
                  hidden_act="silu", attention_bias=False, mlp_bias=False,
                  # Both spellings: transformers 5 reads rope_parameters, 4.x rope_theta + rope_scaling.
                  rope_theta=k["rope_base"], rope_parameters={"rope_type": "default", "rope_theta": k["rope_base"]})
    config.pop("rope_scaling", None)
    config.pop("torch_dtype", None)                 # the tensors we write are float32, whatever was loaded
    config["dtype"] = "float32"
    if config.get("bos_token_id") is not None and config["bos_token_id"] >= k["vocab_size"]:
        config["bos_token_id"] = k["eos_token_id"]
    return config


def check_llama_style(k):
    """A TransformerLM that save_pretrained can write as a LlamaForCausalLM."""
    different = [f"{key}={k.get(key)!r}" for key, value in LLAMA_STYLE.items()
                 if key != "activation" and k.get(key) != value]
    if different:
        raise ValueError("not a Llama-style TransformerLM (needs " +
                         ", ".join(f"{key}={v!r}" for key, v in LLAMA_STYLE.items() if key != "activation") +
                         "): it has " + ", ".join(different))


# ------------------------------------------------------------------------------------- checkpoints

def read_weights(directory):
    """name -> float32 array from model.safetensors, or from every shard model.safetensors.index.json lists."""
    directory = Path(directory)
    index_path = directory / INDEX_FILE
    if not index_path.is_file():
        if not (directory / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"{directory}: no {WEIGHTS_FILE} or {INDEX_FILE}")
        return read_checkpoint(directory / WEIGHTS_FILE)
    weight_map = read_config_json(index_path).get("weight_map")
    if not isinstance(weight_map, dict) or not all(
            isinstance(shard, str) and shard == Path(shard).name for shard in weight_map.values()):
        raise ConfigError(f"{index_path}: not a safetensors index (needs a 'weight_map' from tensor names to "
                          f"file names in the same directory)")
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        if not (directory / shard).is_file():
            raise FileNotFoundError(f"{index_path}: shard {shard} is missing")
        tensors.update(read_checkpoint(directory / shard))
    for name, shard in weight_map.items():
        if name not in tensors:
            raise ValueError(f"{index_path}: tensor {name!r} is not in its shard {shard}")
    return tensors


def llama_state_dict(tensors, tie_head, source="checkpoint"):
    """Checkpoint tensors -> our parameter names, Linear weights transposed to (in, out).
    A tied model may still carry lm_head.weight; it must then equal the embedding. Errors name `source`."""
    state = {}
    for name, value in tensors.items():
        if name.endswith(_BUFFER_SUFFIX):
            continue
        state[our_name(name)] = value.T if is_linear_weight(name) else value
    head = state.pop("lm_head.weight", None) if tie_head else state.get("lm_head.weight")
    embedding = state.get("wte.weight")              # (if absent, load_state_dict names it as missing)
    if tie_head and head is not None and embedding is not None and not np.array_equal(head.T, embedding):
        raise StateDictError(f"{source}: tie_word_embeddings is true but lm_head.weight differs from "
                             f"model.embed_tokens.weight")
    if not tie_head and head is None:
        raise StateDictError(f"{source}: tie_word_embeddings is false but the checkpoint has no lm_head.weight")
    return state


def find_model_dir(name_or_dir):
    """A directory as it is, or a name (e.g. "HuggingFaceTB/SmolLM-135M") found in the Hugging Face cache.
    Nothing is downloaded: Llama-family weights are large and often gated."""
    from ..io.hub import _hf_snapshots
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return path
    for snapshot in _hf_snapshots(str(name_or_dir).replace("/", "--")):
        if (snapshot / "config.json").is_file():
            return snapshot
    raise FileNotFoundError(f"{name_or_dir!r} is neither a directory nor in the Hugging Face cache "
                            f"(Llama checkpoints are not downloaded)")


# ------------------------------------------------------------------------------------------- model

class Llama(TransformerLM):
    """Llama = TransformerLM(**LLAMA_STYLE) with sizes from a LlamaConfig dict.

        Llama({"hidden_size": 64, ...})      random weights, sizes from a config.json dict (missing: defaults)
        Llama.from_pretrained(dir | name)    weights from a Hugging Face LlamaForCausalLM checkpoint
    Keyword overrides use config.json's names (num_hidden_layers=2, ...). `self.llama_config` is the full
    config dict that save_pretrained writes back.
    """

    def __init__(self, config=None, *, dtype=np.float32, seed=None, **overrides):
        self.llama_config = full_config(config, **overrides)
        super().__init__(**config_to_kwargs(self.llama_config), dtype=dtype, seed=seed)

    @classmethod
    def from_pretrained(cls, name_or_dir):
        """Load config.json + model.safetensors (or sharded) from a directory or the HF cache, in eval mode."""
        directory = find_model_dir(name_or_dir)
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"{directory}: not a model directory (no config.json)")
        config = read_config_json(config_path)
        kwargs = config_to_kwargs(config, config_path)       # every field checked, naming the file
        state = llama_state_dict(read_weights(directory), kwargs["tie_head"], directory)
        check_layers_present(state, kwargs["n_layers"], directory, f"{config_path.name}'s num_hidden_layers")
        with skip_init():                     # no random weights: they would be overwritten at once
            model = cls(config)
        model.load_state_dict(state, strict=True, source=directory)
        model.model_dir = directory
        return model.eval()

    def save_pretrained(self, directory, tokenizer=None):
        return save_llama(self, directory, tokenizer)


def hf_config(model):
    """The LlamaConfig dict (config.json) of a Llama-style TransformerLM (a Llama keeps its own extra keys)."""
    check_llama_style(model.config)
    return hf_config_from_kwargs(model.config, getattr(model, "llama_config", None))


def hf_tensors(model):
    """The weights under the checkpoint's names, Linear weights in torch's (out, in) layout, float32."""
    return {hf_name(name): np.ascontiguousarray(p.data.T if is_linear_weight(name) else p.data, dtype=np.float32)
            for name, p in model.named_parameters()}


def save_llama(model, directory, tokenizer=None):
    """Write a Llama-style TransformerLM as a Hugging Face directory: config.json (LlamaConfig) and
    model.safetensors (no lm_head.weight when tied), and the tokenizer's files when given (a BPETokenizer as
    tokenizer.json, which keeps its split pattern). `transformers.LlamaForCausalLM.from_pretrained(directory)`
    loads it with the same logits."""
    config = hf_config(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_safetensors(directory / WEIGHTS_FILE, hf_tensors(model), metadata={"format": "pt"})
    atomic_write_text(directory / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    if isinstance(tokenizer, BPETokenizer):
        write_tokenizer_json(tokenizer, directory)
    elif tokenizer is not None:
        tokenizer.save(directory)
    return directory


def load_llama_dir(directory, config):
    """auto.LOADERS["llama"]: (model, tokenizer or None), the tokenizer found as for the GPT-2 layout
    (tokenizer.json, vocab.json + merges.txt, or a character model's alphabet in config.json)."""
    from .auto import gpt2_layout_tokenizer
    return Llama.from_pretrained(directory), gpt2_layout_tokenizer(Path(directory), config)


def _register():
    from .auto import LOADERS
    LOADERS["llama"] = load_llama_dir


_register()
