#!/usr/bin/env python
"""Build the tiny Llama reference fixtures in tests/fixtures/llama_tiny/ (dev only).

Needs torch + transformers + tokenizers, which are NOT runtime dependencies:

    .dev/bin/python tools/make_llama_fixtures.py

Two small random ``transformers.LlamaForCausalLM`` models (fixed seeds; RMSNorm gains moved away from 1
so that a loader that drops them fails the tests), both with grouped-query attention:

- ``untied/``  4 query heads, 2 key/value heads, untied lm_head; what ``save_pretrained`` writes (F32,
  one model.safetensors), plus a ``tokenizer.json`` (the SmolLM-style one below).
- ``tied_bf16_sharded/``  4 query heads sharing 1 key/value head (multi-query), tied embeddings, rope_theta
  500000, saved in bfloat16 and split into shards (model.safetensors.index.json).
- ``reference.npz``: input ids; per model logits, greedy continuation, loss and the gradient of every
  parameter (Hugging Face names), all float32 from transformers (the bf16 model's on its dequantised weights).
- ``tokenizers/``: three byte-level BPE ``tokenizer.json`` files trained with the ``tokenizers`` package on
  tiny Shakespeare, one per pre-tokenizer form we read (GPT-2's ByteLevel, SmolLM's Digits + ByteLevel,
  Llama 3's Split regex + ByteLevel), and ``cases.json``: the ids each gives for tricky strings.

Then it checks what the tests cannot without torch: our save_pretrained output loads in
transformers.LlamaForCausalLM with the same logits, and our tokenizer.json writer is read back by
``tokenizers`` with the same ids.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from copy import deepcopy
from pathlib import Path

import numpy as np
import tokenizers
import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
VOCAB_SIZE = 280                      # 256 bytes + 2 added tokens + 22 merges
SPECIALS = ["<|endoftext|>", "<|im_start|>"]
BASE = dict(vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=64, rms_norm_eps=1e-5, hidden_act="silu",
            initializer_range=0.25, bos_token_id=0, eos_token_id=0, attention_dropout=0.0)
MODELS = {
    "untied": dict(BASE, num_key_value_heads=2, tie_word_embeddings=False, rope_theta=10000.0),
    "tied_bf16_sharded": dict(BASE, num_key_value_heads=1, tie_word_embeddings=True, rope_theta=500000.0),
}
SEEDS = {"untied": 3, "tied_bf16_sharded": 11}
BATCH, PROMPT_LEN, NEW_TOKENS = 2, 10, 8

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZERS = {
    "gpt2_style": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False),
    "smollm_style": lambda: pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False)]),
    "llama3_style": lambda: pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
}
CASES = [
    "Hello world", "First Citizen:\nBefore we proceed any further, hear me speak.", "  leading spaces",
    "trailing spaces   ", "tabs\tand\nnewlines\n\n\nhere", "year 2024 and 1,234,567.89 or x2",
    "a  1  b   22", "I'M HERE, you're there; they'll've", "CAPS'S and 'quoted'", "naïve café — déjà vu",
    "日本語のテキスト", "emoji 👍🏽 and 🇫🇷", "x²+y³ = z_1", "<|endoftext|> is text here", "", " ", "\n",
    "mixed\r\nline endings\r", "ROMEO:\nO, she doth teach the torches to burn bright!",
]


def train_tokenizer(kind: str, text: str) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = PRE_TOKENIZERS[kind]()
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([text], trainer)
    assert tokenizer.get_vocab_size() == VOCAB_SIZE, tokenizer.get_vocab_size()
    return tokenizer


def build_model(name: str) -> LlamaForCausalLM:
    torch.manual_seed(SEEDS[name])
    model = LlamaForCausalLM(LlamaConfig(**MODELS[name], attn_implementation="eager"))
    generator = torch.Generator().manual_seed(SEEDS[name] + 1)
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if "norm" in param_name:          # RMSNorm gains around 1, not exactly 1
                param.copy_(1.0 + 0.2 * torch.randn(param.shape, generator=generator))
    return model.eval()


def dequantised(model: LlamaForCausalLM, dtype: torch.dtype) -> LlamaForCausalLM:
    copy = deepcopy(model)
    with torch.no_grad():
        for param in copy.parameters():
            param.copy_(param.to(dtype).to(torch.float32))
    return copy.eval()


def reference_outputs(model: LlamaForCausalLM, input_ids: torch.Tensor, prefix: str) -> dict:
    with torch.no_grad():
        logits = model(input_ids).logits
        generated = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=NEW_TOKENS,
                                   do_sample=False, pad_token_id=0, eos_token_id=None)
        step_logits = model(generated[:, :-1]).logits[:, PROMPT_LEN - 1:]
        top2 = torch.topk(step_logits, 2, dim=-1).values
        margin = (top2[..., 0] - top2[..., 1]).min().item()
    model.train()
    model.zero_grad()
    loss = model(input_ids, labels=input_ids).loss
    loss.backward()
    model.eval()
    out = {f"{prefix}/logits": logits.numpy().astype(np.float32), f"{prefix}/greedy_ids": generated.numpy(),
           f"{prefix}/loss": np.float32(loss.item())}
    for name, param in model.named_parameters():
        out[f"{prefix}/grad/{name}"] = param.grad.numpy().astype(np.float32)
    new_tokens = generated[:, PROMPT_LEN:].numpy()
    if margin < 1e-3 or min(len(set(row.tolist())) for row in new_tokens) < 3:
        raise SystemExit(f"{prefix}: greedy margin {margin:.2g} or repetitive continuation {new_tokens.tolist()}; "
                         f"change SEEDS")
    return out, margin


def keep_only(directory: Path, suffixes: tuple[str, ...]) -> None:
    for path in directory.iterdir():
        if path.name != "config.json" and not path.name.endswith(suffixes):
            path.unlink()


def check_our_round_trips(out: Path, reference: dict, input_ids: torch.Tensor) -> None:
    """Our Llama.save_pretrained -> transformers, and our tokenizer.json writer -> tokenizers."""
    from transformer_np.models.llama import Llama
    from transformer_np.tokenizer.tokenizer_json import read_tokenizer_json, write_tokenizer_json
    for name in MODELS:
        ours = Llama.from_pretrained(out / name)
        with tempfile.TemporaryDirectory() as tmp:
            ours.save_pretrained(tmp)
            theirs = LlamaForCausalLM.from_pretrained(tmp, attn_implementation="eager").eval()
            with torch.no_grad():
                logits = theirs(input_ids).logits.numpy()
        error = np.abs(logits - reference[f"{name}/logits"]).max()
        print(f"  {name}: our save_pretrained -> transformers logits max |diff| {error:.2e}")
        assert error < 1e-4, error
    for kind in PRE_TOKENIZERS:
        ours = read_tokenizer_json(out / "tokenizers" / f"{kind}.json")
        with tempfile.TemporaryDirectory() as tmp:
            theirs = Tokenizer.from_file(str(write_tokenizer_json(ours, tmp)))
        for text in CASES:
            assert theirs.encode(text).ids == ours.encode(text, allowed_special="all"), (kind, text)
        print(f"  {kind}: our tokenizer.json read back by tokenizers: same ids on {len(CASES)} strings")
        original = Tokenizer.from_file(str(out / "tokenizers" / f"{kind}.json"))
        rng = np.random.default_rng(0)
        alphabet = list("ab Z'sdt1234 \n\t\r.,!-_") + ["  ", "\u00e9", "\u00b2", "\u4e00", "\U0001f44d", "\u3000"]
        for _ in range(3000):
            text = "".join(rng.choice(alphabet, size=rng.integers(0, 16)))
            assert original.encode(text).ids == ours.encode_ordinary(text), (kind, text)
        print(f"  {kind}: our reading of it gives the ids tokenizers gives on 3000 random strings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/llama_tiny")
    args = parser.parse_args()
    out: Path = args.out
    readme = out / "README.md"
    kept_readme = readme.read_text() if readme.exists() else None
    if out.exists():
        shutil.rmtree(out)
    (out / "tokenizers").mkdir(parents=True)
    if kept_readme is not None:
        readme.write_text(kept_readme)
    text = SHAKESPEARE.read_text(encoding="utf-8")[:50_000]

    cases = {}
    for kind in PRE_TOKENIZERS:
        tokenizer = train_tokenizer(kind, text)
        tokenizer.save(str(out / "tokenizers" / f"{kind}.json"))
        encodings = [tokenizer.encode(case).ids for case in CASES]
        for case, ids in zip(CASES, encodings):
            assert tokenizer.decode(ids, skip_special_tokens=False) == case, (kind, case)
        cases[kind] = [{"text": case, "ids": ids} for case, ids in zip(CASES, encodings)]
    (out / "tokenizers" / "cases.json").write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n")

    generator = torch.Generator().manual_seed(5)
    input_ids = torch.randint(0, VOCAB_SIZE, (BATCH, PROMPT_LEN), generator=generator)
    reference = {"input_ids": input_ids.numpy()}
    margins = {}

    model = build_model("untied")
    model.save_pretrained(out / "untied")
    keep_only(out / "untied", (".safetensors",))
    shutil.copyfile(out / "tokenizers" / "smollm_style.json", out / "untied" / "tokenizer.json")
    outputs, margins["untied"] = reference_outputs(model, input_ids, "untied")
    reference.update(outputs)

    model = build_model("tied_bf16_sharded")
    # A copy: .to() converts in place, buffers too (the rotary frequencies), and the reference must not see that.
    deepcopy(model).to(torch.bfloat16).save_pretrained(out / "tied_bf16_sharded", max_shard_size="30KB")
    keep_only(out / "tied_bf16_sharded", (".safetensors", ".index.json"))
    outputs, margins["tied_bf16_sharded"] = reference_outputs(dequantised(model, torch.bfloat16), input_ids,
                                                              "tied_bf16_sharded")
    reference.update(outputs)
    np.savez_compressed(out / "reference.npz", **reference)

    meta = {"models": MODELS, "seeds": SEEDS, "batch": BATCH, "prompt_len": PROMPT_LEN, "max_new_tokens": NEW_TOKENS,
            "min_greedy_margin": margins, "tokenizer_cases": CASES,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__},
            "notes": ["logits/greedy_ids: transformers in float32 (eval, no_grad, eager attention); the bf16 "
                      "model's on its weights rounded to bfloat16 and back (what a loader sees).",
                      "loss = model(input_ids, labels=input_ids).loss; grad/<Hugging Face name> = d loss / d param."]}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    for path in out.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e3:.0f} kB); greedy margins {margins}")
    check_our_round_trips(out, reference, input_ids)


if __name__ == "__main__":
    main()
