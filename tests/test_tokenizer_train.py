"""Training: determinism, vocabulary layout, round trips, save/from_pretrained."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer import BPETokenizer
from transformer_np.tokenizer.bpe import apply_merges, learn_merges
from transformer_np.tokenizer.byte_alphabet import BYTE_TO_ID, bytes_to_text

CORPUS = (
    "The cat sat on the mat. The cat's hat is flat; that cat ate the rat!\n"
    "def cat(x):\n    return x + 1  # cats and hats\n"
    "Le chat était là. 猫が好き。 😀😀 🐈 42 + 4242 = 4284\n"
) * 20


@pytest.fixture(scope="module")
def trained():
    return BPETokenizer.train(CORPUS, 320)


def test_vocabulary_layout(trained):
    assert trained.vocab_size == 320
    assert trained.special_tokens == {"<|endoftext|>": 319}
    # Ids 0..255 are the bytes in GPT-2's order, merges follow, special tokens last.
    assert trained.token_bytes[BYTE_TO_ID[ord(" ")]] == b" " and BYTE_TO_ID[ord(" ")] == 220
    assert [merged for _, _, merged in trained.merges] == list(range(256, 319))
    for left, right, merged in trained.merges:
        assert trained.token_bytes[merged] == trained.token_bytes[left] + trained.token_bytes[right]


def test_training_compresses_its_corpus(trained):
    ids = trained.encode(CORPUS)
    assert len(ids) < len(CORPUS.encode("utf-8")) / 2
    assert trained.decode(ids) == CORPUS


def test_most_frequent_pair_first_and_ties_by_smallest_pair():
    a, b, c = (BYTE_TO_ID[ord(ch)] for ch in "abc")
    token_bytes = [bytes([byte]) for byte in BYTE_TO_ID]
    # "ab" x3 and "bc" x3 tie; (a, b) is the smaller pair so it merges first.
    merges = learn_merges([([a, b], 3), ([b, c], 3), ([c, a], 1)], 2, token_bytes)
    assert merges == [(a, b, 256), (b, c, 257)]


def test_merge_reuses_an_existing_spelling():
    a, b = BYTE_TO_ID[ord("a")], BYTE_TO_ID[ord("b")]
    token_bytes = [bytes([byte]) for byte in BYTE_TO_ID] + [b"ab"]
    # "ab" already has id 256, so the merge maps to it and the vocabulary does not grow.
    assert learn_merges([([a, b], 5)], 3, token_bytes) == [(a, b, 256)]
    assert len(token_bytes) == 257


def test_apply_merges_left_to_right_on_overlaps():
    a = BYTE_TO_ID[ord("a")]
    ranks = {(a, a): 0}
    assert apply_merges([a, a, a], ranks, [256]) == [256, a]
    assert apply_merges([a, a, a, a], ranks, [256]) == [256, 256]


def test_vocab_size_too_small():
    with pytest.raises(ValueError, match="at least 257"):
        BPETokenizer.train("abc", 100)


def test_training_stops_when_no_pairs_left():
    tokenizer = BPETokenizer.train("ab ab", 1000)
    assert tokenizer.vocab_size == 256 + 2 + 1  # "ab", " ab", <|endoftext|>
    assert tokenizer.encode("ab ab") == [256, 257]


def test_custom_pattern_and_specials():
    tokenizer = BPETokenizer.train("one two three " * 10, 270, pattern=r"\S+|\s+", special_tokens=["<s>", "</s>"])
    assert set(tokenizer.special_tokens) == {"<s>", "</s>"}
    assert tokenizer.encode("<s>one</s>", allowed_special="all")[0] == tokenizer.special_tokens["<s>"]
    assert tokenizer.decode(tokenizer.encode("one two<s>", allowed_special="all")) == "one two<s>"


def test_save_writes_hugging_face_layout(trained, tmp_path):
    trained.save(tmp_path)
    lines = (tmp_path / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#version: 0.2" and len(lines) == 1 + len(trained.merges)
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["Ġ"] == 220 and vocab["<|endoftext|>"] == 319 and len(vocab) == 320
    left, right, merged = trained.merges[0]
    assert lines[1] == f"{bytes_to_text(trained.token_bytes[left])} {bytes_to_text(trained.token_bytes[right])}"
    assert not list(tmp_path.glob("*.tmp"))  # temp files were renamed away
    reloaded = BPETokenizer.from_pretrained(tmp_path)
    assert reloaded.token_bytes == trained.token_bytes
    assert reloaded.merges == trained.merges
    assert reloaded.special_tokens == trained.special_tokens


def test_openai_file_names_load(tmp_path):
    gpt2 = BPETokenizer.from_pretrained("gpt2")
    gpt2.save(tmp_path)
    (tmp_path / "vocab.json").rename(tmp_path / "encoder.json")
    (tmp_path / "merges.txt").rename(tmp_path / "vocab.bpe")
    assert BPETokenizer.from_pretrained(tmp_path).encode("Hello world") == [15496, 995]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_trained_round_trip_any_text(trained, text):
    assert trained.decode(trained.encode(text)) == text


training_texts = st.text(alphabet=st.sampled_from(list("aabbc  \n'sé中😀1")), min_size=0, max_size=300)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=training_texts, vocab_size=st.integers(257, 320))
def test_training_deterministic_and_save_round_trip(tmp_path_factory, text, vocab_size):
    first = BPETokenizer.train(text, vocab_size)
    second = BPETokenizer.train(text, vocab_size)
    assert first.merges == second.merges and first.token_bytes == second.token_bytes
    assert first.decode(first.encode(text)) == text
    directory = tmp_path_factory.mktemp("tok")
    first.save(directory)
    reloaded = BPETokenizer.from_pretrained(directory)
    assert reloaded.merges == first.merges
    assert reloaded.token_bytes == first.token_bytes
    assert reloaded.encode(text) == first.encode(text)


@settings(max_examples=40, deadline=None)
@given(training_texts)
def test_trained_tokens_encode_to_themselves(text):
    """Each learned token's own bytes encode back to that single token (BPE is self-consistent)."""
    tokenizer = BPETokenizer.train(text, 300, pattern=r"[^\n]+|\n")  # no word needs splitting here
    for token_id in range(256, tokenizer.vocab_size - 1):
        data = tokenizer.token_bytes[token_id]
        try:
            word = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if "\n" not in word:
            assert tokenizer.encode(word) == [token_id]


def test_transformers_loads_trained_tokenizer(trained, tmp_path):
    transformers = pytest.importorskip("transformers")  # dev-only check
    trained.save(tmp_path)
    hf = transformers.GPT2TokenizerFast.from_pretrained(str(tmp_path))
    for text in CORPUS.splitlines() + ["brand new words, 😀 and ünïcödé"]:
        assert hf.encode(text) == trained.encode(text)


def test_train_from_a_path_or_texts_equals_from_the_string(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    from_text = BPETokenizer.train(CORPUS, 300)
    assert BPETokenizer.train(path, 300).merges == from_text.merges
    # Each text of an iterable is its own document; CORPUS repeats a paragraph that ends in "\n" and
    # starts with a letter, so cutting between the repeats changes no word.
    paragraph = CORPUS[:len(CORPUS) // 20]
    assert BPETokenizer.train(iter([paragraph] * 20), 300).merges == from_text.merges
    assert BPETokenizer.train([path], 300).merges == from_text.merges


def test_train_from_a_file_read_in_small_parts(tmp_path, monkeypatch):
    from transformer_np.tokenizer import stream

    monkeypatch.setattr(stream, "PART_CHARS", 16)
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    real_read_chunks = stream.read_chunks
    monkeypatch.setattr(stream, "read_chunks", lambda p, progress=None: real_read_chunks(p, 7, progress))
    assert BPETokenizer.train(path, 300).merges == BPETokenizer.train(CORPUS, 300).merges


def test_no_merge_spans_a_special_token():
    text = "ab<|endoftext|>ab<|endoftext|>" * 50
    tokenizer = BPETokenizer.train(text, 300)
    learned = [tokenizer.token_bytes[merged] for _, _, merged in tokenizer.merges]
    assert learned == [b"ab"]  # "b<", "|e", ... never: the special token was cut out first
    assert tokenizer.encode(text, allowed_special="all")[:2] == [256, tokenizer.eot_token]


def test_training_reports_progress_on_long_runs(capsys, monkeypatch):
    from transformer_np.tokenizer import stream

    monkeypatch.setattr(stream.Progress, "__init__", _eager_progress_init(stream.Progress.__init__))
    BPETokenizer.train(CORPUS, 300)
    assert "training:" in capsys.readouterr().err
    BPETokenizer.train(CORPUS, 300, progress=False)
    assert capsys.readouterr().err == ""


def _eager_progress_init(init):
    def eager(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._next = 0.0  # report at once instead of after two seconds
        self.every = 0.0
    return eager


def test_train_rejects_non_text_items():
    with pytest.raises(TypeError, match="str or paths"):
        BPETokenizer.train([b"bytes"], 300)


# Random small vocabularies, including merges whose result has a *lower* rank than the merge that
# uses it (never in GPT-2's files, possible by hand): the heap and the scan must agree on them too.
@st.composite
def merge_tables(draw):
    num_merges = draw(st.integers(1, 12))
    ranks, merged_ids = {}, []
    for rank in range(num_merges):
        pair = (draw(st.integers(0, 3 + rank)), draw(st.integers(0, 3 + rank)))
        if pair not in ranks:
            ranks[pair] = len(merged_ids)
            merged_ids.append(draw(st.integers(0, 4 + num_merges)))
    return ranks, merged_ids


@settings(max_examples=300, deadline=None)
@given(table=merge_tables(), ids=st.lists(st.integers(0, 6), min_size=2, max_size=80))
def test_heap_and_scan_merge_identically(table, ids):
    from transformer_np.tokenizer.bpe import _apply_merges_heap, _apply_merges_scan

    ranks, merged_ids = table
    assert _apply_merges_heap(list(ids), ranks, merged_ids) == _apply_merges_scan(list(ids), ranks, merged_ids)


def test_long_words_use_the_heap_and_match_the_scan():
    from transformer_np.tokenizer.bpe import LONG_WORD, _apply_merges_scan

    gpt2 = BPETokenizer.from_pretrained("gpt2")
    for word in ("x" * 3000, "ab" * 700, "=" * 999, "Supercalifragilistic" * 40):
        ids = list(word.encode().translate(bytes(BYTE_TO_ID[b] for b in range(256))))
        assert len(ids) > LONG_WORD
        assert gpt2.encode(word) == _apply_merges_scan(ids, gpt2._merge_ranks, gpt2._merged_ids)
