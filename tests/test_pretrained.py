"""The model shipped inside the package: shakespeare-char, a character-level TransformerLM trained on tiny
Shakespeare. It loads by name with no network, is stored as float16 and computes in float32."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transformer_np import TransformerLM
from transformer_np.io.safetensors import read_safetensors_header
from transformer_np.models.auto import PRETRAINED_DIR, load_lm, shipped_models
from transformer_np.tasks import Text
from transformer_np.tokenizer import CharTokenizer
from transformer_np.train import evaluate

from trainer_runs import write_old_run

ROOT = Path(__file__).resolve().parent.parent
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
needs_shakespeare = pytest.mark.skipif(not SHAKESPEARE.is_file(),
                                       reason=f"tiny Shakespeare not found at {SHAKESPEARE}")
MODEL_DIR = PRETRAINED_DIR / "shakespeare-char"
# The shipped weights score 1.445 on the fixed slice below (1.544 on the whole held-out text, see docs/CHECKPOINTS.md);
# the run's step-1,000 checkpoint scores 1.635 here and fails.
HELDOUT_LOSS_BOUND = 1.50


def stored_dtypes(path):
    """The safetensors dtypes a file stores its tensors in."""
    return {tensor.dtype for tensor in read_safetensors_header(path).tensors}


@pytest.fixture(scope="module")
def model():
    return TransformerLM.from_pretrained("shakespeare-char")


def test_it_is_shipped_and_loads_by_name(model):
    assert "shakespeare-char" in shipped_models()
    assert model.model_dir == MODEL_DIR and not model.training
    assert isinstance(model.tokenizer, CharTokenizer) and model.tokenizer.vocab_size == model.vocab_size == 65
    assert model.tokenizer.chars[:3] == ["\n", " ", "!"] and model.max_len == 128
    config = json.loads((MODEL_DIR / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "gpt2" and config["char_vocab"] == model.tokenizer.chars


def test_weights_are_float16_on_disk_and_float32_in_memory(model):
    assert stored_dtypes(MODEL_DIR / "model.safetensors") == {"F16"}
    assert (MODEL_DIR / "model.safetensors").stat().st_size <= 5_000_000
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    ids = np.array([model.tokenizer.encode("ROMEO:")])
    assert model.forward(ids).dtype == np.float32


def test_a_seed_makes_the_sample_repeatable(model):
    prompt = model.tokenizer.encode("ROMEO:")
    first = model.generate(prompt, 60, temperature=0.8, seed=7)
    assert np.array_equal(first, model.generate(prompt, 60, temperature=0.8, seed=7))
    assert not np.array_equal(first, model.generate(prompt, 60, temperature=0.8, seed=8))
    assert model.tokenizer.decode(first).startswith("ROMEO:")


@needs_shakespeare
def test_it_writes_mostly_real_words(model):
    words = set(re.findall(r"[a-z]+", SHAKESPEARE.read_text(encoding="utf-8").lower()))
    sample = model.tokenizer.decode(model.generate(model.tokenizer.encode("ROMEO:"), 120, temperature=0.8, seed=0))
    generated = re.findall(r"[a-z]+", sample[len("ROMEO:"):].lower())
    assert len(generated) >= 10
    assert np.mean([w in words for w in generated]) >= 0.8, sample     # random letters: 0.08


@needs_shakespeare
def test_held_out_loss_on_a_fixed_slice(model):
    # 24 evenly spaced non-overlapping 128-character windows of the held-out last 10%: 3,072 characters.
    task = Text(SHAKESPEARE, block_size=model.max_len, tokenizer=model.tokenizer)
    windows = task.heldout("lm", 24)
    assert windows["targets"].size == 3072
    metrics, _ = evaluate(model, "lm", windows)
    assert metrics["heldout_loss"] < HELDOUT_LOSS_BOUND



def export(*args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "tools" / "export_pretrained.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_export_tool_writes_a_float16_hugging_face_directory(tmp_path):
    chars = sorted(set("to be or not to be\n"))
    run_model = TransformerLM(vocab_size=len(chars), d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=16, seed=0)
    run = write_old_run(tmp_path / "run", run_model, {"task": "text", "chars": "".join(chars)},
                        {"task": "text", "tokenizer": "char", "steps": 10})
    r = export(run, tmp_path / "out", "--float16")
    assert r.returncode == 0, r.stderr
    assert "model.safetensors 0.01 MB" in r.stdout and "max |logit difference|" in r.stdout
    assert stored_dtypes(tmp_path / "out" / "model.safetensors") == {"F16"}
    names = [tensor.name for tensor in read_safetensors_header(tmp_path / "out" / "model.safetensors").tensors]
    assert "transformer.h.0.attn.c_attn.weight" in names
    model, tokenizer = load_lm(tmp_path / "out")
    assert tokenizer.chars == chars
    assert json.loads((tmp_path / "out" / "run_config.json").read_text())["train"]["steps"] == 10
    ids = np.array([tokenizer.encode("not to be")])
    np.testing.assert_allclose(model.forward(ids), run_model.forward(ids), atol=2e-3)
    again = export(run, tmp_path / "out")
    assert again.returncode == 2 and again.stderr.strip().endswith("exists (pass --overwrite to replace it)")
    assert export(run, tmp_path / "out", "--overwrite").returncode == 0
    assert stored_dtypes(tmp_path / "out" / "model.safetensors") == {"F32"}
