"""The trainer: it learns, float32 throughout, bit-for-bit resume, NaN stop, the CLI's errors and --json."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from transformer_np.io.safetensors import load_safetensors
from transformer_np.train import Diverged, Trainer, TrainConfig, TrainingError, defaults_for

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(d_model=32, n_layers=2, n_heads=2, d_ff=64, batch_size=32, lr=3e-3, warmup=20, eval_size=128)


def config(tmp_path, **kw):
    return TrainConfig(**dict(TINY, out=str(tmp_path / "run"), **kw))


def run_cli(*args, timeout=120):
    """train_toy.py in an empty temporary directory: a run without --out never touches the checkout's runs/."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, str(ROOT / "train_toy.py"), *args], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=cwd)


def test_short_run_learns_reverse(tmp_path):
    trainer = Trainer(config(tmp_path, task="reverse", length=4, n_symbols=8, steps=400, eval_every=100))
    result = trainer.run()
    assert result["sequence_accuracy"] >= 0.95, trainer.metrics
    assert result["token_accuracy"] >= 0.98
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines == trainer.metrics and lines[-1]["step"] == result["steps"]
    assert {"step", "train_loss", "train_accuracy", "heldout_loss", "token_accuracy", "sequence_accuracy", "lr",
            "seconds"} <= set(lines[0])
    assert 0.5 < lines[-1]["train_accuracy"] <= 1.0          # far above chance (1/8) on the training batches
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {"checkpoints", "config.json", "metrics.jsonl", "model.safetensors"}
    [checkpoint] = (run / "checkpoints").iterdir()                   # only the newest is kept; no temp files
    assert checkpoint.name == f"step-{result['steps']:08d}"
    assert {p.name for p in checkpoint.iterdir()} == {"model.safetensors", "optimizer.safetensors", "config.json",
                                                      "trainer_state.json", "metrics.jsonl", "manifest.json"}
    for name in ("model.safetensors", "config.json"):                # the top level: the checkpoint's model
        assert (run / name).read_bytes() == (checkpoint / name).read_bytes()


@pytest.mark.parametrize("task, arch", [("sort", "lm"), ("reverse", "seq2seq"), ("classify", "classifier")])
def test_float32_throughout(tmp_path, task, arch):
    trainer = Trainer(config(tmp_path, task=task, arch=arch, length=4, n_symbols=8, steps=2, eval_every=2))
    trainer.run()
    for name, p in trainer.model.named_parameters():
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32, name
    for state in trainer.opt.state.values():
        assert state["m"].dtype == state["v"].dtype == np.float32
    for module in trainer.model.modules():                         # every kept activation
        for key, value in vars(module).items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert value.dtype == np.float32, (type(module).__name__, key, value.dtype)


@pytest.mark.parametrize("arch", ["lm", "seq2seq"])
def test_resume_is_bit_for_bit(tmp_path, arch):
    kw = dict(task="sort", arch=arch, length=4, n_symbols=8, steps=30, eval_every=10, dropout=0.1, early_stop=False)
    straight = Trainer(TrainConfig(**dict(TINY, out=str(tmp_path / "a"), **kw)))
    straight.run()
    first = Trainer(TrainConfig(**dict(TINY, out=str(tmp_path / "b"), **kw)))
    first.run(stop_at=20)
    assert first.step == 20
    resumed = Trainer.resume(tmp_path / "b")
    assert resumed.step == 20
    resumed.run()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    for pa, pb in zip(straight.opt.parameters(), resumed.opt.parameters()):
        assert np.array_equal(straight.opt.state[id(pa)]["v"], resumed.opt.state[id(pb)]["v"])
    assert [m["heldout_loss"] for m in straight.metrics] == [m["heldout_loss"] for m in resumed.metrics]
    saved = load_safetensors(tmp_path / "b" / "model.safetensors")
    assert all(np.array_equal(saved[k], b[k]) for k in b)


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    trainer = Trainer(config(tmp_path, task="copy", length=3, n_symbols=6, steps=50, eval_every=10))
    trainer.run(stop_at=20)
    good = {k: v.copy() for k, v in trainer.model.state_dict().items()}
    trainer.model.wte.weight.data[0, 0] = np.nan                   # poison the model mid-run
    with pytest.raises(Diverged, match=r"loss is nan at step 21.*last good checkpoint: step 20"):
        trainer.run()
    saved = load_safetensors(tmp_path / "run" / "model.safetensors")
    assert all(np.array_equal(saved[k], good[k]) for k in good)
    assert json.loads((tmp_path / "run" / "checkpoints" / "step-00000020" / "trainer_state.json").read_text())[
        "step"] == 20
    assert Trainer.resume(tmp_path / "run").step == 20


def test_huge_lr_diverges_cleanly_from_cli(tmp_path):
    r = run_cli("--task", "copy", "--length", "3", "--symbols", "6", "--d-model", "16", "--heads", "2",
                "--d-ff", "32", "--steps", "200", "--lr", "1e9", "--clip", "0", "--warmup", "1", "--eval-every", "5",
                "--out", str(tmp_path / "x"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("train_toy.py: error: ")
    assert "last good checkpoint" in r.stderr


def test_config_errors():
    with pytest.raises(TrainingError, match="not valid for --task classify"):
        Trainer(TrainConfig(task="classify", arch="lm"))
    with pytest.raises(TrainingError, match="no checkpoint"):
        Trainer.resume("/nonexistent/dir")
    assert defaults_for("classify")["arch"] == "classifier"


@pytest.mark.parametrize("args, message", [
    (["--task", "nope"], "invalid choice"),
    (["--steps", "0"], "--steps"),
    (["--lr", "-1"], "--lr"),
    (["--batch-size", "x"], "--batch-size"),
    (["--arch", "classifier"], "not valid for --task reverse"),
    (["--task", "classify", "--arch", "seq2seq"], "not valid for --task classify"),
    (["--task", "text"], "needs --data"),
    (["--task", "text", "--data", "/no/such/file.txt"], "no such file"),
    (["--resume", "--out", "/no/such/run"], "no checkpoint"),
    (["--heads", "3"], "must divide"),
])
def test_cli_user_errors(args, message):
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train_toy.py: error: ") and message in lines[0], r.stderr
    assert r.stdout == ""


def test_cli_json_resume_and_help(tmp_path):
    out = str(tmp_path / "cli")
    small = ["--task", "copy", "--length", "3", "--symbols", "6", "--d-model", "16", "--layers", "1",
             "--heads", "2", "--d-ff", "32", "--eval-every", "10", "--eval-size", "32", "--out", out]
    r = run_cli(*small, "--steps", "20", "--no-early-stop", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"task", "arch", "steps", "sequence_accuracy", "token_accuracy", "final_loss", "seconds"} <= set(result)
    assert (result["task"], result["arch"], result["steps"]) == ("copy", "lm", 20)
    r = run_cli("--resume", "--out", out, "--steps", "30", "--json")        # --steps may grow on resume
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["steps"] == 30
    r = run_cli("--resume", "--out", out, "--task", "sort")
    assert r.returncode == 2 and "differs from the checkpoint" in r.stderr
    r = run_cli("--help")
    assert r.returncode == 0 and "--resume" in r.stdout and "default" in r.stdout and "per-task defaults" in r.stdout


def test_cli_text_and_classifier(tmp_path):
    data = tmp_path / "tiny.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 30, encoding="utf-8")
    r = run_cli("--task", "text", "--data", str(data), "--block-size", "16", "--d-model", "16", "--layers", "1",
                "--heads", "2", "--d-ff", "32", "--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "t"))
    assert r.returncode == 0, r.stderr
    assert "sample:" in r.stdout and "token acc" in r.stdout
    r = run_cli("--task", "classify", "--length", "4", "--d-model", "16", "--layers", "1", "--heads", "2",
                "--d-ff", "32", "--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "c"), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["arch"] == "classifier" and 0.0 <= result["sequence_accuracy"] <= 1.0


def test_text_with_learned_bpe_tokenizer_learns_the_text(tmp_path):
    from transformer_np.train import Trainer, TrainConfig, defaults_for
    data = tmp_path / "zen.txt"
    data.write_text("Beautiful is better than ugly. Explicit is better than implicit. " * 40, encoding="utf-8")
    values = defaults_for("text")
    values.update(data=str(data), tokenizer="bpe", bpe_vocab_size=300, block_size=16, d_model=32, n_layers=1,
                  n_heads=2, d_ff=64, steps=300, eval_every=300, lr=3e-3, warmup=10, out=str(tmp_path / "run"))
    trainer = Trainer(TrainConfig(**values))
    assert trainer.task.tokenizer is not None and trainer.model.vocab_size == trainer.task.tokenizer.vocab_size
    assert trainer.task.decode(trainer.task.encode("Explicit is better")) == "Explicit is better"
    result = trainer.run()
    assert result["token_accuracy"] > 0.9            # a repeated text is easy to predict once tokenised


def test_text_tokenizer_flag_is_checked():
    r = run_cli("--task", "text", "--data", __file__, "--tokenizer", "words")
    assert r.returncode == 2 and "--tokenizer" in r.stderr and "Traceback" not in r.stderr
