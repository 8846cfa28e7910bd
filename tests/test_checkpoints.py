"""A checkpoint is one unit: a kill -9 or a full disk at any write step leaves the previous checkpoint or the
new one, whole; `resume` then continues bit for bit (np.array_equal with an uninterrupted run) or refuses
with one line; damaged checkpoints are skipped (said) or refused (one line), never half-loaded; the --out
rules and the lock. Layout: transformer_np/checkpoints.py."""
import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import train_toy  # noqa: E402  (the CLI, called in-process: its exit codes and one-line errors)
from transformer_np import checkpoints  # noqa: E402
from transformer_np.train import CheckpointError, Trainer, TrainConfig, TrainingError  # noqa: E402

TINY = dict(task="copy", length=3, n_symbols=6, d_model=16, n_layers=1, n_heads=2, d_ff=32, batch_size=16,
            steps=30, eval_every=10, eval_size=16, dropout=0.1, early_stop=False, warmup=5)
# The calls that change what is on disk: a crash just before any of them is a crash "between write steps".
WRITE_STEPS = ("replace", "rename", "unlink", "rmdir")


def config(out, **kw):
    return TrainConfig(**dict(TINY, out=str(out), **kw))


def run_description(path):
    """A toy run's config.json without the one field that differs between directories (its --out)."""
    run = json.loads(path.read_text())
    del run["train"]["out"]
    return run


def adam_moments(trainer):
    """AdamW's m and v by parameter name."""
    return {f"{which}.{name}": trainer.opt.state[id(p)][which].copy()
            for name, p in trainer.named.items() if id(p) in trainer.opt.state for which in ("m", "v")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its final weights and metrics, and each checkpoint's model file."""
    out = tmp_path_factory.mktemp("reference") / "run"
    trainer, model_file, weights, moments = Trainer(config(out)), {}, {}, {}
    for stop in (10, 20, 30):
        trainer.run(stop_at=stop)
        model_file[stop] = (out / "checkpoints" / f"step-{stop:08d}" / "model.safetensors").read_bytes()
        weights[stop] = {k: v.copy() for k, v in trainer.model.state_dict().items()}
        moments[stop] = adam_moments(trainer)
    return {"weights": weights, "moments": moments, "metrics": trainer.metrics, "model_file": model_file,
            "config": run_description(out / "config.json")}


def assert_resumes_bit_for_bit(out, reference, steps_allowed=(10, 20), to=30):
    """Resume the run in `out`, train to step `to`: the weights, AdamW's moments and the held-out losses are
    exactly the uninterrupted run's."""
    resumed = Trainer.resume(out)
    assert resumed.step in steps_allowed
    resumed.run(stop_at=to)
    assert all(np.array_equal(reference["weights"][to][k], v) for k, v in resumed.model.state_dict().items())
    moments, expected = adam_moments(resumed), reference["moments"][to]
    assert moments.keys() == expected.keys() and all(np.array_equal(moments[k], expected[k]) for k in moments)
    assert [m["heldout_loss"] for m in resumed.metrics] == [m["heldout_loss"] for m in reference["metrics"]][:to // 10]
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] == to
    return resumed


def assert_top_level_is_one_checkpoint(out, reference):
    """The model files at the top of --out are those of one complete checkpoint. Before the first one is
    copied whole there is no config.json yet, so loaders say "not a model directory"."""
    if (out / "model.safetensors").exists():
        assert (out / "model.safetensors").read_bytes() in reference["model_file"].values()
    if (out / "config.json").exists():
        assert (out / "model.safetensors").exists() and run_description(out / "config.json") == reference["config"]


@contextlib.contextmanager
def fail_at(k, action):
    """Call action() instead of the k-th disk-changing os call (counted from the start of the block)."""
    real = {name: getattr(os, name) for name in WRITE_STEPS}
    count = [0]

    def wrapper(name):
        def call(*args, **kwargs):
            count[0] += 1
            if count[0] == k:
                action()
            return real[name](*args, **kwargs)
        return call
    try:
        for name in WRITE_STEPS:
            setattr(os, name, wrapper(name))
        yield count
    finally:
        for name, function in real.items():
            setattr(os, name, function)


def count_write_steps(out):
    with fail_at(0, None) as count:
        Trainer(config(out)).run(stop_at=20)
    return count[0]


def killed_run(out, k):
    """A forked child trains to step 20 and is killed with SIGKILL just before its k-th write step."""
    pid = os.fork()
    if pid == 0:                                  # the child: never returns into pytest
        code = 1
        try:
            with fail_at(k, lambda: os.kill(os.getpid(), signal.SIGKILL)):
                Trainer(config(out)).run(stop_at=20)
            code = 0
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


def test_kill_at_every_write_step_resumes_bit_for_bit_or_refuses(tmp_path, reference):
    n = count_write_steps(tmp_path / "count")
    assert 20 <= n <= 60                          # two checkpoints' worth of renames and deletions
    outcomes = {"resumed": 0, "refused": 0}
    for k in range(1, n + 1):
        out = tmp_path / f"k{k}"
        status = killed_run(out, k)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (k, status)
        assert_top_level_is_one_checkpoint(out, reference)
        try:
            checkpoints.newest_checkpoint(out)
        except CheckpointError as e:              # killed before the first checkpoint was published
            assert "\n" not in str(e) and "no checkpoint" in str(e)
            assert not (out / "model.safetensors").exists()
            outcomes["refused"] += 1
            continue
        assert_resumes_bit_for_bit(out, reference, to=20)
        assert checkpoints.checkpoint_dirs(out)[0].name == "step-00000020"
        outcomes["resumed"] += 1
    assert outcomes["resumed"] >= n // 2 and outcomes["refused"] >= 1, outcomes


def test_disk_error_at_every_write_step_keeps_a_whole_checkpoint(tmp_path, reference):
    """A disk error reported by a rename or a delete (errors in the writes themselves: the tmpfs test)."""
    n = count_write_steps(tmp_path / "count")
    for k in range(1, n + 1, 2):
        out = tmp_path / f"k{k}"

        def full():
            raise OSError(errno.ENOSPC, "No space left on device")
        try:
            with fail_at(k, full):
                Trainer(config(out)).run(stop_at=20)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        else:                                     # the failed call was a clean-up (deleting an old checkpoint)
            assert checkpoints.checkpoint_dirs(out)[0].name == "step-00000020"
        assert not (out / checkpoints.LOCK_FILE).exists()                 # released on the way out
        assert not [p for p in (out / "checkpoints").glob(".staging-*")] if (out / "checkpoints").exists() else True
        assert_top_level_is_one_checkpoint(out, reference)
        if checkpoints.has_checkpoint(out):
            assert_resumes_bit_for_bit(out, reference, steps_allowed=(10, 20), to=20)


@pytest.fixture
def tmpfs(small_tmpfs):
    return small_tmpfs("16k")


def test_a_full_tmpfs_at_each_size_keeps_the_last_checkpoint(tmpfs, tmp_path, reference):
    """Sizes from too small for one checkpoint to enough for all: every run either finishes or stops with
    ENOSPC naming a file; no temporary file is left; the checkpoint left resumes bit for bit elsewhere."""
    failed_at = set()
    for size_kb in range(40, 168, 8):
        subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(tmpfs)], check=True)
        for entry in tmpfs.iterdir():
            shutil.rmtree(entry)
        out = tmpfs / "run"
        try:
            Trainer(config(out)).run()
        except OSError as e:
            assert e.errno == errno.ENOSPC and e.filename and e.filename.startswith(str(out)), e
            failed_at.add(checkpoints.checkpoint_dirs(out)[0].name if checkpoints.has_checkpoint(out) else None)
        temp = [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".staging")]
        assert temp == [] and not (out / checkpoints.LOCK_FILE).exists()
        assert_top_level_is_one_checkpoint(out, reference) if checkpoints.has_checkpoint(out) else None
        if checkpoints.has_checkpoint(out) and checkpoints.checkpoint_dirs(out)[0].name != "step-00000030":
            copy = tmp_path / f"copy{size_kb}"
            shutil.copytree(out, copy)
            assert_resumes_bit_for_bit(copy, reference)
    assert failed_at == {None, "step-00000010", "step-00000020"}, failed_at    # before, between and after


# ------------------------------------------------------------------------------------ damaged checkpoints

def saved_run(tmp_path, stop=20):
    out = tmp_path / "run"
    Trainer(config(out)).run(stop_at=stop)
    return out


def snapshot(directory):
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


MUTATIONS = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]),
    "garbage": lambda p: p.write_bytes(p.read_bytes()[:40] + bytes([p.read_bytes()[40] ^ 0x55]) + p.read_bytes()[41:]),
    "wrong JSON": lambda p: p.write_text('{"step": "twenty", "files": []}'),
    "nested too deeply": lambda p: p.write_text("[" * 100_000),     # json.loads: a RecursionError
    "missing": lambda p: p.unlink(),
}


def main(argv):
    """train_toy.py's exit status (argparse's errors exit through SystemExit)."""
    try:
        return train_toy.main(argv)
    except SystemExit as e:
        return e.code


def resume_cli(out, capsys):
    code = main(["--resume", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    return code, captured.err


def test_each_damaged_file_of_the_only_checkpoint_is_one_line_and_nothing_is_rewritten(tmp_path, capsys):
    out = saved_run(tmp_path)
    [checkpoint] = checkpoints.checkpoint_dirs(out)
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    cases = 0
    for name in sorted(p.name for p in checkpoint.iterdir()):
        for kind, mutate in MUTATIONS.items():
            shutil.rmtree(out)
            shutil.copytree(pristine, out)
            mutate(checkpoint / name)
            before = snapshot(out)
            code, err = resume_cli(out, capsys)
            lines = err.strip().splitlines()
            assert code == 2 and len(lines) == 1 and "Traceback" not in err, (name, kind, err)
            assert "no complete checkpoint" in lines[0] and name in lines[0], (name, kind, lines[0])
            assert snapshot(out) == before, (name, kind)                 # a failed resume writes nothing
            cases += 1
    assert cases == 6 * 5                       # model, optimizer, config, trainer state, metrics, manifest


def test_damaged_top_level_files_do_not_matter_and_a_cut_metrics_line_is_dropped(tmp_path, reference):
    out = saved_run(tmp_path)
    (out / "model.safetensors").write_bytes(b"garbage")
    (out / "config.json").unlink()
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 30, "train_lo')                                    # what a kill mid-append leaves
    resumed = assert_resumes_bit_for_bit(out, reference)
    assert (out / "model.safetensors").read_bytes() == reference["model_file"][30]
    assert not resumed.notes


def test_a_damaged_newest_checkpoint_is_skipped_with_a_note(tmp_path, reference):
    out = saved_run(tmp_path, stop=10)
    older = tmp_path / "step-00000010"
    shutil.copytree(out / "checkpoints" / "step-00000010", older)
    Trainer.resume(out).run(stop_at=20)
    shutil.copytree(older, out / "checkpoints" / "step-00000010")             # two checkpoints now
    MUTATIONS["garbage"](out / "checkpoints" / "step-00000020" / "optimizer.safetensors")
    resumed = Trainer.resume(out)
    assert resumed.step == 10 and len(resumed.notes) == 1
    assert resumed.notes[0].startswith("skipped the damaged checkpoint step-00000020: ")
    assert "optimizer.safetensors: contents differ from the manifest" in resumed.notes[0]
    resumed.run()
    assert all(np.array_equal(reference["weights"][30][k], v) for k, v in resumed.model.state_dict().items())
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000030"]


def legacy_run(tmp_path):
    """A run in the layout of the trainer before checkpoints/ (its files at the top, no manifest)."""
    out = saved_run(tmp_path)
    [checkpoint] = checkpoints.checkpoint_dirs(out)
    for p in checkpoint.iterdir():
        if p.name != "manifest.json":
            shutil.copy(p, out / p.name)
    shutil.rmtree(out / "checkpoints")
    return out


def test_an_older_trainers_run_resumes_and_its_damage_is_one_line(tmp_path, reference, capsys):
    out = legacy_run(tmp_path)
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 30, "train_lo')
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    resumed = assert_resumes_bit_for_bit(out, reference, steps_allowed=(20,))
    assert resumed.notes == [f"dropped the unfinished last line of {out / 'metrics.jsonl'} (line 3)"]
    assert not (out / "trainer_state.json").exists() and checkpoints.checkpoint_dirs(out)[0].name == "step-00000030"
    for name in ("trainer_state.json", "optimizer.safetensors", "model.safetensors", "config.json"):
        for kind in ("truncated", "wrong JSON", "nested too deeply", "missing"):
            shutil.rmtree(out)
            shutil.copytree(pristine, out)
            MUTATIONS[kind](out / name)
            before = snapshot(out)
            code, err = resume_cli(out, capsys)
            assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, kind, err)
            assert snapshot(out) == before


# --------------------------------------------------------------------------------------- --out and the lock

def cli(capsys, *args):
    code = main([*args, "--task", "copy", "--length", "3", "--symbols", "6", "--d-model", "16",
                           "--layers", "1", "--heads", "2", "--d-ff", "32", "--steps", "4", "--eval-every", "2",
                           "--eval-size", "8", "--json"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_users_files_are_never_replaced(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.safetensors").write_text("mine")
    code, _, err = cli(capsys, "--out", str(mine))
    assert code == 2 and err.count("\n") == 1 and "holds model.safetensors but no checkpoint" in err
    code, _, err = cli(capsys, "--out", str(mine), "--overwrite")
    assert code == 2 and "holds model.safetensors" in err
    assert (mine / "model.safetensors").read_text() == "mine" and len(list(mine.iterdir())) == 1
    run = tmp_path / "run"
    assert cli(capsys, "--out", str(run))[0] == 0
    (run / "notes.txt").write_text("my notes")
    for extra in ([], ["--overwrite"], ["--resume"]):
        code, _, err = cli(capsys, "--out", str(run), *extra)
        assert code == 2 and err.count("\n") == 1 and "holds notes.txt, which is not part of a training run" in err
    code, _, err = cli(capsys, "--out", "")
    assert code == 2 and "--out must name a directory" in err


def test_without_out_a_rerun_starts_the_next_run_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = json.loads(cli(capsys)[1].splitlines()[-1])
    code = main(["--task", "copy", "--length", "3", "--symbols", "6", "--d-model", "16", "--layers", "1",
                           "--heads", "2", "--d-ff", "32", "--steps", "2", "--eval-every", "2", "--eval-size", "8"])
    out = capsys.readouterr().out
    assert first["out"] == "runs/copy-lm" and code == 0
    assert "note: runs/copy-lm holds a run already (continue it with --resume --out runs/copy-lm); this run goes " \
           "to runs/copy-lm-2" in out
    assert sorted(os.listdir("runs")) == ["copy-lm", "copy-lm-2"]
    code, _, err = cli(capsys, "--out", "runs/copy-lm")                       # an explicit --out keeps the guard
    assert code == 2 and "already holds a run" in err


def test_the_lock_stops_a_second_run_and_a_dead_runs_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    host = socket.gethostname()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / "train.lock").write_text(json.dumps({"pid": sleeper.pid, "host": host}))
        code, _, err = cli(capsys, "--out", str(out))
        assert code == 2 and err.count("\n") == 1 and f"is in use by another run (pid {sleeper.pid}" in err
    finally:
        sleeper.kill()
        sleeper.wait()
    (out / "train.lock").write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    code, _, err = cli(capsys, "--out", str(out))
    assert code == 2 and "in use by pid 1 on host elsewhere" in err
    (out / "train.lock").unlink()
    assert cli(capsys, "--out", str(out))[0] == 0
    (out / "train.lock").write_text(json.dumps({"pid": sleeper.pid, "host": host}))     # a killed run's lock
    assert main(["--resume", "--out", str(out), "--steps", "6"]) == 0
    stdout = capsys.readouterr().out
    assert f"note: took over {out / 'train.lock'} (left by pid {sleeper.pid}, which is no longer running)" in stdout
    assert not (out / "train.lock").exists()


def test_an_unfinished_run_is_replaced_only_when_asked(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 2, "train_loss"')
    code, _, err = cli(capsys, "--out", str(out))
    assert code == 2 and "stopped before its first checkpoint" in err
    assert cli(capsys, "--out", str(out), "--overwrite")[0] == 0


def test_ctrl_c_while_loading_is_130_and_one_line(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_toy.train.Trainer, "__init__", interrupted)
    code, _, err = cli(capsys, "--out", str(tmp_path / "run"))
    assert code == 130 and err.strip() == "train_toy.py: interrupted"
    assert not (tmp_path / "run").exists()


def test_the_api_refuses_foreign_files_and_replaces_its_own_run(tmp_path):
    out = saved_run(tmp_path, stop=10)
    Trainer(config(out, seed=3)).run(stop_at=10)                   # a new run: replaces the old one
    assert json.loads((checkpoints.checkpoint_dirs(out)[0] / "config.json").read_text())["train"]["seed"] == 3
    (out / "README").write_text("mine")
    with pytest.raises(TrainingError, match="holds README, which is not part of a training run"):
        Trainer(config(out)).run(stop_at=10)
