"""`train_toy.py --task classify-text`: the EncoderClassifier learns labels from a labelled CSV/TSV/JSONL file,
reports held-out accuracy with a confusion matrix, and its run directory loads with
EncoderClassifier.from_pretrained for predict / predict_proba in the file's own labels."""
import csv
import html
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from transformer_np.models import EncoderClassifier
from transformer_np.text_classification import confusion_matrix, format_confusion
from transformer_np.tokenizer import BPETokenizer
from transformer_np.train import Trainer, TrainConfig, TrainingError, defaults_for

from test_data import cli

LETTERS = {"low": "abcdefghijklm", "high": "nopqrstuvwxyz"}


def labelled_rows(n, seed=0):
    """(text, label): words of the first half of the alphabet are "low", of the second half "high", joined by
    commas, quotes or line breaks (CSV quoting the reader must undo)."""
    rng = random.Random(seed)
    for i in range(n):
        label = "high" if i % 2 == 0 else "low"
        words = ["".join(rng.choice(LETTERS[label]) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(2, 6))]
        yield rng.choice([", ", " ", '"', "\n", "'"]).join(words), label


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "label"])
        writer.writerows((i, text, label) for i, (text, label) in enumerate(rows))
    return path


def small_config(data, out, **overrides):
    values = defaults_for("classify-text")
    values.update(data=str(data), out=str(out), d_model=32, n_layers=1, n_heads=2, d_ff=64, steps=40,
                  eval_every=20, lr=3e-3, warmup=10, batch_size=16)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier trained on 300 generated rows (a fraction of a second of training)."""
    tmp = tmp_path_factory.mktemp("classify")
    trainer = Trainer(small_config(write_csv(tmp / "easy.csv", labelled_rows(300)), tmp / "run", tokenizer="char"))
    return trainer, trainer.run()


def test_classifier_learns_the_labels_of_a_csv(trained):
    trainer, result = trained
    assert trainer.task.labels == ["high", "low"]                           # in order of first appearance
    assert len(trainer.task.heldout_texts) == 30 and len(trainer.task.train_texts) == 270
    assert result["sequence_accuracy"] >= 0.95                              # held-out accuracy
    assert trainer.task.data_summary == "read 300 rows: 270 train (high 137, low 133), 30 held out"


def test_from_pretrained_predicts_in_the_files_labels(trained):
    trainer, result = trained
    model = EncoderClassifier.from_pretrained(result["out"])
    assert model.labels == ["high", "low"] and not model.training
    texts = trainer.task.heldout_texts
    proba = model.predict_proba(texts)
    assert proba.shape == (30, 2) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    for name, parameter in trainer.model.named_parameters():               # the saved weights, exactly
        np.testing.assert_array_equal(dict(model.named_parameters())[name].data, parameter.data)
    predicted = model.predict(texts)
    truth = [trainer.task.labels[y] for y in trainer.task.heldout_y]
    assert np.mean([p == t for p, t in zip(predicted, truth)]) == result["sequence_accuracy"]
    assert model.predict(["abc, def", "xyz 'uvw'"]) == ["low", "high"]
    np.testing.assert_allclose(model.predict_proba(texts[:1]), proba[:1], rtol=1e-5, atol=1e-6)   # alone = in a batch
    with pytest.raises(ValueError, match="text 1 .* no token the model knows"):
        model.predict(["abc", "\u00e9\u00e9"])


def test_jsonl_labels_as_written_bpe_tokenizer_and_eval_data(tmp_path):
    rows = list(labelled_rows(60, seed=1))
    lines = [json.dumps({"text": text, "label": int(label == "high")}) for text, label in rows]
    (tmp_path / "train.jsonl").write_text("\n".join(lines[:50]) + "\n")
    (tmp_path / "eval.jsonl").write_text("\n".join(lines[50:]) + "\n")
    trainer = Trainer(small_config(tmp_path / "train.jsonl", tmp_path / "run", tokenizer="bpe", bpe_vocab_size=300,
                                   eval_data=str(tmp_path / "eval.jsonl"), steps=2, eval_every=2))
    assert trainer.task.labels == ["1", "0"] and len(trainer.task.heldout_texts) == 10
    result = trainer.run()
    model = EncoderClassifier.from_pretrained(result["out"])
    assert isinstance(model.tokenizer, BPETokenizer) and (tmp_path / "run" / "vocab.json").is_file()
    assert model.tokenizer.encode("abc def") == trainer.task.tokenizer.encode("abc def")
    assert set(model.predict([text for text, _ in rows[50:]])) <= {"0", "1"}


def test_resume_continues_bit_for_bit(tmp_path):
    data = write_csv(tmp_path / "d.csv", labelled_rows(60))
    whole = Trainer(small_config(data, tmp_path / "whole", steps=6, eval_every=3))       # BPE, relearned on resume
    whole.run()
    part = Trainer(small_config(data, tmp_path / "part", steps=6, eval_every=3))
    part.run(stop_at=3)
    resumed = Trainer.resume(tmp_path / "part")
    resumed.run()
    for (name, a), (_, b) in zip(whole.model.named_parameters(), resumed.model.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    lines = format_confusion(["neg", "pos", "neutral"], matrix)
    assert lines[0].startswith("held-out accuracy 0.6667 (4/6)")
    assert lines[1].split() == ["neg", "pos", "neutral"] and lines[4].split() == ["neutral", "1", "0", "2"]


def test_cli_prints_accuracy_and_confusion_at_each_evaluation(tmp_path):
    data = write_csv(tmp_path / "d.csv", labelled_rows(40))
    status, stdout, stderr = cli(["--task", "classify-text", "--data", str(data), "--out", str(tmp_path / "run"),
                                  "--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "32",
                                  "--steps", "4", "--eval-every", "2", "--examples", "2",
                                  "--attention", str(tmp_path / "attention.html")])
    assert status == 0, stderr
    lines = stdout.splitlines()
    assert "read 40 rows: 36 train (high 17, low 19), 4 held out" in lines
    assert sum(line.startswith("  held-out accuracy ") for line in lines) == 2
    header = lines.index(next(line for line in lines if line.startswith("  held-out accuracy ")))
    assert lines[header + 1].split() == ["high", "low"] and lines[header + 2].split()[0] == "high"
    assert sum(line.startswith(("  ok ", "  WRONG ")) for line in lines) == 2
    title = re.search(r"held-out example 0: (.*?)</title>", (tmp_path / "attention.html").read_text(), re.S)
    assert html.unescape(title.group(1)) in [text for text, _ in labelled_rows(40)]     # the text, no padding


@pytest.mark.parametrize("content, flags, message", [
    ("text,label\nabc,x\ndef,x\n", [], "d.csv: only one label ('x'): a classifier needs two or more"),
    ("text,label\nabc,x\ndef,y\n", ["--label-column", "topic"], "d.csv: no column 'topic' (it has 'text', 'label'); "
                                                               "choose one with --label-column"),
    ("text,label\nabc,x\n,y\n", [], "d.csv, row 2 (line 3): empty text in column 'text'"),
    ("text,label\nabc,x\ndef,\n", [], "d.csv, row 2 (line 3): empty label in column 'label'"),
])
def test_bad_labelled_files_are_one_line_errors(tmp_path, content, flags, message):
    (tmp_path / "d.csv").write_text(content)
    status, stdout, stderr = cli(["--task", "classify-text", "--data", str(tmp_path / "d.csv"),
                                  "--out", str(tmp_path / "run"), *flags])
    assert status == 2 and message in stderr and stderr.count("\n") == 1 and not (tmp_path / "run").exists(), stderr


def test_eval_data_labels_must_be_known_and_data_is_one_file(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\nabc,x\ndef,y\n")
    (tmp_path / "e.csv").write_text("text,label\nabc,z\n")
    with pytest.raises(TrainingError, match=r"e.csv: label 'z' is not among those of .*d.csv \('x', 'y'\)"):
        Trainer(small_config(tmp_path / "d.csv", tmp_path / "run", eval_data=str(tmp_path / "e.csv")))
    status, _, stderr = cli(["--task", "classify-text", "--data", str(tmp_path / "d.csv"), str(tmp_path / "e.csv")])
    assert status == 2 and "reads one labelled file" in stderr


def test_a_toy_classify_run_loads_too_but_takes_ids(tmp_path):
    values = defaults_for("classify")
    values.update(steps=1, eval_every=1, eval_size=8, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                  out=str(tmp_path / "toy"))
    Trainer(TrainConfig(**values)).run()
    model = EncoderClassifier.from_pretrained(tmp_path / "toy")
    assert model.labels is None and model.forward(np.array([[1, 2, 3]])).shape == (1, 2)
    with pytest.raises(ValueError, match="no tokenizer"):
        model.predict_proba(["1 2 3"])
