"""The tokenizer command line under bad input and faults, as a user's shell sees it (subprocesses).

Every user error: exit 2, one line on stderr, no traceback. A full disk: exit 1, one line naming the
file. Ctrl-C: exit 130, no traceback. A closed output pipe: quiet. Nothing in --out is replaced
without --overwrite. The cases run as parallel subprocesses to keep the file to a few seconds.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from transformer_np.tokenizer import BPETokenizer

COMMAND = [sys.executable, "-m", "transformer_np.tokenizer"]


def start(args, stdin=subprocess.DEVNULL, text=True):
    return subprocess.Popen([*COMMAND, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=text)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Inputs for the cases: a corpus, a non-UTF-8 file, bad tokenizer directories, occupied --out dirs."""
    root = tmp_path_factory.mktemp("cli")
    (root / "corpus.txt").write_text("low lower lowest newer newest " * 40, encoding="utf-8")
    (root / "latin1.txt").write_bytes("caf\xe9 ol\xe9".encode("latin-1"))
    good = root / "good_tok"
    BPETokenizer.train("ab ab abc", 260, progress=False).save(good)
    huge_id = root / "huge_id_tok"
    huge_id.mkdir()
    data = json.loads((good / "vocab.json").read_text(encoding="utf-8"))
    data["<|big|>"] = 3 * 10**8
    (huge_id / "vocab.json").write_text(json.dumps(data), encoding="utf-8")
    (huge_id / "merges.txt").write_text((good / "merges.txt").read_text(encoding="utf-8"), encoding="utf-8")
    deep = root / "deep_tok"
    deep.mkdir()
    (deep / "tokenizer.json").write_text("[" * 100_000, encoding="utf-8")
    for name, content in (("has_vocab", "mine"), ("has_other", "my notes")):
        (root / name).mkdir()
        (root / name / ("vocab.json" if name == "has_vocab" else "notes.txt")).write_text(content, encoding="utf-8")
    return root


USER_ERRORS = {
    "unknown command": ["bogus"],
    "no command": [],
    "tokenizer dir missing": ["encode", "--tokenizer", "{root}/nope", "x"],
    "tokenizer id 3*10**8": ["encode", "--tokenizer", "{root}/huge_id_tok", "x"],
    "tokenizer.json nested 100000 deep": ["count", "--tokenizer", "{root}/deep_tok", "{root}/corpus.txt"],
    "decode negative id": ["decode", "-5"],
    "decode id past the vocabulary": ["decode", "99999999999999999999"],
    "decode a word": ["decode", "1e3"],
    "count missing file": ["count", "{root}/missing.txt"],
    "count a directory": ["count", "{root}"],
    "count non-UTF-8": ["count", "{root}/latin1.txt"],
    "encode -f non-UTF-8": ["encode", "-f", "{root}/latin1.txt"],
    "train missing corpus": ["train", "{root}/missing.txt", "--vocab-size", "260", "--out", "{root}/new1"],
    "train non-UTF-8 corpus": ["train", "{root}/latin1.txt", "--vocab-size", "260", "--out", "{root}/new2"],
    "train vocab size too small": ["train", "{root}/corpus.txt", "--vocab-size", "-1", "--out", "{root}/new3"],
    "train vocab size not a number": ["train", "{root}/corpus.txt", "--vocab-size", "1e3", "--out", "{root}/new4"],
    "train --out empty": ["train", "{root}/corpus.txt", "--vocab-size", "260", "--out", ""],
    "train --out is a file": ["train", "{root}/corpus.txt", "--vocab-size", "260", "--out", "{root}/corpus.txt"],
    "train --out holds vocab.json": ["train", "{root}/corpus.txt", "--vocab-size", "260", "--out", "{root}/has_vocab"],
    "train --out holds a user file": ["train", "{root}/corpus.txt", "--vocab-size", "260", "--out", "{root}/has_other"],
    "train --out below a file": ["train", "{root}/corpus.txt", "--vocab-size", "260", "--out", "{root}/corpus.txt/x"],
    "unknown flag": ["count", "--bogus"],
}


def test_every_user_error_is_one_line_and_exit_2(files):
    runs = {name: start([arg.format(root=files) for arg in args]) for name, args in USER_ERRORS.items()}
    stdin_run = start(["count"], stdin=subprocess.PIPE, text=False)
    _, stdin_err = stdin_run.communicate(b"\xff\xfe not UTF-8")
    failures = []
    for name, run in runs.items():
        _, err = run.communicate(timeout=120)
        lines = err.strip().splitlines()
        if run.returncode != 2 or len(lines) != 1 or "Traceback" in err:
            failures.append(f"{name}: exit {run.returncode}, stderr {err!r:.300}")
    assert not failures, "\n".join(failures)
    assert stdin_run.returncode == 2 and stdin_err.strip() == b"error: <stdin>: not valid UTF-8 text"
    print(f"\n{len(runs) + 1} CLI user-error cases: exit 2, one line each")
    # Nothing that was there is replaced or added to.
    assert (files / "has_vocab" / "vocab.json").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in (files / "has_other").iterdir()) == ["notes.txt"]
    assert not any((files / f"new{i}").exists() for i in range(1, 5))


def test_messages_name_the_file_and_the_way_out(files):
    run = start(["train", str(files / "corpus.txt"), "--vocab-size", "260", "--out", str(files / "has_vocab")])
    assert run.communicate()[1] == (f"error: {files / 'has_vocab' / 'vocab.json'}: already exists; --out must be a new "
                                    f"or empty directory (pass --overwrite to replace vocab.json and merges.txt there)\n")
    run = start(["encode", "--tokenizer", str(files / "huge_id_tok"), "x"])
    err = run.communicate()[1]
    assert err.startswith(f"error: {files / 'huge_id_tok' / 'vocab.json'}: ids must be 0..") and "missing" in err


def test_overwrite_replaces_only_our_two_files(files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "vocab.json").write_text("old", encoding="utf-8")
    (out / "README").write_text("keep me", encoding="utf-8")
    run = start(["train", str(files / "corpus.txt"), "--vocab-size", "262", "--out", str(out), "--overwrite"])
    assert run.wait(timeout=120) == 0
    assert BPETokenizer.from_pretrained(out).vocab_size == 262
    assert (out / "README").read_text(encoding="utf-8") == "keep me"


def test_closed_pipe_is_quiet(files, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("Hello world, again and again. " * 20000, encoding="utf-8")  # ~600 KB of ids out
    run = start(["encode", "-f", str(big)])
    assert run.stdout.read(100)  # the first ids arrived; now the reader goes away
    run.stdout.close()
    err = run.stderr.read()
    assert run.wait(timeout=120) == 0 and err == ""


def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    run = start(["count", str(fifo)])
    deadline = time.monotonic() + 120
    while True:  # opening the write end succeeds once the command has opened the FIFO to read it
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as error:
            assert error.errno == errno.ENXIO and run.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    try:
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        os.close(writer)
    assert run.returncode == 130 and "Traceback" not in err and err.strip() == "interrupted"


@pytest.fixture
def full_disk(small_tmpfs):
    """A 64 KB tmpfs under tmp_path, filled up (needs permission to mount; skipped otherwise)."""
    mount_point = small_tmpfs("64k", "full")
    try:
        with open(mount_point / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
    except OSError as error:
        assert error.errno == errno.ENOSPC
    (mount_point / "out").mkdir()
    return mount_point


def test_full_disk_exits_1_naming_the_file(files, full_disk):
    run = start(["train", str(files / "corpus.txt"), "--vocab-size", "270", "--out", str(full_disk / "out")])
    _, err = run.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert run.returncode == 1 and "Traceback" not in err
    assert lines[-1] == f"error: {full_disk / 'out' / 'vocab.json'}: No space left on device"
