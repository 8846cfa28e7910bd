"""What to train: the run's configuration (`TrainConfig`), per-task defaults, and building the task and
model a configuration describes. The loop that trains them is `transformer_np/train.py`.

Every user mistake found here is a `TrainingError` with a one-line message naming the flag.
"""
import dataclasses
import os
from pathlib import Path

import numpy as np

from .models import GPT2, EncoderClassifier, Transformer, TransformerLM
from .io.hub import DownloadError
from .models.gpt2 import DEFAULT_CONFIG
from .models.llama import LLAMA_STYLE
from .tasks import make_task
from .tokenizer import BPETokenizer


GPT2_VOCAB_SIZE = DEFAULT_CONFIG["vocab_size"]
BYTE_VOCAB_SIZE = 256


class TrainingError(Exception):
    """A problem the user can act on (bad configuration, no checkpoint to resume): one-line message."""


@dataclasses.dataclass
class TrainConfig:
    task: str = "reverse"
    arch: str = "lm"
    block: str = "gpt2"             # lm: "gpt2" (LayerNorm, learned positions, GELU MLP) or "llama" (train_toy --arch llama)
    length: int = 6                 # toy tasks: source / answer length
    n_symbols: int = 16             # toy tasks: symbols 1..n (modadd: the modulus p; fib: the modulus)
    data: str = None                # text: the UTF-8 file
    block_size: int = 64            # text: context length
    tokenizer: str = "char"         # text: "char" (one token per character), "bpe" (trained on the file), "gpt2"
    bpe_vocab_size: int = 512       # text with tokenizer="bpe": vocabulary size to learn
    init: str = None                # text: start from this GPT-2 checkpoint (a name or a directory)
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = None          # block "llama": key/value heads (grouped-query attention); None = n_heads // 2
    d_ff: int = 256
    dropout: float = 0.0
    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    min_lr_ratio: float = 0.1       # cosine decays to lr * min_lr_ratio
    beta1: float = 0.9              # AdamW's moment decay rates
    beta2: float = 0.98
    warmup: int = 100
    weight_decay: float = 0.01
    clip: float = 1.0
    grad_accum: int = 1             # split each batch into this many micro-batches (same update, less memory)
    seed: int = 0
    eval_every: int = 100
    eval_size: int = 512
    eval_seed: int = 1234567
    early_stop: bool = True         # stop when held-out sequence accuracy reaches 1.0 at an evaluation
    out: str = "runs/reverse-lm"


# -------------------------------------------------------------------------------------------- building

# Per-task defaults (measured to reach held-out sequence accuracy >= 0.99 within minutes on 2 cores);
# keys are TrainConfig fields.
TASK_DEFAULTS = {
    "reverse": dict(length=8, n_symbols=24, steps=1500),
    "sort": dict(length=6, n_symbols=16, steps=1000),
    "copy": dict(length=8, n_symbols=24, steps=1000),
    "fib": dict(length=8, n_symbols=10, steps=1500),
    "alternate": dict(length=8, n_symbols=16, steps=500),
    "modadd": dict(n_symbols=23, n_layers=1, d_model=128, d_ff=512, steps=5000, lr=1e-3, weight_decay=1.0,
                   batch_size=128, early_stop=True),
    "classify": dict(length=8, n_symbols=16, steps=1000),
    # nanoGPT's CPU "baby GPT" Shakespeare recipe (config/train_shakespeare_char.py with its CPU overrides)
    "text": dict(block_size=64, batch_size=12, d_model=128, n_layers=4, n_heads=4, d_ff=512, steps=2000,
                 lr=1e-3, warmup=100, min_lr_ratio=0.1, beta2=0.99, weight_decay=0.1, dropout=0.0, clip=1.0,
                 eval_every=500, eval_size=2000, early_stop=False),   # eval: all of tiny Shakespeare's held-out 10%
}


def default_arch(task):
    return "classifier" if task == "classify" else "lm"


def defaults_for(task, arch=None):
    """TrainConfig field values for a task (and architecture): TrainConfig's own defaults, then the task's."""
    arch = arch or default_arch(task)
    values = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    values.update(TASK_DEFAULTS.get(task, {}))
    values.update(task=task, arch=arch, out=f"runs/{task}-{arch}")
    return values


def init_tokenizer(directory, vocab_size):
    """The tokenizer of a GPT-2 checkpoint: its vocab.json + merges.txt; without them GPT-2's own (a
    50,257-token model) or plain bytes (a 256-token model, like the test fixtures)."""
    if (Path(directory) / "vocab.json").is_file():
        return BPETokenizer.from_pretrained(directory)
    if vocab_size == GPT2_VOCAB_SIZE:
        return BPETokenizer.from_pretrained("gpt2")
    if vocab_size == BYTE_VOCAB_SIZE:
        return BPETokenizer([bytes([b]) for b in range(BYTE_VOCAB_SIZE)], [])
    raise TrainingError(f"--init {directory}: no vocab.json/merges.txt, and its vocab_size {vocab_size} is "
                        f"neither GPT-2's ({GPT2_VOCAB_SIZE}) nor bytes ({BYTE_VOCAB_SIZE})")


def init_model(cfg):
    """The GPT-2 checkpoint --init names, with the run's dropout and seed. Returns (model, its directory)."""
    try:
        model = GPT2.from_pretrained(cfg.init, seed=cfg.seed, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout,
                                     attn_pdrop=cfg.dropout)
    except (OSError, ValueError, KeyError, DownloadError) as e:
        raise TrainingError(f"--init {cfg.init}: {e}".replace("--model DIR", "--init DIR")) from None
    if cfg.block_size > model.max_len:
        raise TrainingError(f"--block-size {cfg.block_size} exceeds the context window of --init {cfg.init} "
                            f"({model.max_len})")
    return model.train(), model.model_dir


def text_tokenizer(cfg, init_dir=None, init_vocab_size=None):
    """None for characters; else a BPETokenizer: the --init checkpoint's, GPT-2's, or one learned from the
    file itself (training is deterministic, so a resumed run learns the same one again)."""
    if init_dir is not None:
        return init_tokenizer(init_dir, init_vocab_size)
    if cfg.tokenizer == "char":
        return None
    if cfg.tokenizer == "gpt2":
        return BPETokenizer.from_pretrained("gpt2")
    if cfg.tokenizer == "bpe":
        if cfg.bpe_vocab_size < 257:
            raise TrainingError(f"--bpe-vocab-size must be > 256 (the byte tokens), got {cfg.bpe_vocab_size}")
        with open(cfg.data, encoding="utf-8") as f:
            return BPETokenizer.train(f.read(), cfg.bpe_vocab_size)
    raise TrainingError(f"--tokenizer must be char, bpe or gpt2, got {cfg.tokenizer!r}")


def build_task(cfg, init=None):
    """The task; for text with --init, `init` is (model, its directory): the tokenizer is the model's."""
    if cfg.task == "text":
        if not cfg.data:
            raise TrainingError("--task text needs --data FILE")
        if os.path.isdir(cfg.data):
            raise TrainingError(f"--data {cfg.data} is a directory: give a UTF-8 text file")
        if not os.path.isfile(cfg.data):
            raise TrainingError(f"--data {cfg.data}: no such file")
        try:
            tokenizer = text_tokenizer(cfg, init[1], init[0].vocab_size) if init else text_tokenizer(cfg)
            return make_task("text", path=cfg.data, block_size=cfg.block_size, tokenizer=tokenizer)
        except UnicodeDecodeError as e:
            raise TrainingError(f"--data {cfg.data}: not UTF-8 text ({e.reason})") from None
        except ValueError as e:
            raise TrainingError(str(e)) from None
    try:
        task = make_task(cfg.task, length=cfg.length, n_symbols=cfg.n_symbols)
    except ValueError as e:
        raise TrainingError(str(e)) from None
    return task


def lm_block_options(cfg):
    """TransformerLM options of the LM's block: none for GPT-2's; for Llama's (--arch llama) its configuration
    (models.llama.LLAMA_STYLE: RMSNorm, rotary positions, SwiGLU, no biases), grouped-query attention with
    half as many key/value heads as query heads (unless --kv-heads), and an untied output head."""
    if cfg.block == "gpt2":
        return {}
    if cfg.block != "llama" or cfg.arch != "lm":
        raise TrainingError(f"block {cfg.block!r} with arch {cfg.arch!r}: the Llama block is for the LM only")
    n_kv_heads = cfg.n_kv_heads or (cfg.n_heads // 2 if cfg.n_heads % 2 == 0 else cfg.n_heads)
    if not 1 <= n_kv_heads <= cfg.n_heads or cfg.n_heads % n_kv_heads:
        raise TrainingError(f"--kv-heads {n_kv_heads} must divide --heads {cfg.n_heads}")
    return dict(LLAMA_STYLE, n_kv_heads=n_kv_heads, tie_head=False)


def build_model(cfg, task):
    if cfg.arch not in task.archs:
        arch_flag = "llama" if cfg.block == "llama" else cfg.arch       # --arch llama is the LM with Llama's block
        raise TrainingError(f"--arch {arch_flag} is not valid for --task {cfg.task} "
                            f"(choose from {', '.join(task.archs)})")
    if cfg.d_model % cfg.n_heads:
        raise TrainingError(f"--heads {cfg.n_heads} must divide --d-model {cfg.d_model}")
    sizes = dict(d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers, d_ff=cfg.d_ff,
                 dropout=cfg.dropout, seed=cfg.seed)
    block = lm_block_options(cfg)
    if cfg.task == "text":
        return TransformerLM(vocab_size=task.vocab_size, max_len=cfg.block_size, **sizes, **block)
    sample = task.batch(np.random.default_rng(0), 1, cfg.arch)
    if cfg.arch == "lm":
        return TransformerLM(vocab_size=task.vocab_size, max_len=sample["prompt"].shape[1] + sample["answer"].shape[1],
                             **sizes, **block)
    if cfg.arch == "seq2seq":
        return Transformer(src_vocab_size=task.vocab_size, tgt_vocab_size=task.vocab_size, pre_ln=True,
                           activation="gelu", max_len=max(sample["src"].shape[1], sample["tgt_in"].shape[1] + 1),
                           **sizes)
    return EncoderClassifier(vocab_size=task.vocab_size, n_classes=task.n_classes, max_len=sample["inputs"].shape[1],
                             **sizes)
