"""The ``python -m transformer_np.tokenizer`` command line."""

import subprocess
import sys

from transformer_np.tokenizer.__main__ import main


def test_encode_and_decode(capsys):
    assert main(["encode", "Hello world"]) == 0
    assert capsys.readouterr().out.strip() == "15496 995"
    assert main(["decode", "15496", "995"]) == 0
    assert capsys.readouterr().out == "Hello world"


def test_encode_allow_special_and_show(capsys):
    assert main(["encode", "--allow-special", "--show", "a<|endoftext|>"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "64 50256"
    assert out[1] == "a | <|endoftext|>"


def test_train_then_use(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("low lower lowest newer newest " * 50, encoding="utf-8")
    out_dir = tmp_path / "tok"
    assert main(["train", str(corpus), "--vocab-size", "270", "--out", str(out_dir)]) == 0
    assert (out_dir / "vocab.json").is_file() and (out_dir / "merges.txt").is_file()
    capsys.readouterr()
    assert main(["encode", "--tokenizer", str(out_dir), " lowest"]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) < len(" lowest")


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["decode", "99999999"]) == 2
    assert main(["decode", "abc"]) == 2
    assert main(["encode", "--tokenizer", str(tmp_path), "x"]) == 2
    assert main(["train", str(tmp_path / "missing.txt"), "--vocab-size", "300", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)


def test_module_entry_point_reads_stdin():
    run = subprocess.run([sys.executable, "-m", "transformer_np.tokenizer", "encode"],
                         input="It's", capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout.split() == ["1026", "338"]
    run = subprocess.run([sys.executable, "-m", "transformer_np.tokenizer", "decode", "-5"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr
