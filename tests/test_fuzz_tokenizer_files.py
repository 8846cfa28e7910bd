"""Bounded fuzzing of the tokenizer files: every mutant loads correctly or raises the one error.

Mutants of tokenizer.json, vocab.json + merges.txt, and WordPiece's vocab.txt + tokenizer_config.json
(wrong types, out-of-range and duplicate ids, ids of 3*10**8, cut and corrupted bytes, deep nesting)
must either load into a tokenizer that decodes every id to the token its file spells and round-trips
text, or raise TokenizerFileError (a ValueError) in one line naming the file. Never another exception,
never a gigabyte list: ids are checked before anything as long as the largest id is allocated.
Outcome counts are printed with ``pytest -s``.
"""
import json
import tracemalloc
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer import BPETokenizer, TokenizerFileError, WordPieceTokenizer
from transformer_np.tokenizer.byte_alphabet import CHAR_TO_BYTE
from transformer_np.tokenizer.tokenizer_json import read_tokenizer_json, write_tokenizer_json

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SAMPLE = "Hello world, it's 2024! ab  ab\n\tcafé 😀 <|endoftext|>"
OUTCOMES: Counter = Counter()

# Values that break loaders written for the happy path.
ODD_VALUES = [-1, 3 * 10**8, 10**30, 1.5, True, False, None, "3", "", [], {}, [1, 2], {"content": 5}, "false"]


@pytest.fixture(scope="module", autouse=True)
def report_outcomes():
    yield
    print("\nfuzz outcomes:", dict(sorted(OUTCOMES.items())))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small trained tokenizer and its files, as text."""
    directory = tmp_path_factory.mktemp("base")
    tok = BPETokenizer.train("ab ab abc abc hello world hello it's " * 20, 290, progress=False)
    tok.save(directory)
    write_tokenizer_json(tok, directory)
    return {name: (directory / name).read_text(encoding="utf-8")
            for name in ("vocab.json", "merges.txt", "tokenizer.json")}


def check_loaded(tok: BPETokenizer, vocab: dict, added: dict) -> None:
    """A loaded tokenizer is right: each id decodes to what the file spells, and text round-trips."""
    for token, token_id in list(vocab.items())[:400]:
        expected = token.encode("utf-8") if token in added else bytes(CHAR_TO_BYTE[c] for c in token)
        assert tok.decode_single_token_bytes(token_id) == expected, (token, token_id)
    for content, token_id in added.items():
        assert tok.decode_single_token_bytes(token_id) == content.encode("utf-8")
    if getattr(tok, "split_behavior", "Isolated") != "Removed":
        assert tok.decode(tok.encode(SAMPLE, disallowed_special=())) == SAMPLE


def expect_one_error(load, path, surface: str):
    """Run ``load()``: the tokenizer, or None after checking the error is one line naming ``path``."""
    try:
        tok = load()
    except TokenizerFileError as error:
        message = str(error)
        assert isinstance(error, ValueError) and "\n" not in message and str(path) in message, message
        OUTCOMES[f"{surface}: refused"] += 1
        return None
    OUTCOMES[f"{surface}: loaded"] += 1
    return tok


# ----------------------------------------------------------------------------------- tokenizer.json


def tokenizer_json_edits():
    """One structural edit of the parsed tokenizer.json (a function of the dict and a drawn value)."""
    value = st.sampled_from(ODD_VALUES)
    index = st.integers(0, 300)

    def set_vocab_id(data, i, v):
        vocab = data["model"]["vocab"]
        vocab[list(vocab)[i % len(vocab)]] = v

    def set_added(data, i, v):
        data["added_tokens"].append({"id": v, "content": "<|x|>", "special": True})

    def added_id_like_existing(data, i, v):
        data["added_tokens"].append({"id": i % 290, "content": "<|y|>", "special": True})

    def set_merge(data, i, v):
        merges = data["model"]["merges"]
        merges[i % len(merges)] = v

    def set_top(key):
        return lambda data, i, v: data.update({key: v})

    def set_model(key):
        return lambda data, i, v: data["model"].update({key: v})

    def set_split(key):
        return lambda data, i, v: data["pre_tokenizer"]["pretokenizers"][0].update({key: v})

    def behavior(data, i, v):
        names = ["Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous", "Bogus"]
        data["pre_tokenizer"]["pretokenizers"][0].update(behavior=names[i % 6], invert=bool(i % 2))

    def drop_vocab_entry(data, i, v):
        vocab = data["model"]["vocab"]
        del vocab[list(vocab)[i % len(vocab)]]

    # Edits that keep the file valid (the loaded tokenizer must then follow them exactly).
    def swap_ids(data, i, v):
        vocab = data["model"]["vocab"]
        tokens = list(vocab)
        a, b = tokens[i % len(tokens)], tokens[(i * 7 + 3) % len(tokens)]
        vocab[a], vocab[b] = vocab[b], vocab[a]

    def add_next_id(data, i, v):
        ids = list(data["model"]["vocab"].values()) + [entry["id"] for entry in data["added_tokens"]]
        data["added_tokens"].append({"id": max(ids) + 1, "content": f"<|new{i}|>", "special": True})

    def merges_as_strings(data, i, v):
        data["model"]["merges"] = [" ".join(pair) if " " not in "".join(pair) else pair
                                   for pair in data["model"]["merges"]]

    edits = [set_vocab_id, set_added, added_id_like_existing, set_merge, set_top("added_tokens"),
             set_top("pre_tokenizer"), set_top("normalizer"), set_top("model"), set_model("vocab"),
             set_model("merges"), set_model("type"), set_split("pattern"), set_split("invert"), behavior,
             drop_vocab_entry]
    valid = [swap_ids, add_next_id, merges_as_strings, behavior]
    return st.tuples(st.sampled_from(edits) | st.sampled_from(valid), index, value)


@FUZZ
@given(edits=st.lists(tokenizer_json_edits(), max_size=3))
def test_tokenizer_json_mutants(base, tmp_path, edits):
    data = json.loads(base["tokenizer.json"])
    for edit, index, value in edits:
        try:
            edit(data, index, value)
        except (KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError):
            pass  # an earlier edit removed what this one edits: the file is odd enough as it is
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    tok = expect_one_error(lambda: read_tokenizer_json(path), path, "tokenizer.json structure")
    if tok is not None:
        added = {entry["content"]: entry["id"] for entry in data["added_tokens"]}
        check_loaded(tok, data["model"]["vocab"], added)


@FUZZ
@given(cut=st.integers(0, 10**6), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3))
def test_tokenizer_json_byte_mutants(base, tmp_path, cut, flips):
    data = bytearray(base["tokenizer.json"].encode("utf-8"))
    for position, byte in flips:
        data[position % len(data)] = byte
    path = tmp_path / "tokenizer.json"
    path.write_bytes(bytes(data[:len(data) - cut % 50]))
    tok = expect_one_error(lambda: read_tokenizer_json(path), path, "tokenizer.json bytes")
    if tok is not None and tok.split_behavior != "Removed":
        assert tok.decode(tok.encode(SAMPLE, disallowed_special=())) == SAMPLE


@pytest.mark.parametrize("text", ["[" * 100_000, '{"model": ' + "9" * 5000 + "}", "", "\ufeff{}", "null"])
def test_tokenizer_json_pathological_documents(tmp_path, text):
    path = tmp_path / "tokenizer.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TokenizerFileError) as error:
        read_tokenizer_json(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("bad_id", [-1, 3 * 10**8])
def test_added_token_id_is_checked_before_anything_that_large_is_allocated(base, tmp_path, bad_id):
    data = json.loads(base["tokenizer.json"])
    data["added_tokens"].append({"id": bad_id, "content": "<|big|>", "special": True})
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(TokenizerFileError, match="added_tokens|largest id is 300000000"):
            read_tokenizer_json(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"{peak / 1e6:.0f} MB to refuse a {path.stat().st_size} byte file"


def test_added_token_cannot_take_the_id_of_another_token(base, tmp_path):
    data = json.loads(base["tokenizer.json"])
    data["added_tokens"].append({"id": 100, "content": "<|mine|>", "special": True})
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match="id 100 is used by both"):
        read_tokenizer_json(path)


# ----------------------------------------------------------------------------- vocab.json + merges.txt


@FUZZ
@given(vocab_edits=st.lists(st.tuples(st.integers(0, 300), st.sampled_from(ODD_VALUES)), max_size=2),
       swaps=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=3),
       merge_lines=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(
           ["", "a", "a b c", "a  b", "zz q", "\u0120 \u0120", "#version: 0.2", "a\tb", "\u0100 \u0101"])), max_size=2),
       cut=st.integers(0, 40))
def test_vocab_and_merges_mutants(base, tmp_path, vocab_edits, swaps, merge_lines, cut):
    vocab = json.loads(base["vocab.json"])
    tokens = list(vocab)
    for a, b in swaps:  # a permutation of the ids keeps the files valid
        a, b = tokens[a % len(tokens)], tokens[b % len(tokens)]
        vocab[a], vocab[b] = vocab[b], vocab[a]
    for index, value in vocab_edits:
        vocab[list(vocab)[index % len(vocab)]] = value
    lines = base["merges.txt"].splitlines()
    for index, line in merge_lines:
        lines[index % len(lines)] = line
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("\n".join(lines[:len(lines) - cut % 5]) + "\n", encoding="utf-8")
    try:
        tok = BPETokenizer.from_pretrained(tmp_path)
    except TokenizerFileError as error:
        message = str(error)
        assert "\n" not in message and str(tmp_path) in message, message
        OUTCOMES["vocab.json + merges.txt: refused"] += 1
        return
    OUTCOMES["vocab.json + merges.txt: loaded"] += 1
    check_loaded(tok, vocab, tok.special_tokens)


# ------------------------------------------------------------- WordPiece vocab.txt + tokenizer_config.json


WORDPIECE_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", ",", "!", "it", "'"]
CONFIG_KEYS = ["do_lower_case", "strip_accents", "tokenize_chinese_chars", "model_max_length", "unk_token",
               "cls_token", "sep_token", "pad_token", "mask_token"]


@FUZZ
@given(config=st.dictionaries(st.sampled_from(CONFIG_KEYS),
                              st.sampled_from(ODD_VALUES) | st.sampled_from([True, False, None, "[UNK]", 512, 1e30]),
                              max_size=3),
       vocab_edit=st.sampled_from([None, "drop [UNK]", "repeat hello", "empty", "crlf"]),
       broken=st.sampled_from([False, False, False, True]))
def test_wordpiece_config_and_vocab_mutants(tmp_path, config, vocab_edit, broken):
    lines = list(WORDPIECE_VOCAB)
    if vocab_edit == "drop [UNK]":
        lines.remove("[UNK]")
    elif vocab_edit == "repeat hello":
        lines.append("hello")
    elif vocab_edit == "empty":
        lines = []
    separator = "\r\n" if vocab_edit == "crlf" else "\n"
    (tmp_path / "vocab.txt").write_text(separator.join(lines) + separator, encoding="utf-8")
    text = json.dumps(config)
    (tmp_path / "tokenizer_config.json").write_text(text[:-1] if broken else text, encoding="utf-8")
    try:
        tok = WordPieceTokenizer.from_pretrained(tmp_path)
    except TokenizerFileError as error:
        message = str(error)
        assert "\n" not in message and str(tmp_path) in message, message
        OUTCOMES["vocab.txt + tokenizer_config.json: refused"] += 1
        return
    OUTCOMES["vocab.txt + tokenizer_config.json: loaded"] += 1
    assert not broken
    assert tok.do_lower_case is config.get("do_lower_case", True)  # booleans read as booleans
    assert tok.tokenize("Hello, worlds!") == ["hello", ",", "world", "##s", "!"] if tok.do_lower_case else True


def test_do_lower_case_as_a_string_is_refused(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(WORDPIECE_VOCAB) + "\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": "false"}', encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=r"tokenizer_config.json: do_lower_case must be true or false, "
                                                 r"got 'false'"):
        WordPieceTokenizer.from_pretrained(tmp_path)


def test_broken_tokenizer_config_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(WORDPIECE_VOCAB) + "\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": tru', encoding="utf-8")
    with pytest.raises(TokenizerFileError) as error:
        WordPieceTokenizer.from_pretrained(tmp_path)
    assert str(error.value).startswith(f"{tmp_path / 'tokenizer_config.json'}, line 1: invalid JSON")


# ---------------------------------------------------------------------------------------- train


def test_train_given_a_str_that_names_a_file_refuses_and_says_to_pass_a_path(tmp_path, monkeypatch):
    (tmp_path / "corpus.txt").write_text("low lower lowest " * 20, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"pass Path\('corpus.txt'\)"):
        BPETokenizer.train("corpus.txt", 260, progress=False)
    from pathlib import Path
    assert BPETokenizer.train(Path("corpus.txt"), 260, progress=False).encode(" lowest") != \
        BPETokenizer.train("no such file", 260, progress=False).encode(" lowest")
