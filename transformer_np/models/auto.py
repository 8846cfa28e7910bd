"""Load any language model the library can run, with its tokenizer: ``load_lm(name_or_dir) -> (model, tokenizer)``.

Where a name or directory leads, in order:

1. a directory: used as it is;
2. the name of a model shipped inside the package (``transformer_np/pretrained/<name>/``, e.g.
   ``"shakespeare-char"``): no network;
3. a released GPT-2 name (``"gpt2"``, ...): the Hugging Face cache, or downloaded (``transformer_np.io.hub``).

The directory's ``config.json`` says what it holds. ``model_type`` picks the loader from ``LOADERS``
(``"gpt2"`` here; other model families add theirs: ``LOADERS["llama"] = load_llama_dir``). Each loader is
``loader(directory, config) -> (model, tokenizer or None)``. A run saved by the trainer before checkpoints became
Hugging Face directories has no ``model_type`` but ``"model": "TransformerLM"`` and ``"model_config"``;
it loads too, its tokenizer rebuilt from what the run recorded.

The GPT-2 layout's tokenizer is one of: ``"char_vocab"`` in config.json (a character-level model),
``"toy_task"`` (a toy-task model, e.g. the shipped ``"sort-4"``: the task's notation is its tokenizer, see
transformer_np.tasks), ``vocab.json`` + ``merges.txt`` (byte-level BPE), or, for a 50257-token vocabulary
without files, GPT-2's own. A trainer run of a toy task loads the same way, with its task.
Every loaded weight is checked to be finite: a NaN would otherwise surface only as nonsense text.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from ..init import skip_init
from ..io.hub import KNOWN_MODELS, resolve_model_dir
from ..tasks import CONFIG_KEY as TOY_TASK_KEY, task_from_spec
from ..tokenizer import BPETokenizer, CharTokenizer
from ..tokenizer.char import CONFIG_KEY as CHAR_VOCAB_KEY
from .gpt2 import DEFAULT_CONFIG, GPT2, gpt2_state_dict, read_checkpoint
from .config_fields import ConfigError, ConfigFields, describe, read_config_json
from .lm import LM_DEFAULTS, LM_SIZES, TransformerLM, check_layers_present, check_lm_config

#: Models shipped inside the package, one folder each (config.json + model.safetensors).
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"

GPT2_VOCAB_SIZE = DEFAULT_CONFIG["vocab_size"]      # 50257, every released GPT-2's vocabulary

#: config.json model_type -> loader(directory, config) -> (model, tokenizer or None when it has none).
LOADERS: dict[str, Callable[[Path, dict], tuple]] = {}


def shipped_models() -> list[str]:
    """Names of the models inside the package (folders of transformer_np/pretrained with a config.json)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def resolve_lm_dir(name_or_dir: str | os.PathLike, progress: bool = True) -> Path:
    """The directory a model name or path stands for (see the module docstring for the order)."""
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_dir)
    if name in shipped_models():
        return PRETRAINED_DIR / name
    if name in KNOWN_MODELS:
        return resolve_model_dir(name, progress=progress)
    raise FileNotFoundError(f"{name!r} is neither a directory nor a model name (shipped: "
                            f"{', '.join(shipped_models()) or 'none'}; GPT-2: {', '.join(KNOWN_MODELS)})")


def read_config(directory: Path) -> dict:
    path = directory / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not a model directory (no config.json)")
    return read_config_json(path)


def load_lm(name_or_dir: str | os.PathLike, progress: bool = True, need_tokenizer: bool = True):
    """(model, tokenizer) for a shipped model name, a GPT-2 name or a checkpoint directory.

    The model is in eval mode, computes in float32 (float16 files are widened), and carries
    ``model.model_dir`` and ``model.tokenizer``. Problems raise one-line FileNotFoundError / ValueError;
    a directory without a tokenizer is one of them unless ``need_tokenizer=False`` (tokenizer None).
    Using GPT-2's tokenizer for a directory that has none is announced with a UserWarning.
    """
    directory = resolve_lm_dir(name_or_dir, progress)
    config = read_config(directory)
    if is_trainer_run(config):
        model, tokenizer = load_trainer_run(directory, config)
    else:
        model_type = config.get("model_type", "gpt2" if "n_embd" in config else None)
        loader = LOADERS.get(model_type) if isinstance(model_type, str) else None
        if loader is None:
            found = f"model_type {model_type!r}" if model_type else "no model_type"
            raise ValueError(f"{directory / 'config.json'}: {found}; language models load from "
                             f"model_type {' or '.join(map(repr, LOADERS))}")
        model, tokenizer = loader(directory, config)
    check_finite_weights(model, directory / "model.safetensors")
    if tokenizer is None and need_tokenizer:
        raise FileNotFoundError(f"{directory}: no tokenizer files for its {model.vocab_size}-token vocabulary "
                                f"(expected vocab.json + merges.txt, or {CHAR_VOCAB_KEY!r} in config.json)")
    if tokenizer is not None and tokenizer.vocab_size > model.vocab_size:
        raise ValueError(f"{directory}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                         f"{model.vocab_size}")
    model.model_dir, model.tokenizer = directory, tokenizer
    return model.eval(), tokenizer


def check_finite_weights(model, source) -> None:
    """Raise ValueError naming the first parameter that holds NaN or inf."""
    for name, parameter in model.named_parameters():
        finite = np.isfinite(parameter.data)
        if not finite.all():
            raise ValueError(f"{source}: tensor {name!r} has {finite.size - int(finite.sum())} NaN/inf "
                             f"values (of {finite.size})")


# --------------------------------------------------------------------------- Hugging Face GPT-2 layout

def has_tokenizer_files(directory: Path) -> bool:
    """Whether ``directory`` holds a BPE vocabulary (Hugging Face's or OpenAI's file names)."""
    return any((directory / name).is_file() for name in ("tokenizer.json", "vocab.json", "encoder.json"))


def gpt2_layout_tokenizer(directory: Path, config: dict):
    """The tokenizer that goes with a GPT-2-layout directory (see the module docstring), or None."""
    if CHAR_VOCAB_KEY in config:
        return CharTokenizer.from_config(config)
    if TOY_TASK_KEY in config:
        return task_from_spec(config[TOY_TASK_KEY])
    if has_tokenizer_files(directory):
        return BPETokenizer.from_pretrained(directory)
    if config.get("vocab_size", GPT2_VOCAB_SIZE) == GPT2_VOCAB_SIZE:
        # A save_pretrained without a tokenizer, of GPT-2's vocabulary size: GPT-2's own is by far the likeliest.
        warnings.warn(f"{directory} has no tokenizer files; using GPT-2's ({GPT2_VOCAB_SIZE} tokens)", stacklevel=2)
        return BPETokenizer.from_pretrained("gpt2")
    return None


def load_gpt2_dir(directory: Path, config: dict):
    return GPT2.from_pretrained(directory), gpt2_layout_tokenizer(directory, config)


LOADERS["gpt2"] = load_gpt2_dir


# --------------------------------------------------------------------------- the trainer's older format

def is_trainer_run(config: dict) -> bool:
    """A run directory written by the trainer before checkpoints became Hugging Face directories."""
    return "model" in config and "model_config" in config


def load_trainer_run(directory: Path, config: dict):
    """A toy-task LM run (TransformerLM(**model_config) + our parameter names; the task is its tokenizer) or
    an older text run (its tokenizer from the run's own record: its alphabet, or, if it recorded none,
    rebuilt from its training text as the run built it)."""
    source = directory / "config.json"
    fields = ConfigFields(config, source)
    task, model_config = fields.mapping("task"), fields.mapping("model_config")
    fields.mapping("train")
    if config["model"] != "TransformerLM":
        raise ValueError(f"{directory}: a {describe(config['model'])} trained on the "
                         f"{describe(task.get('task'))} task, not a language model")
    unknown = sorted(set(model_config) - set(LM_DEFAULTS) - set(LM_SIZES))
    if unknown:
        raise ConfigError(f"{source}: model_config has unknown key {unknown[0]!r} (TransformerLM takes "
                          f"{', '.join([*LM_SIZES, *LM_DEFAULTS])})")
    missing = [key for key in LM_SIZES if key not in model_config]
    if missing:
        raise ConfigError(f"{source}: model_config lacks {missing[0]!r}")
    check_lm_config(model_config, f"{source}: model_config")      # types, ranges, memory: before allocating
    weights_path = directory / "model.safetensors"
    tensors = read_checkpoint(weights_path)
    is_text = task.get("task", "text") == "text"
    state = gpt2_state_dict(tensors, weights_path) if is_text else tensors
    check_layers_present(state, model_config["n_layers"], weights_path, "model_config's n_layers")
    with skip_init():                                   # the weights are about to be loaded
        model = TransformerLM(**model_config)
    model.load_state_dict(state, source=weights_path)
    if not is_text:
        return model, task_from_spec(task)
    return model, trainer_run_tokenizer(directory, config)


def trainer_run_tokenizer(directory: Path, config: dict):
    task, train = config.get("task") or {}, config.get("train") or {}
    kind = train.get("tokenizer", "char")
    if not isinstance(kind, str):
        raise ConfigError(f"{directory / 'config.json'}: train.tokenizer must be a string, got {describe(kind)}")
    if has_tokenizer_files(directory):
        return BPETokenizer.from_pretrained(directory)
    if kind == "gpt2":
        return BPETokenizer.from_pretrained("gpt2")
    if kind == "char" and "chars" in task:
        return CharTokenizer(task["chars"])
    if kind not in ("char", "bpe"):
        raise ValueError(f"{directory / 'config.json'}: unknown tokenizer {kind!r}")
    text = _training_text(directory, task.get("data") or train.get("data"))
    if kind == "char":
        return CharTokenizer.from_text(text)            # the Text task's alphabet: sorted(set(text))
    vocab_size = ConfigFields(dict(train), f"{directory / 'config.json'}: train").integer("bpe_vocab_size") \
        if "bpe_vocab_size" in train else 512
    return BPETokenizer.train(text, vocab_size)   # deterministic: the same merges


def _training_text(directory: Path, data) -> str:
    if not data:
        raise ValueError(f"{directory}: the run recorded neither its tokenizer nor its training file")
    path = Path(data).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: its tokenizer is rebuilt from its training file {data}, "
                                f"which is not there (run from the directory the training ran in)")
    return path.read_text(encoding="utf-8")
