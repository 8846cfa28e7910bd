"""CharTokenizer: one id per character, the alphabet kept in config.json under "char_vocab"."""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transformer_np.tokenizer import CharTokenizer


def test_alphabet_of_a_text_is_its_sorted_distinct_characters():
    tok = CharTokenizer.from_text("hello world\n")
    assert tok.chars == ["\n", " ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.vocab_size == 9
    assert tok.encode("hello") == [4, 3, 5, 5, 6]


@given(st.text(min_size=1))
def test_decode_inverts_encode_on_the_texts_own_alphabet(text):
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert "".join(tok.decode_stream(ids)) == text


def test_character_outside_the_alphabet_is_named():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"character 'z' \(position 1\) is not in the 3-character vocabulary"):
        tok.encode("azb")
    assert tok.encode("azb", errors="ignore") == [0, 1]


def test_decode_rejects_ids_outside_the_vocabulary_and_accepts_numpy_ids():
    tok = CharTokenizer("abc")
    assert tok.decode(np.array([2, 0, 1])) == "cab"
    for bad in (3, -1):
        with pytest.raises(ValueError, match=rf"token id {bad} is not in 0..2"):
            tok.decode([0, bad])


def test_repeated_or_multi_character_entries_are_rejected():
    with pytest.raises(ValueError, match="appears twice"):
        CharTokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["a", "bc"])


def test_save_adds_char_vocab_to_an_existing_config_and_keeps_its_keys(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 8}))
    tok = CharTokenizer.from_text("ROMEO: é\n")
    tok.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "gpt2" and config["n_embd"] == 8
    assert config["char_vocab"] == tok.chars
    assert CharTokenizer.from_config(config) == tok
    assert list(tmp_path.iterdir()) == [tmp_path / "config.json"]   # no temp file left behind


def test_from_config_without_char_vocab_says_what_is_missing():
    with pytest.raises(ValueError, match="char_vocab"):
        CharTokenizer.from_config({"model_type": "gpt2"})


def test_stream_decoder_has_bpe_tokenizers_interface():
    tok = CharTokenizer("ab\u00e9")
    decoder = tok.stream_decoder()
    assert [decoder.add(i) for i in (0, 2, 1)] == ["a", "\u00e9", "b"]
    assert decoder.finish() == ""
    assert tok.special_tokens == {}
