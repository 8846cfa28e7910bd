"""Toy-task language models load the obvious ways and answer in their task's notation: the shipped sort-4
(Trax's first cell), and any train_toy.py LM run, through TransformerLM.from_pretrained and gpt2_infer.py."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transformer_np import TransformerLM
from transformer_np.io.safetensors import read_safetensors_header
from transformer_np.models.auto import PRETRAINED_DIR, load_lm, shipped_models
from transformer_np.tasks import Sort
from transformer_np.train import TrainConfig, Trainer, evaluate

ROOT = Path(__file__).resolve().parent.parent
SORT_4 = PRETRAINED_DIR / "sort-4"


def infer(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "gpt2_infer.py"), *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60)


@pytest.fixture(scope="module")
def sort4():
    return TransformerLM.from_pretrained("sort-4")


def test_sort4_is_shipped_as_trax_configures_it(sort4):
    assert "sort-4" in shipped_models() and sort4.model_dir == SORT_4 and not sort4.training
    task = sort4.tokenizer
    assert isinstance(task, Sort) and (task.length, task.n_symbols) == (4, 31)
    assert sort4.vocab_size == 32 and sort4.max_len == 10                    # `0 a b c d 0 w x y z`
    header = read_safetensors_header(SORT_4 / "model.safetensors")
    assert {entry.dtype for entry in header.tensors} == {"F16"}
    assert (SORT_4 / "model.safetensors").stat().st_size < 100_000
    assert json.loads((SORT_4 / "config.json").read_text())["toy_task"] == {"task": "sort", "length": 4,
                                                                            "n_symbols": 31}


def test_sort4_answers_trax_s_prompt(sort4):
    assert sort4.tokenizer.complete(sort4, "0 3 15 14 9 0") == ["3 9 14 15"]
    assert sort4.tokenizer.complete(sort4, "31 1 31 2") == ["1 2 31 31"]    # only the values: 0s added


def test_sort4_held_out_sequence_accuracy(sort4):
    task = sort4.tokenizer
    metrics, _ = evaluate(sort4, "lm", task.heldout("lm", 500, eval_seed=2024))
    assert metrics["sequence_accuracy"] >= 0.99


def test_gpt2_infer_answers_with_sort4():
    done = infer("--model", "sort-4", "-p", "0 3 15 14 9 0", "--temperature", "0")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "3 9 14 15\n"


def test_gpt2_infer_bad_toy_prompt_is_one_line():
    done = infer("--model", "sort-4", "-p", "0 3 15 14 0", "--temperature", "0")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith("gpt2_infer.py: error: --prompt: '0 3 15 14 0' is not a sort "
                                                   "prompt: it reads like '0 ")
    done = infer("--model", "sort-4", "-p", "0 3 15 14 40 0")
    assert done.returncode == 2 and "'40' is not in the sort task's notation (values 1..31" in done.stderr


def short_run(tmp_path, **kw):
    cfg = dict(task="fib", length=4, n_symbols=7, d_model=16, n_heads=2, n_layers=1, d_ff=32, steps=4,
               eval_every=4, eval_size=8, out=str(tmp_path / "run"))
    trainer = Trainer(TrainConfig(**dict(cfg, **kw)))
    trainer.run()
    return trainer


@pytest.mark.parametrize("block", ["gpt2", "llama"])
def test_a_toy_lm_run_loads_with_from_pretrained(tmp_path, block):
    trainer = short_run(tmp_path, block=block)
    model = TransformerLM.from_pretrained(trainer.out)
    assert model.tokenizer.spec == trainer.task.spec and not model.training
    ids = trainer.heldout["inputs"][:3]
    np.testing.assert_array_equal(model.forward(ids), trainer.model.eval().forward(ids))
    prompt = trainer.heldout["prompt"][0]
    expected = trainer.model.generate(prompt, 4, temperature=0)[len(prompt):]
    assert model.tokenizer.complete(model, trainer.task.render(prompt)) == [trainer.task.render(expected)]


def test_gpt2_infer_answers_a_toy_run_in_its_notation(tmp_path):
    trainer = short_run(tmp_path)
    prompt = trainer.heldout["prompt"][0]                     # fib: `| s0 s1`, values
    answer = trainer.model.generate(prompt, 4, temperature=0)[len(prompt):]
    done = infer("--model", trainer.out, "-p", trainer.task.render(prompt), "--temperature", "0")
    assert done.returncode == 0, done.stderr
    assert done.stdout == trainer.task.render(answer) + "\n"
    assert all(0 <= int(v) < 7 for v in done.stdout.split())                 # values mod 7, not ids


def test_a_classifier_run_is_a_one_line_error(tmp_path):
    trainer = short_run(tmp_path, task="classify", arch="classifier")
    with pytest.raises(ValueError, match="'EncoderClassifier' trained on the 'classify' task, not a language"):
        load_lm(trainer.out)


def test_export_records_the_task(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from export_pretrained import export
    finally:
        sys.path.remove(str(ROOT / "tools"))
    trainer = short_run(tmp_path, task="sort")
    run_model, exported = export(trainer.out, tmp_path / "exported")
    assert json.loads((tmp_path / "exported" / "config.json").read_text())["toy_task"] == trainer.task.spec
    ids = trainer.heldout["inputs"][:2]
    np.testing.assert_array_equal(exported.forward(ids), run_model.forward(ids))
    assert exported.tokenizer.spec == trainer.task.spec
