#!/usr/bin/env python
"""Build the tiny GPT-2 reference fixtures in tests/fixtures/gpt2_tiny/ (dev only).

Needs torch + transformers + safetensors, which are NOT runtime dependencies:

    .dev/bin/python tools/make_gpt2_fixtures.py

A small random ``transformers.GPT2LMHeadModel`` is built from a fixed seed;
its LayerNorm parameters and all biases are moved away from their init values
(ones / zeros) so that a loader which drops or mixes them up fails the tests.
The same weights are written in four layouts, and reference outputs are saved:

- ``hf_layout/``   ``model.save_pretrained(safe_serialization=True)``: F32,
  names with the ``transformer.`` prefix, no ``lm_head.weight`` (tied).
- ``hub_layout/``  the original hub file style: F32, names without the prefix,
  plus the ``h.N.attn.bias`` causal-mask buffers and ``h.N.attn.masked_bias``.
- ``f16_layout/``  hub style (no prefix) stored as F16.
- ``bf16_layout/`` HF style (prefix) stored as BF16.
- ``reference.npz`` input ids, logits, greedy continuations, the loss and the
  gradients of every parameter; half-precision references are computed in
  float32 by transformers on the *dequantised* weights of that file.
- ``meta.json``    config, seed, library versions and the greedy margins.
- ``byte_tokenizer/`` vocab.json + merges.txt of a byte-level BPE with GPT-2's
  first 256 tokens and no merges (the tiny model's 256 ids), for stop strings.
- ``generation.npz`` transformers' greedy ``generate`` for a left-padded batch
  (attention_mask), with ``repetition_penalty``, and with ``stop_strings``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from copy import deepcopy
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

SEED = 7  # chosen for varied continuations with large greedy margins (see meta.json)
CONFIG = dict(
    vocab_size=256,
    n_positions=64,
    n_embd=32,
    n_layer=2,
    n_head=4,
    activation_function="gelu_new",
    layer_norm_epsilon=1e-5,
    # Zero dropout so that train-mode gradients equal eval-mode ones.
    resid_pdrop=0.0,
    embd_pdrop=0.0,
    attn_pdrop=0.0,
    # Far wider than GPT-2's 0.02: with small weights a random model repeats one
    # token forever; this way greedy decoding varies and wins by clear margins.
    initializer_range=0.3,
    bos_token_id=0,
    eos_token_id=0,
    tie_word_embeddings=True,
)
BATCH, PROMPT_LEN, NEW_TOKENS = 2, 12, 8
PREFIX = "transformer."


def build_model(seed: int) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    # Eager attention: the plain softmax(QK^T/sqrt(d))V that our NumPy code mirrors.
    model = GPT2LMHeadModel(GPT2Config(**CONFIG, attn_implementation="eager"))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if ".ln_" in name and name.endswith(".weight"):
                param.copy_(1.0 + 0.2 * noise)  # LayerNorm gains around 1
            elif name.endswith(".bias"):
                param.copy_(0.2 * noise)  # LayerNorm shifts and linear biases
    model.eval()
    return model


def unprefixed_state(model: GPT2LMHeadModel) -> dict[str, torch.Tensor]:
    """Parameters under their hub names: no ``transformer.`` prefix, no tied lm_head."""
    state = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue
        if name.startswith(PREFIX):
            name = name[len(PREFIX):]
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # old transformers versions kept these as buffers; added explicitly below
        state[name] = tensor.detach().clone().contiguous()
    return state


def add_hub_buffers(state: dict[str, torch.Tensor], n_layer: int, n_positions: int) -> dict:
    """Insert the causal-mask buffers that the original GPT-2 hub checkpoint carries."""
    mask = torch.tril(torch.ones(n_positions, n_positions)).view(1, 1, n_positions, n_positions)
    out = {}
    for name, tensor in state.items():
        out[name] = tensor
        for i in range(n_layer):
            if name == f"h.{i}.attn.c_proj.bias":
                out[f"h.{i}.attn.bias"] = mask.clone()
                out[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    return out


def dequantised_model(model: GPT2LMHeadModel, dtype: torch.dtype) -> GPT2LMHeadModel:
    """A float32 copy whose weights went through ``dtype`` and back."""
    copy = deepcopy(model)
    with torch.no_grad():
        for param in copy.parameters():
            param.copy_(param.to(dtype).to(torch.float32))
    copy.eval()
    return copy


def reference_outputs(model: GPT2LMHeadModel, input_ids: torch.Tensor) -> dict:
    with torch.no_grad():
        logits = model(input_ids).logits
        generated = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            pad_token_id=0,
            eos_token_id=None,
        )
        # Margin of each greedy pick over the runner-up: small margins would
        # make the "same greedy tokens" test flaky, so the script checks them.
        step_logits = model(generated[:, :-1]).logits[:, PROMPT_LEN - 1:]
        top2 = torch.topk(step_logits, 2, dim=-1).values
        margins = (top2[..., 0] - top2[..., 1]).min().item()
    return {"logits": logits.numpy(), "greedy_ids": generated.numpy(), "min_margin": margins}


PAD_LENGTHS = (12, 7, 4)  # real tokens per row of the left-padded batch
REPETITION_PENALTY = 1.3


def write_byte_tokenizer(directory: Path):
    """GPT-2's first 256 tokens (one per byte, in GPT-2's byte-alphabet order) and no merges."""
    from transformers import GPT2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    directory.mkdir(parents=True)
    vocab = {char: i for i, char in enumerate(bytes_to_unicode().values())}
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return GPT2Tokenizer.from_pretrained(str(directory))


def greedy(model: GPT2LMHeadModel, input_ids, **kwargs):
    with torch.no_grad():
        return model.generate(input_ids, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0,
                              eos_token_id=None, **kwargs).numpy()


def pick_stop_string(tokenizer, new_ids) -> str:
    """Two consecutive generated printable-ASCII tokens from the middle of a continuation: a stop string
    that really ends generation early (found only where it first occurs)."""
    for start in range(2, len(new_ids) - 2):
        text = tokenizer.decode(new_ids[start:start + 2].tolist())
        if text.isascii() and text.isprintable() and len(text) == 2:
            return text
    raise SystemExit("no ASCII pair in the continuation for a stop string; try another --seed")


def generation_references(model: GPT2LMHeadModel, input_ids: torch.Tensor, out: Path) -> dict:
    """Left padding, repetition penalty and stop strings, each as transformers' greedy generate gives it."""
    width = max(PAD_LENGTHS)
    padded = torch.zeros((len(PAD_LENGTHS), width), dtype=torch.long)
    mask = torch.zeros_like(padded)
    for row, length in enumerate(PAD_LENGTHS):
        padded[row, width - length:] = input_ids[row % len(input_ids), :length]
        mask[row, width - length:] = 1
    tokenizer = write_byte_tokenizer(out / "byte_tokenizer")
    plain = greedy(model, input_ids, attention_mask=torch.ones_like(input_ids))
    stop = pick_stop_string(tokenizer, plain[0, PROMPT_LEN:])
    return {
        "padded_input_ids": padded.numpy(), "padded_attention_mask": mask.numpy(),
        "padded_greedy_ids": greedy(model, padded, attention_mask=mask),
        "repetition_penalty": np.float32(REPETITION_PENALTY),
        "penalty_greedy_ids": greedy(model, input_ids, attention_mask=torch.ones_like(input_ids),
                                     repetition_penalty=REPETITION_PENALTY),
        "stop_string": np.array(stop),
        # One row: with eos_token_id=None transformers does not pad a finished row, it waits for all.
        "stop_greedy_ids": greedy(model, input_ids[:1], attention_mask=torch.ones_like(input_ids[:1]),
                                  stop_strings=[stop], tokenizer=tokenizer),
    }


def save_layout(directory: Path, config_file: Path, tensors: dict, dtype: torch.dtype | None) -> None:
    directory.mkdir(parents=True)
    shutil.copyfile(config_file, directory / "config.json")
    if dtype is not None:
        tensors = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in tensors.items()}
    # One metadata key only: the package stores metadata in a hash map, so with
    # two keys their order (and the file's bytes) would change from run to run.
    safetensors.torch.save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/fixtures/gpt2_tiny")
    parser.add_argument("--seed", type=int, default=SEED, help="pick another if greedy margins are too small")
    args = parser.parse_args()
    seed = args.seed
    out: Path = args.out
    readme = out / "README.md"
    kept_readme = readme.read_text() if readme.exists() else None
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if kept_readme is not None:
        readme.write_text(kept_readme)

    model = build_model(seed)
    n_layer, n_positions = CONFIG["n_layer"], CONFIG["n_positions"]

    # 1. What transformers itself writes.
    model.save_pretrained(out / "hf_layout", safe_serialization=True)
    for extra in (out / "hf_layout").iterdir():  # keep only config + weights
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()
    config_file = out / "hf_layout" / "config.json"

    # 2-4. The other layouts, written with the safetensors package.
    hub_state = unprefixed_state(model)
    save_layout(out / "hub_layout", config_file, add_hub_buffers(hub_state, n_layer, n_positions), None)
    save_layout(out / "f16_layout", config_file, hub_state, torch.float16)
    prefixed = {PREFIX + k: v for k, v in hub_state.items()}
    save_layout(out / "bf16_layout", config_file, prefixed, torch.bfloat16)

    # Reference outputs.
    generator = torch.Generator().manual_seed(seed + 2)
    input_ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, PROMPT_LEN), generator=generator)
    reference = {"input_ids": input_ids.numpy()}
    margins = {}
    for suffix, ref_model in (
        ("", model),
        ("_f16", dequantised_model(model, torch.float16)),
        ("_bf16", dequantised_model(model, torch.bfloat16)),
    ):
        outputs = reference_outputs(ref_model, input_ids)
        reference["logits" + suffix] = outputs["logits"].astype(np.float32)
        reference["greedy_ids" + suffix] = outputs["greedy_ids"]
        margins["greedy_ids" + suffix] = outputs["min_margin"]

    # Loss and gradients (train mode; dropout is 0 so it equals eval mode).
    model.train()
    model.zero_grad()
    loss = model(input_ids, labels=input_ids).loss
    loss.backward()
    reference["loss"] = np.float32(loss.item())
    for name, param in model.named_parameters():  # the tied lm_head is not listed separately
        key = name[len(PREFIX):] if name.startswith(PREFIX) else name
        reference["grad/" + key] = param.grad.numpy().astype(np.float32)
    np.savez_compressed(out / "reference.npz", **reference)
    model.eval()
    generation = generation_references(model, input_ids, out)
    np.savez_compressed(out / "generation.npz", **generation)

    meta = {
        "config": CONFIG,
        "seed": seed,
        "batch": BATCH,
        "prompt_len": PROMPT_LEN,
        "max_new_tokens": NEW_TOKENS,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
        },
        "layouts": {
            "hf_layout": {"dtype": "F32", "prefix": True, "reference": ""},
            "hub_layout": {"dtype": "F32", "prefix": False, "reference": "", "extra": "h.N.attn.bias, h.N.attn.masked_bias"},
            "f16_layout": {"dtype": "F16", "prefix": False, "reference": "_f16"},
            "bf16_layout": {"dtype": "BF16", "prefix": True, "reference": "_bf16"},
        },
        "notes": [
            "logits*/greedy_ids* computed in float32 by transformers (eval, no_grad);"
            " the _f16/_bf16 ones on the weights rounded to that dtype and back (what a loader sees).",
            "greedy_ids* = prompt + max_new_tokens from generate(do_sample=False).",
            "loss = model(input_ids, labels=input_ids).loss (mean next-token cross-entropy);"
            " grad/<name> = d loss / d param, HF names without 'transformer.'; wte gets the tied lm_head's gradient too.",
        ],
        "min_greedy_margin": margins,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    worst = min(margins.values())
    if worst < 1e-3:
        raise SystemExit(f"greedy margins {margins} too small for a stable test; try another --seed")
    for key in ("greedy_ids", "greedy_ids_f16", "greedy_ids_bf16"):
        new_tokens = reference[key][:, PROMPT_LEN:]
        if new_tokens.shape[1] != NEW_TOKENS or (new_tokens == CONFIG["eos_token_id"]).any():
            raise SystemExit(f"{key}: generation stopped at eos; try another --seed")
        distinct = min(len(set(row.tolist())) for row in new_tokens)
        if distinct < 3:
            raise SystemExit(f"{key}: continuation repeats one token ({new_tokens.tolist()}); try another --seed")
    for path in out.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the writers may create 0600 files
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e6:.2f} MB); min greedy margin {worst:.4f}")


if __name__ == "__main__":
    main()
