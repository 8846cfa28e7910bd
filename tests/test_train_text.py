"""Text runs: the Hugging Face GPT-2 checkpoint layout, fine-tuning GPT-2 (--init), gradient accumulation,
the learning-rate schedule on a longer resume, the held-out windows, and the CLI's guard rails."""
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from transformer_np.models import GPT2
from transformer_np.tasks import make_task
from transformer_np.tokenizer import BPETokenizer, CharTokenizer
from transformer_np.train import Trainer, TrainConfig, defaults_for, evaluate

ROOT = Path(__file__).resolve().parents[1]
TINY_GPT2 = ROOT / "tests" / "fixtures" / "gpt2_tiny" / "hf_layout"
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n") * 12


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def text_config(text_file, out, **overrides):
    values = defaults_for("text")
    values.update(data=str(text_file), block_size=16, d_model=16, n_layers=1, n_heads=2, d_ff=32, steps=6,
                  eval_every=3, eval_size=8, warmup=2, out=str(out))
    values.update(overrides)
    return TrainConfig(**values)


def run_cli(*args, **kwargs):
    """train_toy.py in an empty temporary directory: a run without --out never touches the checkout's runs/."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, str(ROOT / "train_toy.py"), *args], capture_output=True, text=True,
                              timeout=120, env=env, cwd=cwd, **kwargs)


def logits_of(model, ids):
    model.eval()
    return model.forward(np.array([ids]))[0]


def test_text_defaults_are_nanogpts_baby_gpt_recipe():
    d = defaults_for("text")
    recipe = dict(block_size=64, batch_size=12, n_layers=4, n_heads=4, d_model=128, d_ff=512, steps=2000, lr=1e-3,
                  warmup=100, min_lr_ratio=0.1, beta1=0.9, beta2=0.99, weight_decay=0.1, dropout=0.0, clip=1.0)
    assert {k: d[k] for k in recipe} == recipe


def test_char_run_is_a_hugging_face_gpt2_directory(tmp_path, text_file):
    trainer = Trainer(text_config(text_file, tmp_path / "run"))
    trainer.run()
    out = tmp_path / "run"
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["n_embd"] == 16 and config["n_positions"] == 16
    assert config["vocab_size"] == len(config["char_vocab"]) == len(set(TEXT))
    assert CharTokenizer.from_config(config).chars == sorted(set(TEXT))
    assert json.loads((out / "run_config.json").read_text())["train"]["steps"] == 6
    assert not (out / "vocab.json").exists()
    ids = trainer.task.encode("Speak, speak.")
    np.testing.assert_array_equal(logits_of(GPT2.from_pretrained(out), ids), logits_of(trainer.model, ids))


def test_bpe_run_saves_its_tokenizer(tmp_path, text_file):
    trainer = Trainer(text_config(text_file, tmp_path / "run", tokenizer="bpe", bpe_vocab_size=270))
    trainer.run()
    saved = BPETokenizer.from_pretrained(tmp_path / "run")
    assert saved.encode("You are all resolved") == trainer.task.encode("You are all resolved")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["vocab_size"] == 270


def test_text_resume_is_bit_for_bit(tmp_path, text_file):
    straight = Trainer(text_config(text_file, tmp_path / "a", dropout=0.1))
    straight.run()
    first = Trainer(text_config(text_file, tmp_path / "b", dropout=0.1))
    first.run(stop_at=3)
    resumed = Trainer.resume(tmp_path / "b")
    assert resumed.step == 3 and not resumed.notes
    resumed.run()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_grad_accum_two_halves_equal_one_full_batch(tmp_path, text_file):
    full = Trainer(text_config(text_file, tmp_path / "a", batch_size=8))
    halves = Trainer(text_config(text_file, tmp_path / "b", batch_size=8, grad_accum=2))
    full.run(stop_at=1)
    halves.run(stop_at=1)
    a, b = full.model.state_dict(), halves.model.state_dict()
    assert any(not np.array_equal(a[k], Trainer(text_config(text_file, tmp_path / "c")).model.state_dict()[k])
               for k in a)                                          # the step did change the weights
    for (name, p), q in zip(full.model.named_parameters(), halves.model.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-4, atol=1e-8, err_msg=name)   # the same gradient
    for k in a:       # Adam's first step divides by |g|: where g is ~0 rounding shows, up to ~lr
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=2e-4, err_msg=k)
        assert np.mean(np.abs(a[k] - b[k]) < 1e-7) > 0.9, k
    assert full.metrics[0]["train_loss"] == pytest.approx(halves.metrics[0]["train_loss"], rel=1e-6)


def test_grad_accum_must_divide_the_batch(tmp_path, text_file):
    r = run_cli("--task", "text", "--data", str(text_file), "--batch-size", "12", "--grad-accum", "5",
                "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "--grad-accum 5 must divide --batch-size 12" in r.stderr


def test_longer_resume_continues_the_schedule_without_a_jump(tmp_path, text_file):
    first = Trainer(text_config(text_file, tmp_path / "run", steps=6, warmup=2, min_lr_ratio=0.1))
    first.run()
    last_lr = first.lr_at(5)                                         # the rate of the run's last step
    resumed = Trainer.resume(tmp_path / "run", steps=12)
    assert len(resumed.notes) == 1 and "--steps 12" in resumed.notes[0] and "no jump" in resumed.notes[0]
    rates = [resumed.lr_at(s) for s in range(6, 12)]
    assert rates[0] <= last_lr * 1.0001 and rates == sorted(rates, reverse=True)
    assert resumed.lr_at(12) == pytest.approx(first.cfg.lr * 0.1)
    resumed.run()
    again = Trainer.resume(tmp_path / "run", steps=12)               # the restarted schedule is saved
    assert again.schedule_restart == resumed.schedule_restart and not again.notes


def test_finetune_tiny_gpt2_learns_and_reloads(tmp_path, text_file):
    """--init: the checkpoint's sizes and byte tokenizer; held-out loss falls; the saved directory loads
    with the same logits (and in transformers: tools/check_text_checkpoint.py)."""
    cfg = text_config(text_file, tmp_path / "ft", init=str(TINY_GPT2), steps=40, eval_every=20, eval_size=16,
                      lr=3e-3, warmup=5, block_size=32)
    trainer = Trainer(cfg)
    start = evaluate(trainer.model, "lm", trainer.heldout)[0]["heldout_loss"]
    trainer.run()
    assert trainer.cfg.d_model == 32 and trainer.cfg.n_layers == 2 and trainer.model.vocab_size == 256
    assert trainer.metrics[-1]["heldout_loss"] < start - 1.0, (start, trainer.metrics)
    out = tmp_path / "ft"
    assert (out / "vocab.json").is_file() and (out / "merges.txt").is_file()
    assert json.loads((out / "config.json").read_text())["n_positions"] == 64      # the checkpoint's window
    ids = BPETokenizer.from_pretrained(out).encode("Speak, speak.")
    np.testing.assert_array_equal(logits_of(GPT2.from_pretrained(out), ids), logits_of(trainer.model, ids))


def test_text_heldout_tiles_the_heldout_text(tmp_path, text_file):
    task = make_task("text", path=str(text_file), block_size=16)
    every = task.heldout("lm", 10**6)
    n = (len(task.heldout_ids) - 17) // 16 + 1
    assert len(every["inputs"]) == n
    np.testing.assert_array_equal(every["inputs"].reshape(-1), task.heldout_ids[:16 * n])   # no overlap, no gap
    assert len(task.heldout("lm", 5)["inputs"]) == 5


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason=f"tiny Shakespeare not found at {SHAKESPEARE}")
def test_shakespeare_split():
    task = make_task("text", path=str(SHAKESPEARE), block_size=64)
    assert task.vocab_size == 65 and len(task.heldout_ids) == 111_539
    assert len(task.heldout("lm", 10**6)["inputs"]) == 1742


# ------------------------------------------------------------------------------------------ guard rails

def small_run(text_file, out, *extra):
    return ["--task", "text", "--data", str(text_file), "--block-size", "16", "--d-model", "16", "--layers", "1",
            "--heads", "2", "--d-ff", "32", "--eval-size", "8", "--out", str(out), *extra]


def assert_one_line_error(r, message):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr


def test_cli_protects_an_existing_run(tmp_path, text_file):
    out = tmp_path / "run"
    assert run_cli(*small_run(text_file, out, "--steps", "2", "--eval-every", "2")).returncode == 0
    before = (out / "model.safetensors").read_bytes()
    r = run_cli(*small_run(text_file, out, "--steps", "2", "--seed", "5"))
    assert_one_line_error(r, "--resume")
    assert "--overwrite" in r.stderr and (out / "model.safetensors").read_bytes() == before
    r = run_cli(*small_run(text_file, out, "--steps", "2", "--eval-every", "2", "--seed", "5", "--overwrite"))
    assert r.returncode == 0, r.stderr
    assert (out / "model.safetensors").read_bytes() != before


@pytest.mark.parametrize("args, message", [
    (["--task", "sort", "--data", "FILE"], "--data is for --task text"),
    (["--task", "text", "--data", "DIR/nothing-*.txt"], "nothing-*.txt: no file matches this pattern"),
    (["--task", "text", "--data", "FILE", "--out", "FILE"], "is a file, not a directory"),
    (["--task", "text", "--data", "FILE", "--init", "gpt2", "--layers", "2"], "drop --layers"),
    (["--task", "text", "--data", "FILE", "--init", "/no/such/model"], "--init /no/such/model"),
])
def test_cli_text_user_errors(tmp_path, text_file, args, message):
    args = [str(text_file) if a == "FILE" else a.replace("DIR", str(tmp_path)) for a in args]
    assert_one_line_error(run_cli(*args, "--steps", "1"), message)


def test_cli_prompt_starts_every_sample(tmp_path, text_file):
    r = run_cli(*small_run(text_file, tmp_path / "r", "--steps", "4", "--eval-every", "2", "--prompt", "All:"))
    assert r.returncode == 0, r.stderr
    samples = [line for line in r.stdout.splitlines() if line.startswith("  sample:")]
    assert len(samples) == 2 and all(s.startswith("  sample: All:") for s in samples)


def test_ctrl_c_checkpoints_and_exits_130(tmp_path, text_file):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "train_toy.py"),
                             *small_run(text_file, tmp_path / "r", "--steps", "100000", "--eval-every", "5")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    while "sample:" not in proc.stdout.readline():                   # training is under way
        pass
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "interrupted" in stdout and "--resume" in stdout
    [checkpoint] = (tmp_path / "r" / "checkpoints").iterdir()
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["stopped_reason"] == "interrupted" and state["step"] >= 5


def test_output_piped_into_head_ends_quietly(tmp_path, text_file):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "train_toy.py"),
                             *small_run(text_file, tmp_path / "r", "--steps", "100000", "--eval-every", "5")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    proc.stdout.readline()
    proc.stdout.close()                                              # what `| head -1` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and stderr == "", stderr


def test_cli_out_below_a_file_and_llama_on_a_classifier_task_are_one_line_errors(tmp_path):
    (tmp_path / "a_file").write_text("not a directory")
    r = run_cli("--steps", "1", "--out", str(tmp_path / "a_file" / "run"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "error:" in r.stderr and "Not a directory" in r.stderr
    r = run_cli("--arch", "llama", "--task", "classify", "--steps", "1", "--out", str(tmp_path / "c"))
    assert r.returncode == 2 and "--arch llama is not valid for --task classify" in r.stderr


def test_periodic_evaluations_estimate_and_the_last_scores_every_heldout_window(tmp_path, text_file):
    """Before cfg.steps: eval_batches batches of held-out windows (fixed, spread over the text); at the end:
    all of them, the same number evaluate() gives on the whole held-out set. Evaluation keeps no activations."""
    trainer = Trainer(text_config(text_file, tmp_path / "run", eval_size=40, eval_batches=2, batch_size=4))
    n_windows = len(trainer.heldout["targets"])
    assert n_windows > 8 and len(trainer.heldout_estimate["targets"]) == 8
    trainer.run()
    assert [m["heldout_examples"] for m in trainer.metrics] == [8, n_windows]
    exact = evaluate(trainer.model, "lm", trainer.heldout, chunk=n_windows)[0]["heldout_loss"]
    assert trainer.metrics[-1]["heldout_loss"] == pytest.approx(exact, rel=1e-6)
    estimate = evaluate(trainer.model, "lm", trainer.heldout_estimate)[0]["heldout_loss"]
    assert estimate != pytest.approx(exact, rel=1e-6)                # a different (smaller) set of windows
    assert not hasattr(trainer.model.h[0].mlp.c_fc, "x")             # released: no activations held
