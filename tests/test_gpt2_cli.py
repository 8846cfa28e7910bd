"""gpt2_infer.py end to end, in a subprocess, on a tiny model saved with a tokenizer (no network)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transformer_np import GPT2, TransformerLM
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
                                   ["--top-p", "1.5"], ["--top-p", "0"], ["--seed", "x"], ["--num-samples", "0"],
                                   ["--repetition-penalty", "0"], ["--window-stride", "0"],
                                   ["--seed", "-1"]])
def test_invalid_flags_are_argparse_errors(model_dir, flags):
    r = run("--model", model_dir, "-p", "x", *flags)
    assert r.returncode == 2
    assert "usage:" in r.stderr and "error:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("flags, named", [(["--stop", ""], "--stop"),
                                          (["--sliding-window", "--window-stride", "100000"], "--window-stride"),
                                          (["--attention", "{tmp}/a_file/x.html"], "--attention")])
def test_unusable_generation_flags_are_one_line_errors(model_dir, tmp_path, flags, named):
    (tmp_path / "a_file").write_text("not a directory")
    r = run("--model", model_dir, "-p", "x", "-n", 2, *[f.format(tmp=tmp_path) for f in flags])
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(errors) == 1 and named in errors[0]


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


# --------------------------------------------------------------------------- generation options

def library_text(model_dir, prompt, n, **options):
    """What the library generates for the CLI's flags, decoded per row."""
    tok = BPETokenizer.from_pretrained(model_dir)
    ids = tok.encode(prompt)
    out = GPT2.from_pretrained(model_dir).generate(np.array([ids]), n, **options)
    return [tok.decode(row[len(ids):].tolist()) for row in out]


def test_num_samples_print_each_continuation_from_one_batch(model_dir):
    r = run("--model", model_dir, "-p", "the lazy", "-n", 6, "--num-samples", 3, "--seed", 4, "--no-stop",
            "--stats")
    assert r.returncode == 0, r.stderr
    samples = r.stdout.split("\n---------------\n")
    assert samples[-1] == "" and len(samples) == 4
    expected = library_text(model_dir, "the lazy", 6, seed=4, num_samples=3)
    assert samples[:3] == ["the lazy" + text for text in expected]
    assert "3 sample(s)" in r.stderr


def test_stop_string_ends_the_text_before_it(model_dir):
    full = library_text(model_dir, "the quick brown", 8, temperature=0)[0]
    stop = full[3:5]                                                 # occurs in the greedy text
    r = run("--model", model_dir, "-p", "the quick brown", "-n", 8, "--temperature", 0, "--no-stop", "--stop", stop)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "the quick brown" + full[:full.index(stop)] + "\n"


def test_repetition_penalty_and_sliding_window_flags(model_dir):
    r = run("--model", model_dir, "-p", "the quick brown", "-n", 8, "--temperature", 0, "--no-stop",
            "--repetition-penalty", 3)
    assert r.returncode == 0, r.stderr
    penalised = library_text(model_dir, "the quick brown", 8, temperature=0, repetition_penalty=3.0)[0]
    assert r.stdout == "the quick brown" + penalised + "\n"
    assert penalised != library_text(model_dir, "the quick brown", 8, temperature=0)[0]
    # n_positions is 24: without the flag the text stops at the window with a note; with it, it goes on.
    r = run("--model", model_dir, "-p", "the quick brown", "-n", 40, "--temperature", 0, "--no-stop")
    assert r.returncode == 0 and "note: generating" in r.stderr
    r = run("--model", model_dir, "-p", "the quick brown", "-n", 40, "--temperature", 0, "--no-stop",
            "--sliding-window", "--window-stride", 4)
    assert r.returncode == 0, r.stderr
    slid = library_text(model_dir, "the quick brown", 40, temperature=0, sliding_window=True, window_stride=4)[0]
    assert r.stdout == "the quick brown" + slid + "\n"


# --------------------------------------------------------------------------- models trained with train_toy.py

CHAR_TEXT = "ROMEO:\nWhat light through yonder window breaks?\n" * 10


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    """A character-level run in the trainer's older format (the format the shipped model was trained in)."""
    from trainer_runs import write_old_run
    chars = sorted(set(CHAR_TEXT))
    model = TransformerLM(vocab_size=len(chars), d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=40, seed=0)
    task = {"task": "text", "data": "deleted.txt", "block_size": 40, "chars": "".join(chars)}
    return write_old_run(tmp_path_factory.mktemp("char") / "run", model, task, {"task": "text", "tokenizer": "char"})


def test_a_character_run_samples_with_every_flag(char_run, tmp_path):
    flags = ["--model", char_run, "-p", "ROMEO:", "-n", 20, "--temperature", 0.8, "--top-k", 10, "--top-p", 0.9,
             "--seed", 5]
    a = run(*flags, "--stats", "--attention", tmp_path / "attention.html")
    b = run(*flags)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    model = TransformerLM.from_pretrained(char_run)
    ids = model.tokenizer.encode("ROMEO:")
    expected = model.generate(np.array([ids]), 20, temperature=0.8, top_k=10, top_p=0.9, seed=5)[0]
    assert a.stdout == b.stdout == model.tokenizer.decode(expected) + "\n"
    assert "[stats] prompt 6 tokens" in a.stderr and (tmp_path / "attention.html").stat().st_size > 1000
    assert "Traceback" not in a.stderr


def test_a_character_run_without_a_prompt_starts_from_a_newline(char_run):
    r = run("--model", char_run, "-n", 5, "--temperature", 0)
    assert r.returncode == 0, r.stderr
    model = TransformerLM.from_pretrained(char_run)
    start = model.tokenizer.encode("\n")
    assert r.stdout == model.tokenizer.decode(model.generate(np.array([start]), 5, temperature=0)[0, 1:]) + "\n"


def test_a_character_outside_the_alphabet_is_one_line(char_run):
    r = run("--model", char_run, "-p", "ROMEO\u00e9")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert "--prompt: character '\u00e9' (position 5) is not in the 26-character vocabulary" in r.stderr


def test_hugging_face_layout_character_and_learned_bpe_runs(tmp_path):
    from transformer_np.tokenizer import CharTokenizer
    char = CharTokenizer.from_text(CHAR_TEXT)
    GPT2(dict(vocab_size=char.vocab_size, n_positions=32, n_embd=16, n_layer=1, n_head=2), seed=0).save_pretrained(
        tmp_path / "char")
    char.save(tmp_path / "char")
    bpe = BPETokenizer.train(CHAR_TEXT, 280)
    GPT2(dict(vocab_size=bpe.vocab_size, n_positions=32, n_embd=16, n_layer=1, n_head=2), seed=0).save_pretrained(
        tmp_path / "bpe", tokenizer=bpe)
    for name in ("char", "bpe"):
        r = run("--model", tmp_path / name, "-p", "ROMEO:", "-n", 8, "--seed", 0, "--no-stop")
        assert r.returncode == 0 and r.stdout.startswith("ROMEO:"), r.stderr


def test_a_bert_directory_is_one_line_naming_model_type(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_size": 32}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    r = run("--model", tmp_path, "-p", "hello")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "model_type 'bert'" in errors[0]


def test_nan_weights_are_one_line_naming_the_tensor(model_dir, tmp_path):
    model, tok = GPT2.from_pretrained(model_dir), BPETokenizer.from_pretrained(model_dir)
    model.ln_f.weight.data = model.ln_f.weight.data.copy()
    model.ln_f.weight.data[0] = np.nan
    model.save_pretrained(tmp_path / "nan", tokenizer=tok)
    r = run("--model", tmp_path / "nan", "-p", "the", "-n", 4)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert "tensor 'ln_f.weight' has 1 NaN/inf values" in r.stderr


def test_logits_that_overflow_are_one_line_not_a_string_of_exclamation_marks(model_dir, tmp_path):
    model, tok = GPT2.from_pretrained(model_dir), BPETokenizer.from_pretrained(model_dir)
    model.wte.weight.data = model.wte.weight.data * 1e10           # finite weights whose logits overflow float32
    model.ln_f.weight.data = np.full_like(model.ln_f.weight.data, 1e30)
    model.save_pretrained(tmp_path / "huge", tokenizer=tok)
    r = run("--model", tmp_path / "huge", "-p", "the", "-n", 4)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[2:] == [                            # after "loading ..." and "loaded ..."
        "gpt2_infer.py: error: the model's logits hold NaN or inf (are its weights or inputs finite?)"]
    assert r.stdout == "the"


def test_output_piped_into_a_reader_that_stops_ends_quietly(model_dir):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--model", str(model_dir), "-p", "the quick", "-n", "10"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    process.stdout.close()                       # as `| head -c 0` does, before the script writes anything
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert "Traceback" not in stderr and "Error" not in stderr
