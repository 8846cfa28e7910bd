"""The one atomic writer (transformer_np/io/atomic.py): the content, or the old file, never half of one; only
regular files; fsynced; no temporary file left behind on any failure; errors that name the file."""
import errno
import os
import socket
import stat
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.io import atomic
from transformer_np.io.safetensors import save_safetensors
from transformer_np.tokenizer.files import atomic_write_text as tokenizer_write_text
from transformer_np.viz.svg import write_text as svg_write_text


def leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=2000), text=st.text(max_size=300))
def test_round_trip_bytes_and_text(tmp_path_factory, data, text):
    directory = tmp_path_factory.mktemp("rt")
    atomic.atomic_write_bytes(directory / "b.bin", data)
    atomic.atomic_write_text(directory / "t.txt", text)
    assert (directory / "b.bin").read_bytes() == data
    assert (directory / "t.txt").read_bytes() == text.encode("utf-8")          # no newline translation
    assert leftovers(directory) == []


def test_replaces_a_file_with_the_mode_of_a_new_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("old")
    atomic.atomic_write_json(path, {"a": [1, 2]})
    assert path.read_text() == '{\n "a": [\n  1,\n  2\n ]\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == atomic.file_mode()          # not mkstemp's private 0600


def test_file_and_directory_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)) or real(fd))
    atomic.atomic_write_bytes(tmp_path / "x", b"data")
    assert synced == [False, True]                          # the file before the rename, its directory after


def special_files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    return {"a FIFO": fifo, "a socket": sock_path, "a directory": tmp_path / "dir"}, sock


@pytest.mark.parametrize("writer", [
    lambda p: atomic.atomic_write_bytes(p, b"x"),
    lambda p: atomic.atomic_write_text(p, "x"),
    lambda p: save_safetensors(p, {"w": np.zeros(2, np.float32)}),
    lambda p: tokenizer_write_text(p, "x"),
    lambda p: svg_write_text(p, "<svg/>"),
], ids=["bytes", "text", "safetensors", "tokenizer-files", "svg"])
def test_special_files_are_refused_and_left_alone(tmp_path, writer):
    (tmp_path / "dir").mkdir()
    targets, sock = special_files(tmp_path)
    try:
        for kind, path in targets.items():
            with pytest.raises(OSError) as caught:
                writer(path)
            message = f"{caught.value.filename}: {caught.value.strerror}"
            assert message == f"{path}: is {kind}, not a regular file: refusing to write over it"
        assert stat.S_ISFIFO(os.stat(targets["a FIFO"]).st_mode) and stat.S_ISSOCK(os.stat(targets["a socket"]).st_mode)
        assert (tmp_path / "dir").is_dir() and leftovers(tmp_path) == []
    finally:
        sock.close()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, ValueError])
def test_an_exception_mid_write_leaves_the_old_file_and_no_temporary(tmp_path, interrupt):
    path = tmp_path / "x.txt"
    path.write_text("old")
    with pytest.raises(interrupt):
        with atomic.atomic_writer(path) as f:
            f.write("half of the new")
            raise interrupt()
    assert path.read_text() == "old" and leftovers(tmp_path) == []


def test_a_value_json_cannot_hold_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        atomic.atomic_write_json(path, {"a": object()})
    assert path.read_text() == "old" and leftovers(tmp_path) == []


@pytest.fixture
def tiny_tmpfs(small_tmpfs):
    """A 64 KB tmpfs under tmp_path (skipped where mounting is not permitted)."""
    return small_tmpfs("64k")


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tiny_tmpfs):
    path = tiny_tmpfs / "big.bin"
    path.write_bytes(b"old")
    with pytest.raises(OSError) as caught:
        atomic.atomic_write_bytes(path, b"x" * 200_000)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert path.read_bytes() == b"old" and leftovers(tiny_tmpfs) == []
    with pytest.raises(OSError) as caught:                 # safetensors goes through the same writer
        save_safetensors(tiny_tmpfs / "m.safetensors", {"w": np.zeros(50_000, np.float32)})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tiny_tmpfs / "m.safetensors")
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["big.bin"]


def test_a_read_only_file_system_names_the_file(tiny_tmpfs):
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    with pytest.raises(OSError) as caught:
        atomic.atomic_write_text(tiny_tmpfs / "x.txt", "x")
    assert caught.value.errno == errno.EROFS and caught.value.filename == str(tiny_tmpfs / "x.txt")


def test_append_names_the_file(tmp_path):
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO"):
        atomic.append_text(fifo, "line\n")
    atomic.append_text(tmp_path / "log.jsonl", "a\n")
    atomic.append_text(tmp_path / "log.jsonl", "b\n")
    assert (tmp_path / "log.jsonl").read_text() == "a\nb\n"


def test_permission_denied_names_the_target_not_the_temporary_file(tmp_path, monkeypatch):
    def denied(dir, prefix, suffix):      # what mkstemp raises in a directory we may not write to
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, prefix + "x" + suffix))
    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)   # simulated: as root nothing is denied
    with pytest.raises(PermissionError) as caught:
        atomic.atomic_write_text(tmp_path / "x.txt", "x")
    assert caught.value.filename == str(tmp_path / "x.txt") and caught.value.strerror == "Permission denied"
