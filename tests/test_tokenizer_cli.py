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


def test_special_token_text_is_plain_unless_allowed(capsys):
    assert main(["encode", "a<|endoftext|>"]) == 0
    assert capsys.readouterr().out.split() == ["64", "27", "91", "437", "1659", "5239", "91", "29"]
    assert main(["encode", "--allow-special", "a<|endoftext|>"]) == 0
    assert capsys.readouterr().out.split() == ["64", "50256"]


def test_encode_file_streams_the_same_ids(tmp_path, capsys):
    from transformer_np.tokenizer import BPETokenizer

    text = "Hello world, it's me.\n\n<|endoftext|>  Again: 12345 😀\n" * 3000
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    assert main(["encode", "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1
    assert list(map(int, out.split())) == BPETokenizer.from_pretrained("gpt2").encode_ordinary(text)


def test_count_files_and_stdin(tmp_path, capsys):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("Hello world", encoding="utf-8")
    second.write_text("<|endoftext|>", encoding="utf-8")
    assert main(["count", str(first)]) == 0
    assert capsys.readouterr().out == "2\n"
    assert main(["count", str(first), str(second)]) == 0
    assert capsys.readouterr().out == f"2\t{first}\n7\t{second}\n9\ttotal\n"
    assert main(["count", "--allow-special", str(second)]) == 0
    assert capsys.readouterr().out == "1\n"
    run = subprocess.run([sys.executable, "-m", "transformer_np.tokenizer", "count"],
                         input="It's", capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout == "2\n"


def test_count_reports_progress_and_bad_files(tmp_path, capsys, monkeypatch):
    from transformer_np.tokenizer import stream

    real_init = stream.Progress.__init__

    def eager(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self._next = self.every = 0.0
    monkeypatch.setattr(stream.Progress, "__init__", eager)
    path = tmp_path / "a.txt"
    path.write_text("word " * 1000, encoding="utf-8")
    assert main(["count", str(path)]) == 0
    assert f"{path}: " in capsys.readouterr().err  # "<file>: 0.0 / 0.0 MB (... MB/s)"
    (tmp_path / "bad.txt").write_bytes(b"ok \xff\xfe")
    assert main(["count", str(tmp_path / "bad.txt")]) == 2
    assert main(["count", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2].endswith("bad.txt: not valid UTF-8 text") and "missing.txt" in err[-1]
