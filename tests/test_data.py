"""Reading a learner's own data (transformer_np.data) and `train_toy.py --task text` on it: tables read by column
(CSV/TSV quoting, JSONL syntax and other columns never reach the documents), folders and globs in sorted order,
documents joined with an end-of-text token, and every bad input a one-line error naming the file and row."""
import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from transformer_np.data import DataError, expand_paths, read_documents, read_labelled
from transformer_np.tasks import make_task
from transformer_np.tokenizer import ENDOFTEXT, BPETokenizer, CharTokenizer
from transformer_np.train import Trainer, TrainConfig, defaults_for

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
with mock.patch.dict(os.environ):       # importing it sets BLAS thread variables: not for the other tests
    import train_toy  # noqa: E402

# Any text a file can hold: no surrogates (not encodable), no NUL (the mark of a binary file); commas, quotes,
# tabs and every kind of line break included on purpose.
CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")
TRICKY = st.sampled_from([",", '"', "'", "\t", "\n", "\r\n", "\r", "\u2028", "\u0085", "{", "}", "\\", "é", "語", "🙂"])
DOCUMENT = st.lists(st.one_of(st.text(CHARACTERS, max_size=6), TRICKY), min_size=1, max_size=8).map("".join) \
    .filter(lambda text: text.strip())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def write_table(path, header, rows, blank_lines_after=()):
    """A CSV/TSV as Python's csv module quotes it, with blank lines after the rows listed."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t" if str(path).endswith(".tsv") else ",")
        writer.writerow(header)
        for i, row in enumerate(rows):
            writer.writerow(row)
            if i in blank_lines_after:
                f.write("\r\n")


@FUZZ
@given(documents=st.lists(DOCUMENT, min_size=1, max_size=6), suffix=st.sampled_from([".csv", ".tsv"]),
       blanks=st.sets(st.integers(0, 5)), data=st.data())
def test_csv_and_tsv_documents_are_the_texts_written(tmp_path, documents, suffix, blanks, data):
    labels = data.draw(st.lists(DOCUMENT, min_size=len(documents), max_size=len(documents)))
    path = tmp_path / f"table{suffix}"
    write_table(path, ["id", "text", "label"], [[i, d, l] for i, (d, l) in enumerate(zip(documents, labels))], blanks)
    corpus = read_documents([path])
    assert corpus.documents == documents                    # no quote, delimiter or other column got in
    assert (corpus.n_files, corpus.n_rows) == (1, len(documents))
    assert read_labelled(path) == (documents, labels)


@FUZZ
@given(documents=st.lists(DOCUMENT, min_size=1, max_size=6), ascii_only=st.booleans(),
       blanks=st.sets(st.integers(0, 5)))
def test_jsonl_documents_are_the_texts_written(tmp_path, documents, ascii_only, blanks):
    path = tmp_path / "rows.jsonl"
    lines = []
    for i, text in enumerate(documents):
        lines.append(json.dumps({"label": i, "text": text, "other": [text]}, ensure_ascii=ascii_only))
        lines += [""] * (i in blanks)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_documents([path]).documents == documents
    assert read_labelled(path) == (documents, [str(i) for i in range(len(documents))])   # a number as written


@FUZZ
@given(text=DOCUMENT, bom=st.booleans())
def test_a_text_file_is_one_document_exactly(tmp_path, text, bom):
    path = tmp_path / "doc.txt"
    path.write_bytes(b"\xef\xbb\xbf" * bom + text.encode("utf-8"))
    assert read_documents(path).documents == [text]


def test_directories_and_globs_expand_sorted_recursively(tmp_path):
    for name in ["b.txt", "a/z.md", "a/b/c.txt", "a-b.txt", "notes.py", "a/data.csv", "A.TXT"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    assert [p.relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path])] == \
        ["A.TXT", "a/b/c.txt", "a/z.md", "a-b.txt", "b.txt"]           # .txt/.md only, path order
    pattern = str(tmp_path / "**" / "*.txt")                  # sorted as strings, as the shell sorts: "-" < "/"
    assert [p.relative_to(tmp_path).as_posix() for p in expand_paths([pattern])] == ["a-b.txt", "a/b/c.txt", "b.txt"]
    both = expand_paths([tmp_path / "b.txt", str(tmp_path / "*.txt")])   # b.txt is read once, where named first
    assert [p.name for p in both] == ["b.txt", "a-b.txt"]
    corpus = read_documents([tmp_path / "a"])
    assert corpus.documents == ["a/b/c.txt", "a/z.md"] and corpus.n_files == 2


def test_documents_are_joined_with_the_end_of_text_token(tmp_path):
    docs = ["first document. " * 4, "second, with \u2403 and \x03 in it. " * 4, "third one! " * 4]
    write_table(tmp_path / "d.csv", ["text"], [[d] for d in docs])
    task = make_task("text", path=[str(tmp_path / "d.csv")], block_size=8)
    sep = task.tokenizer.separator
    assert sep == "\x1e" and task.tokenizer.eot_token == task.tokenizer.chars.index(sep)   # not in any document
    stream = np.concatenate([task.train_ids, task.heldout_ids])
    assert task.decode(stream) == sep.join(docs)
    assert CharTokenizer.from_config(task.tokenizer.to_config()) == task.tokenizer
    bpe = BPETokenizer.train(docs, 300)
    task = make_task("text", path=[str(tmp_path / "d.csv")], block_size=8, tokenizer=bpe)
    stream = np.concatenate([task.train_ids, task.heldout_ids]).tolist()
    assert stream == bpe.encode(ENDOFTEXT.join(docs), allowed_special="all")


def test_one_text_file_keeps_its_alphabet_without_a_separator(tmp_path):
    (tmp_path / "t.txt").write_text("hello world " * 10)
    task = make_task("text", path=str(tmp_path / "t.txt"), block_size=8)
    assert task.tokenizer.chars == sorted(set("hello world ")) and task.tokenizer.separator is None
    assert task.spec["data"] == str(tmp_path / "t.txt") and "separator" not in task.spec


def test_text_run_on_a_folder_and_a_table_records_its_separator_and_eval_data(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("All: Speak, speak. " * 8)
    write_table(tmp_path / "rows.tsv", ["text"], [["First Citizen: hear me. " * 3], ["Resolved. " * 5]])
    (tmp_path / "eval.txt").write_text("Speak, hear me. " * 8)
    values = defaults_for("text")
    values.update(data=[str(tmp_path / "notes"), str(tmp_path / "*.tsv")], eval_data=str(tmp_path / "eval.txt"),
                  block_size=8, d_model=16, n_layers=1, n_heads=2, d_ff=32, steps=2, eval_every=2, eval_size=4,
                  out=str(tmp_path / "run"))
    trainer = Trainer(TrainConfig(**values))
    assert trainer.task.data_summary.splitlines() == [
        "read 2 files (2 table rows): 3 documents, 274 characters",            # 152 + 72 + 50
        "held-out data: read 1 file: 1 document, 128 characters"]
    assert trainer.task.decode(trainer.task.heldout_ids) == "Speak, hear me. " * 8
    trainer.run()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["char_separator"] == "\u2403" and config["char_vocab"][trainer.task.tokenizer.eot_token] == "\u2403"
    resumed = Trainer.resume(tmp_path / "run")                   # the list of paths reads the same data again
    np.testing.assert_array_equal(resumed.task.train_ids, trainer.task.train_ids)


# ------------------------------------------------------------------------------------------ bad input

def cli(argv):
    """train_toy.py in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = train_toy.main(argv)
        except SystemExit as e:
            status = e.code
    return status, out.getvalue(), err.getvalue()


BAD_INPUTS = [   # (files to write, --data, the message's start after "train_toy.py: error: ")
    ({"e.txt": b""}, ["e.txt"], "e.txt: empty file"),
    ({"b.txt": b"GIF89a\0\0\1"}, ["b.txt"], "b.txt: a binary file (NUL byte at offset 6)"),
    ({"l.txt": "caf\u00e9\n".encode("latin-1")}, ["l.txt"], "l.txt, line 1: not UTF-8 (byte 0xe9"),
    ({"t.csv": b"title,body\nx,y\n"}, ["t.csv"], "t.csv: no column 'text' (it has 'title', 'body'); choose one with --text-column"),
    ({"t.csv": b'text,n\n"a, b",1\n"",2\n'}, ["t.csv"], "t.csv, row 2 (line 3): empty text in column 'text'"),
    ({"t.tsv": b"text\n\nok\n  \n"}, ["t.tsv"], "t.tsv, row 2 (line 4): empty text in column 'text'"),
    ({"t.jsonl": b'{"text": "ok"}\n{"text": ""}\n'}, ["t.jsonl"], "t.jsonl, row 2 (line 2): empty text"),
    ({"t.jsonl": b'{"text": "ok"}\n{"body": "x"}\n'}, ["t.jsonl"], "t.jsonl, row 2 (line 2): no field 'text'"),
    ({"t.jsonl": b'{"text": "ok"},\n'}, ["t.jsonl"], "t.jsonl, row 1 (line 1): not JSON"),
    ({"t.jsonl": b'{"text": "ok"}\n' + b"[" * 100_000 + b"\n"}, ["t.jsonl"],
     "t.jsonl, row 2 (line 2): not JSON (nested too deeply)"),
    ({"t.csv": b"text,label\na,b,c\n"}, ["t.csv"], "t.csv, row 1 (line 2): 3 fields, but the header has 2"),
    ({"a.txt": b"fine"}, ["a.txt", "*.md"], "*.md: no file matches this pattern"),
    ({"d/x.csv": b"text\nhi\n"}, ["d"], "d: a directory with no .txt or .md file below it"),
    ({}, ["missing.txt"], "missing.txt: no such file or directory"),
]


@pytest.mark.parametrize("files, data, message", BAD_INPUTS, ids=[case[2].split(":")[0] + str(i)
                                                                  for i, case in enumerate(BAD_INPUTS)])
def test_bad_text_data_is_one_line_naming_the_file_and_row_and_writes_nothing(tmp_path, files, data, message):
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    out = tmp_path / "run"
    status, stdout, stderr = cli(["--task", "text", "--data", *[str(tmp_path / d) for d in data],
                                  "--out", str(out), "--steps", "1"])
    assert status == 2 and stdout == "" and not out.exists()
    assert stderr.count("\n") == 1 and stderr.startswith(f"train_toy.py: error: {tmp_path}/{message}"), stderr
    assert "--help" not in stderr                                 # a file to fix, not a flag


def test_bad_data_from_the_command_line_has_no_traceback(tmp_path):
    (tmp_path / "t.csv").write_bytes(b'text\n"a, b"\n""\n')
    r = subprocess.run([sys.executable, str(ROOT / "train_toy.py"), "--task", "text", "--data", str(tmp_path / "t.csv"),
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "t.csv, row 2 (line 3): empty text" in r.stderr and not (tmp_path / "run").exists()


def test_data_flags_belong_to_text_tasks(tmp_path):
    status, _, stderr = cli(["--task", "sort", "--text-column", "body"])
    assert status == 2 and "--text-column is for --task text or classify-text" in stderr
    status, _, stderr = cli(["--task", "text", "--data", "a.txt", "--label-column", "y"])
    assert status == 2 and "--label-column is for --task classify-text" in stderr


def test_read_labelled_refuses_a_plain_text_file(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match=r"x.txt: a labelled file must be .csv, .tsv or .jsonl"):
        read_labelled(tmp_path / "x.txt")
