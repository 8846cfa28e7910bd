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
