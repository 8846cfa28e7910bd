"""Text classification from a labelled file: the `classify-text` task, its held-out report, and loading a run.

    python train_toy.py --task classify-text --data reviews.csv --text-column text --label-column label
    model = EncoderClassifier.from_pretrained("runs/classify-text-classifier")
    model.predict(["a gripping film"])            # ["pos"]: labels as the file writes them
    model.predict_proba(texts)                     # (N, n_classes), columns in the order of model.labels

Each row of the file is one example: its text (tokenized, cut to `block_size` tokens) and its label. The
labels are the distinct values of the label column in order of first appearance. A fixed 10% of the rows
(a seeded shuffle, the same for every run) is held out, unless a separate file is given for evaluation.
Texts have different lengths: a batch is padded to its longest text, and `key_padding_mask` (True at
padding) keeps the padding out of attention and out of the mean pool (see EncoderClassifier).
"""
from pathlib import Path

import numpy as np

from .io.safetensors import load_safetensors
from .init import skip_init
from .models.classifier import EncoderClassifier, encode_texts
from .tokenizer import BPETokenizer, CharTokenizer

SPLIT_SEED = 20240601       # the train / held-out split of the rows, the same for every run


class TextClassification:
    """A labelled file as batches {inputs (B, S) ids, key_padding_mask (B, S), targets (B,) label ids}.

    `texts`, `labels`: the training rows (lists of str); `heldout`: (texts, labels) to evaluate on, or None to
    hold out `heldout_fraction` of the rows. `tokenizer`: a CharTokenizer or BPETokenizer; `spec`: what the
    run records so that `from_pretrained` rebuilds the tokenizer and labels (data paths, tokenizer name).
    """

    name = "classify-text"
    archs = ("classifier",)

    def __init__(self, texts, labels, tokenizer, block_size=128, heldout=None, heldout_fraction=0.1, spec=None):
        self.labels = list(dict.fromkeys(labels))
        self._spec = dict(spec or {})
        data = self._spec.get("data", "the data")
        if len(self.labels) < 2:
            raise ValueError(f"{data}: only one label ({self.labels[0]!r}): a classifier needs two or more")
        self.n_classes, self.block_size = len(self.labels), int(block_size)
        self.tokenizer, self.vocab_size = tokenizer, tokenizer.vocab_size
        label_id = {label: i for i, label in enumerate(self.labels)}
        y = np.array([label_id[label] for label in labels], dtype=np.int64)
        if heldout is None:
            order = np.random.default_rng(SPLIT_SEED).permutation(len(texts))
            n_heldout = max(1, int(round(heldout_fraction * len(texts))))
            if len(texts) - n_heldout < 1:
                raise ValueError(f"{data}: {len(texts)} rows, too few to hold {n_heldout} out and train on the rest")
            train_rows, heldout_rows = np.sort(order[n_heldout:]), np.sort(order[:n_heldout])
            self.heldout_texts = [texts[i] for i in heldout_rows]
            self.heldout_y = y[heldout_rows]
            texts, y = [texts[i] for i in train_rows], y[train_rows]
        else:
            unknown = next((label for label in heldout[1] if label not in label_id), None)
            if unknown is not None:
                raise ValueError(f"{self._spec.get('eval_data', 'the evaluation data')}: label {unknown!r} is not "
                                 f"among those of {data} ({', '.join(map(repr, self.labels))})")
            self.heldout_texts = list(heldout[0])
            self.heldout_y = np.array([label_id[label] for label in heldout[1]], dtype=np.int64)
        self.train_texts, self.train_y = list(texts), y
        self.train_ids, train_padding, self.n_truncated = encode_texts(tokenizer, self.train_texts, self.block_size)
        self.train_lengths = (~train_padding).sum(axis=1)

    @property
    def spec(self):
        spec = dict(self._spec, task=self.name, labels=self.labels, block_size=self.block_size)
        if isinstance(self.tokenizer, CharTokenizer):
            spec["chars"] = "".join(self.tokenizer.chars)
        return spec

    @property
    def data_summary(self):
        cut = f"; {self.n_truncated:,} cut to --block-size {self.block_size} tokens" if self.n_truncated else ""
        counts = np.bincount(self.train_y, minlength=self.n_classes)
        per_label = ", ".join(f"{label} {n:,}" for label, n in zip(self.labels, counts))
        return (f"read {len(self.train_texts) + len(self.heldout_texts):,} rows: {len(self.train_texts):,} train "
                f"({per_label}), {len(self.heldout_texts):,} held out{cut}")

    def save_files(self, directory):
        """Files beside the checkpoint that `from_pretrained` needs: a BPE learned from the data."""
        if isinstance(self.tokenizer, BPETokenizer) and self._spec.get("tokenizer") == "bpe":
            self.tokenizer.save(directory)

    def render(self, ids):
        """The text of token ids (for the attention picture's labels)."""
        return self.tokenizer.decode([int(i) for i in ids])

    # ---- batches --------------------------------------------------------------------------------
    def _batch(self, ids, lengths, y):
        width = max(1, int(lengths.max()))                                        # the longest text here
        padding = np.arange(width)[None, :] >= lengths[:, None]                   # (B, S) True at padding
        return {"inputs": ids[:, :width], "key_padding_mask": padding, "targets": y,
                "weights": np.ones(len(y), dtype=np.float32), "answer": y[:, None]}

    def batch(self, rng, batch_size, arch="classifier"):
        rows = rng.integers(0, len(self.train_y), size=batch_size)
        return self._batch(self.train_ids[rows], self.train_lengths[rows], self.train_y[rows])

    def batches(self, arch, batch_size, rng):
        """Training batches of rows drawn at random (with replacement): no state besides `rng`, so a resumed
        run draws the same batches."""
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        while True:
            yield self.batch(rng, batch_size, arch)

    def heldout(self, arch, n, eval_seed=None):
        """The first n held-out rows (all of them when there are fewer)."""
        texts = self.heldout_texts[:n]
        ids, padding, _ = encode_texts(self.tokenizer, texts, self.block_size)
        return self._batch(ids, (~padding).sum(axis=1), self.heldout_y[:n])


# ------------------------------------------------------------------------------------------ reporting

def confusion_matrix(true, predicted, n_classes):
    """(n_classes, n_classes) counts: row = the true label, column = the predicted one."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true), np.asarray(predicted)), 1)
    return matrix


def format_confusion(labels, matrix):
    """The held-out accuracy and the confusion matrix as lines of text."""
    total, correct = int(matrix.sum()), int(np.trace(matrix))
    width = max(6, *(len(label) for label in labels), len(str(matrix.max())))
    lines = [f"held-out accuracy {correct / total:.4f} ({correct}/{total}); rows: true label, columns: predicted",
             " " * (width + 2) + " ".join(f"{label:>{width}}" for label in labels)]
    for label, row in zip(labels, matrix):
        lines.append(f"{label:>{width}}  " + " ".join(f"{count:>{width}}" for count in row))
    return lines


def example_lines(task, predictions, n, width=60):
    """`ok    "the text ..."  model: pos  correct: pos` for the first n held-out rows."""
    lines = []
    for text, true, guess in zip(task.heldout_texts[:n], task.heldout_y, predictions[:n, 0]):
        shown = " ".join(text.split())
        shown = shown if len(shown) <= width else shown[:width - 3] + "..."
        lines.append(f"  {'ok   ' if true == guess else 'WRONG'} {shown!r:{width + 2}}  model: {task.labels[guess]}"
                     f"  correct: {task.labels[true]}")
    return lines


# ------------------------------------------------------------------------------------------ loading

def load_classifier(directory):
    """The EncoderClassifier a trainer run saved in `directory`, in eval mode. For a classify-text run it
    carries `tokenizer` and `labels` (so predict / predict_proba work); for the toy `classify` task both
    are None (it takes ids)."""
    from .train import run_config                      # train builds on the models: import when called
    directory = Path(directory)
    if not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(f"{directory}: no model.safetensors (not a trainer run directory)")
    config = run_config(directory)
    if config.get("model") != "EncoderClassifier":
        raise ValueError(f"{directory}: holds a {config.get('model')}, not an EncoderClassifier")
    with skip_init():                                   # the weights are about to be loaded
        model = EncoderClassifier(**config["model_config"])
    model.load_state_dict(load_safetensors(directory / "model.safetensors", copy=True))
    spec = config.get("task") or {}
    if spec.get("task") == TextClassification.name:
        model.tokenizer, model.labels = run_tokenizer(directory, spec), list(spec["labels"])
    return model.eval()


def run_tokenizer(directory, spec):
    """The tokenizer a classify-text run used: its alphabet, its learned BPE files, or GPT-2's."""
    if "chars" in spec:
        return CharTokenizer(spec["chars"])
    if (directory / "vocab.json").is_file():
        return BPETokenizer.from_pretrained(directory)
    if spec.get("tokenizer") == "gpt2":
        return BPETokenizer.from_pretrained("gpt2")
    raise FileNotFoundError(f"{directory}: no tokenizer (expected vocab.json + merges.txt)")
