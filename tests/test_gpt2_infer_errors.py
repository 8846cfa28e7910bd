"""gpt2_infer.py under bad input and interruptions, in a subprocess: one line, the right exit status, no traceback.

User errors (a broken model directory, config.json or model.safetensors; impossible flags) exit 2 with exactly
one "error:" line; a failure while running exits 1 with one line; Ctrl-C at any moment (importing, loading,
generating) exits 130 without a traceback.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "gpt2_infer.py"
TINY = Path(__file__).parent / "fixtures" / "gpt2_tiny"
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The tiny GPT-2 (256 tokens) with the byte-level tokenizer of the same size."""
    directory = tmp_path_factory.mktemp("infer") / "tiny"
    shutil.copytree(TINY / "hf_layout", directory)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(TINY / "byte_tokenizer" / name, directory / name)
    return directory


def run(model_dir, *flags, stdout=subprocess.PIPE):
    return subprocess.run([sys.executable, str(SCRIPT), "--model", str(model_dir), "-p", "ab", "-n", "3", *flags],
                          stdout=stdout, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT, timeout=60)


def edit_config(**fields):
    def edit(directory):
        config = json.loads((directory / "config.json").read_text())
        config.update(fields)
        (directory / "config.json").write_text(json.dumps(config))
    return edit


def edit_header(change):
    def edit(directory):
        path = directory / "model.safetensors"
        raw = path.read_bytes()
        size = struct.unpack("<Q", raw[:8])[0]
        text = change(raw[8:8 + size].decode())
        path.write_bytes(struct.pack("<Q", len(text.encode())) + text.encode() + raw[8 + size:])
    return edit


def shift_second_tensor(text):
    header = json.loads(text)
    name = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"])[1]
    header[name]["data_offsets"] = [o - 4 for o in header[name]["data_offsets"]]
    return json.dumps(header)


BROKEN_DIRECTORIES = [
    ("no-config", lambda d: (d / "config.json").unlink(), "no config.json"),
    ("config-not-json", lambda d: (d / "config.json").write_text("{"), "config.json: not valid JSON"),
    ("config-a-list", lambda d: (d / "config.json").write_text("[]"), "expected a JSON object"),
    ("n_head-0", edit_config(n_head=0), "n_head must be a positive integer, got 0"),
    ("n_head-3", edit_config(n_head=3), "n_head=3 does not divide n_embd=32"),
    ("n_layer-100000", edit_config(n_layer=100_000), "n_layer is 100000 but the weights hold 2 layers"),
    ("eps-string", edit_config(layer_norm_epsilon="1e-5"), "layer_norm_epsilon must be"),
    ("tie-false-string", edit_config(tie_word_embeddings="false"), "tie_word_embeddings must be true or false"),
    ("4301-digits", lambda d: (d / "config.json").write_text('{"n_layer": ' + "7" * 4301 + "}"),
     "config.json: not valid JSON (Exceeds the limit"),
    ("weights-missing", lambda d: (d / "model.safetensors").unlink(), "model.safetensors"),
    ("weights-empty", lambda d: (d / "model.safetensors").write_bytes(b""), "too short"),
    ("weights-overlap", edit_header(shift_second_tensor), "overlap"),
    ("weights-truncated", lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-1]),
     "out of range"),
    ("weights-nesting-bomb", edit_header(lambda t: '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}"), "nests"),
    ("weights-duplicate", edit_header(lambda t: t.rstrip()[:-1] + ', "wte.weight": {}, "wte.weight": {}}'),
     "appears twice"),
    ("tensor-renamed", edit_header(lambda t: t.replace('ln_f.bias"', 'ln_f.b"')), "missing tensor 'ln_f.bias'"),
]


@pytest.mark.parametrize("breakage, needle", [(b, n) for _, b, n in BROKEN_DIRECTORIES],
                         ids=[i for i, _, _ in BROKEN_DIRECTORIES])
def test_a_broken_model_directory_is_one_line_and_exit_2(pristine, tmp_path, breakage, needle):
    directory = tmp_path / "model"
    shutil.copytree(pristine, directory)
    breakage(directory)
    start = time.perf_counter()
    r = run(directory)
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == "", r.stderr
    assert len(errors) == 1 and errors[0].startswith("gpt2_infer.py: error: ") and needle in errors[0], r.stderr
    assert time.perf_counter() - start < 30


BAD_FLAGS = [["--temperature", "nan"], ["--temperature", "inf"], ["--temperature", "1e-320"],
             ["--temperature", "1e400"], ["--top-p", "nan"], ["--repetition-penalty", "-inf"],
             ["--seed", "1e3"], ["--seed", "9" * 5000], ["-n", "-5"], ["--num-samples", "1000000000"],
             ["--sliding-window", "--window-stride", "1" + "0" * 30]]


@pytest.mark.parametrize("flags", BAD_FLAGS, ids=[" ".join(f)[:30] for f in BAD_FLAGS])
def test_an_impossible_flag_is_one_error_line_and_exit_2(pristine, flags):
    r = run(pristine, *flags)
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(errors) == 1 and flags[-2] in errors[0], r.stderr


@pytest.mark.parametrize("flags", [["-n", "1" + "0" * 30], ["--top-k", "1" + "0" * 30],
                                   ["--seed", "1" + "0" * 40], ["--repetition-penalty", "1e308"],
                                   ["--temperature", "1e300"]])
def test_extreme_but_meaningful_flags_just_work(pristine, flags):
    r = run(pristine, *flags, "--no-stop")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.startswith("ab")


def test_a_full_disk_on_stdout_is_one_line_and_exit_1(pristine):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        r = run(pristine, "--no-stop", stdout=full)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.splitlines()[-1] == "gpt2_infer.py: error: writing the output: No space left on device"


# ------------------------------------------------------------------------------------------- Ctrl-C

# Runs gpt2_infer.py as `python gpt2_infer.py` would (as __main__), with one step made slow so that the
# interrupt lands inside it: an import of the script's, or the model's loading.
DRIVER = """
import builtins, runpy, sys, time
stage = sys.argv.pop(1)
if stage == "import":
    real_import = builtins.__import__
    def slow_import(name, *args, **kwargs):
        if name == "transformer_np.sampling":
            print("READY", file=sys.stderr, flush=True)
            time.sleep(60)
        return real_import(name, *args, **kwargs)
    builtins.__import__ = slow_import
else:
    import transformer_np.models.auto as auto
    def slow_load(*args, **kwargs):
        print("READY", file=sys.stderr, flush=True)
        time.sleep(60)
    auto.load_lm = slow_load
sys.argv[0] = {script!r}
runpy.run_path({script!r}, run_name="__main__")
"""


def interrupt_when_ready(command, ready):
    """Start `command`, send SIGINT once `ready(process)` returns, and return (exit status, stderr)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    try:
        ready(process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")


def wait_for_stderr_line(text):
    def ready(process):
        for line in process.stderr:
            if line.decode().strip() == text:
                return
        raise AssertionError(f"{text!r} never appeared")
    return ready


@pytest.mark.parametrize("stage", ["import", "load"])
def test_ctrl_c_while_importing_or_loading_exits_130_quietly(pristine, stage):
    command = [sys.executable, "-c", DRIVER.format(script=str(SCRIPT)), stage, "--model", str(pristine), "-p", "ab"]
    status, stdout, stderr = interrupt_when_ready(command, wait_for_stderr_line("READY"))
    assert status == 130 and "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stdout == ""


def test_ctrl_c_while_generating_exits_130_after_the_text_so_far(pristine):
    command = [sys.executable, str(SCRIPT), "--model", str(pristine), "-p", "ab", "--no-stop", "--sliding-window",
               "-n", "100000000"]
    status, stdout, stderr = interrupt_when_ready(command, lambda process: process.stdout.read(4))
    assert status == 130 and "Traceback" not in stderr, stderr


def test_a_reader_that_stops_after_one_byte_ends_it_quietly(pristine):
    command = [sys.executable, str(SCRIPT), "--model", str(pristine), "-p", "ab", "--no-stop", "--sliding-window",
               "-n", "100000000"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    try:
        assert process.stdout.read(1) == b"a"             # `| head -c 1`
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 0 and "Traceback" not in stderr and "Error" not in stderr, stderr
    finally:
        process.kill()
