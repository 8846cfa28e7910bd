"""gpt2_infer.py end to end, in a subprocess, on a tiny model saved with a tokenizer (no network)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transformer_np import GPT2
from transformer_np.tokenizer import ENDOFTEXT, BPETokenizer

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "gpt2_infer.py"
TEXT = "the quick brown fox jumps over the lazy dog. " * 30


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tok = BPETokenizer.train(TEXT, 300)
    eos = tok.special_tokens[ENDOFTEXT]
    m = GPT2(dict(vocab_size=tok.vocab_size, n_positions=24, n_embd=16, n_layer=2, n_head=2,
                  bos_token_id=eos, eos_token_id=eos), seed=0)
    return m.save_pretrained(tmp_path_factory.mktemp("cli") / "tiny", tokenizer=tok)


def run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)


def test_streams_prompt_then_greedy_continuation(model_dir):
    r = run("--model", model_dir, "-p", "the quick brown", "-n", 8, "--temperature", 0, "--no-stop")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("the quick brown")
    tok = BPETokenizer.from_pretrained(model_dir)
    model = GPT2.from_pretrained(model_dir)
    ids = tok.encode("the quick brown")
    expected = model.generate(np.array([ids]), 8, temperature=0)[0].tolist()
    assert r.stdout == tok.decode(expected) + "\n"
    assert "loading" in r.stderr and "Traceback" not in r.stderr


def test_seed_repeats_and_stats_line(model_dir):
    a = run("--model", model_dir, "-p", "the lazy", "-n", 6, "--seed", 3, "--top-k", 20, "--top-p", 0.9, "--stats")
    b = run("--model", model_dir, "-p", "the lazy", "-n", 6, "--seed", 3, "--top-k", 20, "--top-p", 0.9)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and a.stdout.startswith("the lazy")
    stats = [line for line in a.stderr.splitlines() if line.startswith("[stats]")]
    assert len(stats) == 1 and "tokens/s" in stats[0]
    assert "[stats]" not in b.stderr and "[stats]" not in a.stdout


@pytest.mark.parametrize("flags", [["-n", "0"], ["-n", "abc"], ["--temperature", "-1"], ["--top-k", "0"],
                                   ["--top-p", "1.5"], ["--top-p", "0"], ["--seed", "x"]])
def test_invalid_flags_are_argparse_errors(model_dir, flags):
    r = run("--model", model_dir, "-p", "x", *flags)
    assert r.returncode == 2
    assert "usage:" in r.stderr and "error:" in r.stderr and "Traceback" not in r.stderr


def test_missing_model_dir_is_a_one_line_error(tmp_path):
    r = run("--model", tmp_path / "missing", "-p", "hello")
    assert r.returncode == 2 and r.stdout == ""
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in r.stderr and "missing" in errors[0]


def test_prompt_too_long_is_a_one_line_error(model_dir):
    r = run("--model", model_dir, "-p", TEXT, "-n", 4)              # far more than 24 tokens
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "context window" in r.stderr and r.stdout == ""


def test_a_directory_without_tokenizer_files(tmp_path):
    # GPT-2's vocabulary size: the shipped GPT-2 tokenizer is used, with a note.
    m = GPT2(dict(vocab_size=50257, n_positions=16, n_embd=8, n_layer=1, n_head=2), seed=0)
    m.save_pretrained(tmp_path / "gpt2_sized")
    r = run("--model", tmp_path / "gpt2_sized", "-p", "Hello world", "-n", 3, "--temperature", 0, "--no-stop")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Hello world") and "no tokenizer files; using GPT-2's" in r.stderr
    # Any other size: a one-line error naming the directory.
    GPT2(dict(vocab_size=300, n_positions=16, n_embd=8, n_layer=1, n_head=2), seed=0).save_pretrained(
        tmp_path / "other")
    r = run("--model", tmp_path / "other", "-p", "Hello")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no tokenizer files" in r.stderr and "other" in r.stderr
