"""Toy tasks and a text corpus as generators of (inputs, targets, loss weights) batches, the way the seed
notebook feeds Trax.

A toy task draws *problems*: a source sequence and its answer, both in token ids. Token 0 is the
separator / start token; the symbols are 1 .. n_symbols. Each architecture sees a problem its own way:

    lm          inputs  = prompt + answer[:-1]          e.g. reverse:  0 3 1 4 1 0 | 1 4 1 3
                targets = inputs shifted left by one    (position t predicts token t+1)
                weights = 1 where the target is an answer token, else 0 (loss only on the answer)
    seq2seq     src = source;  tgt_in = 0 + answer[:-1];  targets = answer;  weights = 1
    classifier  inputs = source;  targets = label (B,);  weights = 1

Held-out evaluation data comes from a separate random stream (`eval_seed`). Tasks with a small problem
space (`modadd`, `fib`) hold out a fixed part of it instead (a split of the (a, b) pairs that no training
batch ever contains), so their held-out score measures generalisation, not memory.

Each task writes its tokens the way a learner checks them by hand (`render`, and `encode` back): sort,
reverse and copy as Trax does (`0 3 15 14 9 0`: the symbols, 0 the separator); tasks over values 0 .. n-1
(fib, alternate, modadd) store value v as token v + 1 and show the value, with the separator as `|` (`=`
for modadd): fib `| 7 9 -> 6 5 1 6`, alternate `| 1 0 -> 1 0 1 0` (Trax's example). A toy task is thereby
its LM's tokenizer: `TransformerLM.from_pretrained(run)` carries it as `model.tokenizer`, and
`complete(model, "0 3 15 14 9 0")` answers a prompt in that notation.
"""
import os

import numpy as np

from .data import read_documents
from .tokenizer import ENDOFTEXT, CharTokenizer

SEP = 0                  # separator / start token of every toy task
SPLIT_SEED = 20240601    # fixed: the modadd / fib train-heldout split is the same for every run
CONFIG_KEY = "toy_task"  # a toy-task model's config.json records its task (spec) under this key


class ToyTask:
    """Base class. Subclasses set `name`, `archs` and implement `problems(rng, n)`."""

    name = None
    archs = ("lm", "seq2seq")      # the first is the default
    n_classes = None
    value_offset = 0               # token = shown value + value_offset (1 for tasks over values 0 .. n-1)
    sep_mark = str(SEP)            # how the separator is shown

    def __init__(self, length=6, n_symbols=16):
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        if n_symbols < 2:
            raise ValueError(f"the number of symbols must be >= 2, got {n_symbols}")
        self.length, self.n_symbols = int(length), int(n_symbols)
        self.vocab_size = self.n_symbols + 1

    @property
    def spec(self):
        """What rebuilds this task (saved in a checkpoint's config.json)."""
        return {"task": self.name, "length": self.length, "n_symbols": self.n_symbols}

    # -- problems ---------------------------------------------------------------------------------
    def problems(self, rng, n, split="train"):
        """(source (n, S), answer (n, A)) int64 arrays."""
        raise NotImplementedError

    def lm_prompt(self, source):
        """The LM's prompt for each source: `0 source 0` (the answer follows)."""
        sep = np.full((len(source), 1), SEP, dtype=np.int64)
        return np.concatenate([sep, source, sep], axis=1)

    def symbols(self, rng, shape):
        return rng.integers(1, self.n_symbols + 1, size=shape, dtype=np.int64)

    # -- batches ----------------------------------------------------------------------------------
    def make_batch(self, source, answer, arch):
        """Format problems for one architecture; see the module docstring. Returns a dict of arrays."""
        if arch == "lm":
            prompt = self.lm_prompt(source)
            seq = np.concatenate([prompt, answer], axis=1)
            weights = np.zeros(seq.shape[1] - 1, dtype=np.float32)
            weights[prompt.shape[1] - 1:] = 1.0                  # targets that are answer tokens
            return {"inputs": seq[:, :-1], "targets": seq[:, 1:],
                    "weights": np.broadcast_to(weights, (len(seq), len(weights))).copy(),
                    "prompt": prompt, "answer": answer}
        if arch == "seq2seq":
            start = np.full((len(answer), 1), SEP, dtype=np.int64)
            return {"src": source, "tgt_in": np.concatenate([start, answer[:, :-1]], axis=1),
                    "targets": answer, "weights": np.ones(answer.shape, dtype=np.float32),
                    "prompt": source, "answer": answer}
        raise ValueError(f"task {self.name!r} does not support arch {arch!r}")

    def batch(self, rng, batch_size, arch):
        return self.make_batch(*self.problems(rng, batch_size, "train"), arch)

    def batches(self, arch, batch_size, rng):
        """Endless generator of training batches drawn from `rng` (a np.random.Generator or a seed).
        It holds no state besides `rng`: restoring rng's state resumes the same stream."""
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        while True:
            yield self.batch(rng, batch_size, arch)

    def heldout(self, arch, n, eval_seed):
        """The held-out evaluation set: n problems from a separate random stream."""
        return self.make_batch(*self.problems(np.random.default_rng(eval_seed), n, "heldout"), arch)

    # -- notation ---------------------------------------------------------------------------------
    def render(self, ids):
        """Token ids in the task's notation (see the module docstring): `0 3 1 4 0 1 3 4` for sort."""
        return " ".join(self.sep_mark if i == SEP else str(int(i) - self.value_offset) for i in ids)

    decode = render

    def encode(self, text):
        """The inverse of `render`: "0 3 15 14 9 0" -> [0, 3, 15, 14, 9, 0]. ValueError names a bad word."""
        ids = []
        for word in text.split():
            if word == self.sep_mark:
                ids.append(SEP)
                continue
            try:
                token = int(word) + self.value_offset
            except ValueError:
                token = -1
            if not 1 <= token <= self.n_symbols:
                low = 1 - self.value_offset
                raise ValueError(f"{word!r} is not in the {self.name} task's notation (values {low}.."
                                 f"{self.n_symbols - self.value_offset}, separator {self.sep_mark!r})")
            ids.append(token)
        return ids

    def prompt_ids(self, text):
        """The LM prompt a learner typed, as ids: the whole prompt ("0 3 15 14 9 0" for sort) or only the
        source ("3 15 14 9"), which gets the separators the task puts around it."""
        source, _ = self.problems(np.random.default_rng(0), 1)
        example = self.lm_prompt(source)[0]
        ids = np.array(self.encode(text), dtype=np.int64)
        if len(ids) == source.shape[1] and not (ids == SEP).any():
            ids = self.lm_prompt(ids[None])[0]
        if len(ids) != len(example) or not np.array_equal(ids == SEP, example == SEP):
            raise ValueError(f"{text!r} is not a {self.name} prompt: it reads like {self.render(example)!r} "
                             f"(or just the {source.shape[1]} values {self.render(source[0])!r})")
        return ids

    def answer_length(self):
        return self.problems(np.random.default_rng(0), 1)[1].shape[1]

    def complete(self, model, text, temperature=0.0, top_k=None, top_p=None, seed=None, num_samples=1):
        """The LM's answers to a prompt in the task's notation, in that notation: a list of num_samples
        strings. complete(sort_model, "0 3 15 14 9 0") -> ["3 9 14 15"]. temperature=0 is greedy."""
        prompt = self.prompt_ids(text)
        out = model.generate(prompt[None], self.answer_length(), temperature, top_k, top_p, seed,
                             num_samples=num_samples)
        return [self.render(row[len(prompt):]) for row in out]


class Copy(ToyTask):
    """`0 a b c d 0 a b c d`: repeat the source."""
    name = "copy"

    def problems(self, rng, n, split="train"):
        x = self.symbols(rng, (n, self.length))
        return x, x.copy()


class Reverse(ToyTask):
    """`0 a b c d 0 d c b a`: the source backwards."""
    name = "reverse"

    def problems(self, rng, n, split="train"):
        x = self.symbols(rng, (n, self.length))
        return x, x[:, ::-1].copy()


class Sort(ToyTask):
    """`0 3 1 4 1 0 1 1 3 4`: the source in ascending order (repeats allowed)."""
    name = "sort"

    def problems(self, rng, n, split="train"):
        x = self.symbols(rng, (n, self.length))
        return x, np.sort(x, axis=1)


class Alternate(ToyTask):
    """`0 a b a b a b ...`: two distinct random symbols, then continue the alternation (Trax's
    `1 0 1 0 ...` with random symbols). Source = the two symbols, answer = `length` more tokens."""
    name = "alternate"
    value_offset, sep_mark = 1, "|"           # shown as values 0 .. n-1: Trax's `1 0 1 0` is tokens 2 1 2 1

    def problems(self, rng, n, split="train"):
        a = rng.integers(1, self.n_symbols + 1, size=n)
        b = (a - 1 + rng.integers(1, self.n_symbols, size=n)) % self.n_symbols + 1   # b != a
        pair = np.stack([a, b], axis=1).astype(np.int64)
        return pair, np.tile(pair, (1, (self.length + 1) // 2))[:, :self.length].copy()

    def lm_prompt(self, source):
        return np.concatenate([np.full((len(source), 1), SEP, dtype=np.int64), source], axis=1)


def _pair_split(n_values, heldout_fraction):
    """A fixed split of all (a, b) pairs in [0, n_values)^2: (train_pairs, heldout_pairs), each (k, 2)."""
    pairs = np.stack(np.meshgrid(np.arange(n_values), np.arange(n_values), indexing="ij"), -1).reshape(-1, 2)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(pairs))
    n_heldout = max(1, int(round(heldout_fraction * len(pairs))))
    return pairs[order[n_heldout:]], pairs[order[:n_heldout]]


class _PairTask(ToyTask):
    """Problems determined by a pair (a, b) of values in [0, n_symbols); a fixed part of the pairs is
    held out. Values v are tokens v + 1 (token 0 stays the separator)."""
    heldout_fraction = 0.2

    def __init__(self, length=6, n_symbols=16, heldout_fraction=None):
        super().__init__(length, n_symbols)
        if heldout_fraction is not None:
            self.heldout_fraction = float(heldout_fraction)
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError(f"the held-out fraction must be in (0, 1), got {self.heldout_fraction}")
        self.train_pairs, self.heldout_pairs = _pair_split(self.n_symbols, self.heldout_fraction)

    @property
    def spec(self):
        return dict(super().spec, heldout_fraction=self.heldout_fraction)

    def pairs(self, rng, n, split):
        pool = self.train_pairs if split == "train" else self.heldout_pairs
        return pool[rng.integers(0, len(pool), size=n)]

    def heldout(self, arch, n, eval_seed):
        """All held-out pairs once each when there are at most n of them (otherwise a sample of n)."""
        if len(self.heldout_pairs) <= n:
            return self.make_batch(*self.from_pairs(self.heldout_pairs), arch)
        return super().heldout(arch, n, eval_seed)

    def problems(self, rng, n, split="train"):
        return self.from_pairs(self.pairs(rng, n, split))


class Fib(_PairTask):
    """Fibonacci-like sequences mod n_symbols: s0, s1 random, s_k = (s_{k-1} + s_{k-2}) mod n_symbols.
    `0 s0 s1 s2 s3 ...`: given the two seeds, continue the sequence for `length` terms.
    By default the held-out set is drawn from a separate seed (with a small modulus it shares seed pairs
    with training). Fib(heldout_fraction=0.2) instead holds a fixed 20% of the seed pairs out of training:
    much harder, since the first answer token must then be computed for pairs never seen at that place."""
    name = "fib"
    heldout_fraction = None
    value_offset, sep_mark = 1, "|"

    def __init__(self, length=8, n_symbols=10, heldout_fraction=None):
        if heldout_fraction is None:
            ToyTask.__init__(self, length, n_symbols)
            self.heldout_fraction = None
        else:
            super().__init__(length, n_symbols, heldout_fraction)

    def problems(self, rng, n, split="train"):
        if self.heldout_fraction is None:
            return self.from_pairs(rng.integers(0, self.n_symbols, size=(n, 2)))
        return super().problems(rng, n, split)

    def heldout(self, arch, n, eval_seed):
        if self.heldout_fraction is None:
            return ToyTask.heldout(self, arch, n, eval_seed)
        return super().heldout(arch, n, eval_seed)

    def from_pairs(self, pairs):
        seq = np.zeros((len(pairs), self.length + 2), dtype=np.int64)
        seq[:, :2] = pairs
        for k in range(2, self.length + 2):
            seq[:, k] = (seq[:, k - 1] + seq[:, k - 2]) % self.n_symbols
        seq += 1
        return seq[:, :2].copy(), seq[:, 2:].copy()

    def lm_prompt(self, source):
        return np.concatenate([np.full((len(source), 1), SEP, dtype=np.int64), source], axis=1)


class ModAdd(_PairTask):
    """`a b =` -> (a + b) mod p, the grokking task (Power et al. 2022). p = n_symbols; a fixed part of
    all p^2 pairs is held out (default half). Tokens: value v is v + 1, `=` is token 0."""
    name = "modadd"
    heldout_fraction = 0.5
    value_offset, sep_mark = 1, "="

    def __init__(self, length=1, n_symbols=23, heldout_fraction=None):
        super().__init__(1, n_symbols, heldout_fraction)

    def from_pairs(self, pairs):
        return pairs + 1, ((pairs[:, :1] + pairs[:, 1:]) % self.n_symbols) + 1

    def lm_prompt(self, source):
        return np.concatenate([source, np.full((len(source), 1), SEP, dtype=np.int64)], axis=1)


class Classify(ToyTask):
    """Is the sequence sorted (non-decreasing)? Label 1 = sorted. Half the examples are sorted, a quarter
    are random, a quarter are sorted with one adjacent pair of different symbols swapped (the hard
    negatives). For the EncoderClassifier."""
    name = "classify"
    archs = ("classifier",)
    n_classes = 2

    def problems(self, rng, n, split="train"):
        x = self.symbols(rng, (n, self.length))
        kind = rng.integers(0, 4, size=n)                   # 0, 1: sorted; 2: random; 3: one swap
        x[kind <= 1] = np.sort(x[kind <= 1], axis=1)
        swap = np.flatnonzero(kind == 3)
        x[swap] = np.sort(x[swap], axis=1)
        positions = rng.integers(0, self.length - 1, size=len(swap)) if self.length > 1 else np.zeros(0, int)
        for row, i in zip(swap, positions):
            x[row, i], x[row, i + 1] = x[row, i + 1], x[row, i]
        label = np.all(np.diff(x, axis=1) >= 0, axis=1).astype(np.int64)
        return x, label

    def make_batch(self, source, label, arch):
        if arch != "classifier":
            raise ValueError(f"task {self.name!r} does not support arch {arch!r}")
        return {"inputs": source, "targets": label, "weights": np.ones(len(label), dtype=np.float32),
                "prompt": source, "answer": label[:, None]}


class Text:
    """Next-character (or next-BPE-token) prediction on text: a UTF-8 file, or the documents of several files,
    folders and tables (`transformer_np.data.read_documents`).

    Several documents are joined into one stream with the tokenizer's end-of-text token between them (BPE's
    `<|endoftext|>`; for characters a separator the alphabet records), so the model sees where one ends.
    The first 90% of the stream trains, the last 10% is held out (or `heldout_corpus` is). A batch is
    `batch_size` random windows of `block_size` + 1 tokens: inputs = window[:-1], targets = window[1:], every
    position scored. `tokenizer`: a CharTokenizer (the default: the documents' own alphabet) or a BPETokenizer.
    """

    name = "text"
    archs = ("lm",)
    n_classes = None

    def __init__(self, path=None, block_size=64, heldout_fraction=0.1, tokenizer=None, corpus=None,
                 heldout_corpus=None, text_column="text"):
        self.corpus = read_documents(path, text_column) if corpus is None else corpus
        self.heldout_corpus = heldout_corpus
        documents = self.corpus.documents + (heldout_corpus.documents if heldout_corpus else [])
        self.path = str(path) if isinstance(path, (str, os.PathLike)) else path and [str(p) for p in path]
        self.block_size, self.heldout_fraction = int(block_size), float(heldout_fraction)
        if tokenizer is None:
            tokenizer = CharTokenizer.from_text(documents[0]) if len(documents) == 1 else \
                CharTokenizer.for_documents(documents)
        self.tokenizer = tokenizer
        self.is_char = isinstance(self.tokenizer, CharTokenizer)
        self.vocab_size = self.tokenizer.vocab_size
        ids = self.join(self.corpus.documents)
        where = " ".join(self.path) if isinstance(self.path, list) else self.path or "the documents"
        if heldout_corpus is not None:
            self.train_ids, self.heldout_ids = ids, self.join(heldout_corpus.documents)
            if len(self.heldout_ids) < self.block_size + 1:
                raise ValueError(f"the held-out data: {len(self.heldout_ids)} tokens is too short for block size "
                                 f"{self.block_size} (need at least {self.block_size + 1})")
        else:
            n_heldout = max(self.block_size + 1, int(len(ids) * self.heldout_fraction))
            if len(ids) - n_heldout < self.block_size + 1:
                raise ValueError(f"{where}: {len(ids)} tokens is too short for block size {self.block_size} "
                                 f"(need at least {2 * (self.block_size + 1)})")
            self.train_ids, self.heldout_ids = ids[:-n_heldout], ids[-n_heldout:]
        if len(self.train_ids) < self.block_size + 1:
            raise ValueError(f"{where}: {len(self.train_ids)} tokens is too short for block size {self.block_size}")

    def join(self, documents):
        """One stream of ids: the documents' tokens with the end-of-text id between documents."""
        if len(documents) > 1 and ENDOFTEXT not in self.tokenizer.special_tokens:
            raise ValueError(f"{len(documents)} documents, but the tokenizer has no end-of-text token to "
                             f"separate them: give one text file")
        pieces = []
        for i, document in enumerate(documents):
            if i:
                pieces.append([self.tokenizer.special_tokens[ENDOFTEXT]])
            pieces.append(self.tokenizer.encode(document))
        return np.concatenate([np.asarray(p, dtype=np.int64) for p in pieces])

    @property
    def data_summary(self):
        """What was read, for the run's first lines: files, table rows, documents, characters."""
        lines = [self.corpus.summary()]
        if self.heldout_corpus is not None:
            lines.append(f"held-out data: {self.heldout_corpus.summary()}")
        return "\n".join(lines)

    @property
    def spec(self):
        spec = {"task": "text", "data": self.path, "block_size": self.block_size,
                "heldout_fraction": self.heldout_fraction}
        if self.is_char and self.tokenizer.separator is not None:
            spec["separator"] = self.tokenizer.separator
        if self.is_char:
            spec["chars"] = "".join(self.tokenizer.chars)
        return spec

    def encode(self, text):
        """Ids of `text`; characters outside a character-level alphabet are dropped."""
        if self.is_char:
            return self.tokenizer.encode(text, errors="ignore")
        return self.tokenizer.encode(text)

    def decode(self, ids):
        return self.tokenizer.decode([int(i) for i in ids])

    render = decode

    def _windows(self, ids, starts):
        idx = starts[:, None] + np.arange(self.block_size + 1)
        seq = ids[idx]
        return {"inputs": seq[:, :-1], "targets": seq[:, 1:],
                "weights": np.ones((len(seq), self.block_size), dtype=np.float32)}

    def batch(self, rng, batch_size, arch="lm"):
        return self._windows(self.train_ids, rng.integers(0, len(self.train_ids) - self.block_size,
                                                          size=batch_size))

    def batches(self, arch, batch_size, rng):
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        while True:
            yield self.batch(rng, batch_size, arch)

    def heldout(self, arch, n, eval_seed=None):
        """The held-out text cut into consecutive, non-overlapping windows (every held-out token is scored
        once, each with the window's preceding tokens as context); at most n of them, evenly spaced
        (deterministic). Tiny Shakespeare, block 64: 1,742 windows cover the held-out 111,540 characters."""
        tiled = np.arange(0, len(self.heldout_ids) - self.block_size, self.block_size)
        keep = np.unique(np.linspace(0, len(tiled) - 1, num=min(n, len(tiled))).round().astype(np.int64))
        return self._windows(self.heldout_ids, tiled[keep])


TASKS = {cls.name: cls for cls in (Reverse, Sort, Copy, Fib, Alternate, ModAdd, Classify)}
TASK_NAMES = tuple(TASKS) + ("text", "classify-text")      # classify-text: transformer_np.text_classification


def task_from_spec(spec):
    """The toy task a checkpoint recorded (its `spec`: {"task": "sort", "length": 4, "n_symbols": 31})."""
    spec = dict(spec)
    return make_task(spec.pop("task"), **spec)


def make_task(name, **kwargs):
    """A task by name; kwargs (length, n_symbols, heldout_fraction / path, block_size) go to it."""
    if name == "text":
        return Text(**kwargs)
    if name == "classify-text":
        raise ValueError("classify-text is built from a labelled file: see transformer_np.text_classification")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASK_NAMES)}")
    return TASKS[name](**{k: v for k, v in kwargs.items() if v is not None})
