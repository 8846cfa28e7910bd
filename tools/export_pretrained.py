"""Turn a training run into a standalone model directory, e.g. one shipped inside the package.

    python tools/export_pretrained.py /work/runs/shakespeare-char transformer_np/pretrained/shakespeare-char \
        --float16 --eval-data ../shared/data/tinyshakespeare.txt

Reads whatever `load_lm` reads (a run of the trainer, in its Hugging Face layout or its older format) and
writes the Hugging Face GPT-2 layout: config.json (plus "char_vocab" for a character-level model),
model.safetensors (with --float16 half the bytes; loading widens it back to float32), vocab.json + merges.txt
for a BPE model, and run_config.json (how it was trained, for the record). The directory is built beside OUT
and renamed into place, so OUT is never half written; an existing OUT is replaced only with --overwrite.

A toy-task LM run (e.g. transformer_np/pretrained/sort-4) gets its task recorded as "toy_task" in config.json.

It then loads the result back and prints its size, how far its logits are from the run's
(float16 rounding), and with --eval-data its held-out loss: the last 10% of that text cut into
non-overlapping windows of the model's context length, every window scored (deterministic). For a toy
task it prints the held-out sequence accuracy of the exported model on 10,000 of the run's held-out problems.
Standard library + NumPy only.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # run from a checkout without installing

from transformer_np.io.safetensors import save_safetensors          # noqa: E402
from transformer_np.models.auto import load_lm                      # noqa: E402
from transformer_np.models.hf_layout import hf_config, hf_tensors   # noqa: E402
from transformer_np.tasks import CONFIG_KEY as TOY_TASK_KEY, Text, ToyTask   # noqa: E402
from transformer_np.tokenizer import CharTokenizer                  # noqa: E402
from transformer_np.train import evaluate, run_config               # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Export a training run as a standalone (shippable) model directory.")
    p.add_argument("run", help="the run directory (train_toy.py --out)")
    p.add_argument("out", help="the model directory to write")
    p.add_argument("--float16", action="store_true", help="store the weights as float16 (half the size)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--eval-data", metavar="FILE", help="report the held-out loss on the last 10%% of FILE")
    return p.parse_args(argv)


def fail(message):
    print(f"export_pretrained.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def write_model_dir(model, tokenizer, run, directory, float_dtype):
    """The Hugging Face layout (GPT-2's or Llama's) of `model` + its tokenizer, and the run's record."""
    config = hf_config(model)
    if isinstance(tokenizer, CharTokenizer):
        config.update(tokenizer.to_config())
    elif isinstance(tokenizer, ToyTask):                            # the task's notation is the tokenizer
        config[TOY_TASK_KEY] = tokenizer.spec
    else:
        tokenizer.save(directory)                                   # vocab.json + merges.txt
    save_safetensors(directory / "model.safetensors", hf_tensors(model), metadata={"format": "pt"},
                     float_dtype=float_dtype)
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    record = {key: run[key] for key in ("train", "task") if key in run}
    (directory / "run_config.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def export(run_dir, out, float_dtype=None, overwrite=False):
    """Write `out` from the run in `run_dir`; returns (the run's model, the exported model reloaded)."""
    model, tokenizer = load_lm(run_dir)
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        write_model_dir(model, tokenizer, run_config(run_dir), staging, float_dtype)
        os.chmod(staging, 0o755)                                    # mkdtemp makes it private
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    exported, _ = load_lm(out)
    return model, exported


def max_logit_difference(a, b, seed=0):
    """Largest |logit_a - logit_b| over a random full-length window (what float16 storage costs)."""
    ids = np.random.default_rng(seed).integers(0, a.vocab_size, size=(1, a.max_len))
    return float(np.abs(a.forward(ids) - b.forward(ids)).max())


def heldout_loss(model, data):
    """(mean loss in nats per token, tokens scored) on the last 10% of `data`, every window once."""
    task = Text(data, block_size=model.max_len, tokenizer=model.tokenizer)
    windows = task.heldout("lm", len(task.heldout_ids))
    metrics, _ = evaluate(model, "lm", windows, chunk=32)
    return metrics["heldout_loss"], int(windows["weights"].sum())


def toy_sequence_accuracy(model, run_dir, n=10_000):
    """(held-out sequence accuracy, problems): greedy answers to the run's first n held-out problems."""
    eval_seed = run_config(run_dir)["train"]["eval_seed"]
    metrics, _ = evaluate(model, "lm", model.tokenizer.heldout("lm", n, eval_seed))
    return metrics["sequence_accuracy"], n


def main(argv=None):
    args = parse_args(argv)
    if args.eval_data and not os.path.isfile(args.eval_data):      # before anything is written
        fail(f"--eval-data {args.eval_data}: no such file")
    try:
        model, exported = export(args.run, args.out, "F16" if args.float16 else None, args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    weights = Path(args.out) / "model.safetensors"
    print(f"wrote {args.out}: {exported.num_parameters():,} parameters, model.safetensors "
          f"{weights.stat().st_size / 1e6:.2f} MB")
    print(f"max |logit difference| from the run's float32 weights: {max_logit_difference(model, exported):.2e}")
    if isinstance(exported.tokenizer, ToyTask):
        accuracy, n = toy_sequence_accuracy(exported, args.run)
        print(f"held-out sequence accuracy {accuracy:.4f} over {n:,} problems of the run's held-out stream")
    if args.eval_data:
        loss, tokens = heldout_loss(exported, args.eval_data)
        print(f"held-out loss {loss:.4f} nats/token over {tokens:,} tokens of {args.eval_data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
