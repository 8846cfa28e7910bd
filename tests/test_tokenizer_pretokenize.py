"""GPT-2's split pattern rebuilt for ``re``: letter/number/space classes and the translation."""

import re
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer.byte_alphabet import BYTE_TO_CHAR, BYTE_TO_ID, bytes_to_text, text_to_bytes
from transformer_np.tokenizer.pretokenize import WHITE_SPACE, compile_pattern, split, translate_pattern


def test_byte_alphabet():
    assert BYTE_TO_CHAR[ord(" ")] == "Ġ" and BYTE_TO_ID[ord(" ")] == 220 and BYTE_TO_ID[ord("!")] == 0
    assert sorted(BYTE_TO_ID.values()) == list(range(256))
    data = bytes(range(256))
    assert text_to_bytes(bytes_to_text(data)) == data


@pytest.mark.parametrize(("text", "words"), [
    ("x² _y", ["x", "²", " _", "y"]),          # ² is a number (No), _ is not a letter
    ("Ⅻ½٣", ["Ⅻ½٣"]),                          # Nl, No, Nd are all \p{N}
    ("a\x1c\x1db", ["a", "\x1c\x1d", "b"]),     # U+001C..1F are not Unicode White_Space
    ("a   b", ["a", "  ", " b"]),               # \s+(?!\S) leaves one space for the word
    ("a \u3000\u00a0b", ["a", " \u3000", "\u00a0", "b"]),  # only " " may lead a word
    ("I'M we'll", ["I", "'", "M", " we", "'ll"]),
    ("e\u0301t", ["e", "\u0301", "t"]),         # combining marks (Mn) are not letters
    ("𝐀𝐁 𝟙 😀!", ["𝐀𝐁", " 𝟙", " 😀!"]),        # astral letters, digits, symbols
])
def test_split_examples(text, words):
    assert split(text) == words


def test_white_space_is_isspace_without_information_separators():
    isspace = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert isspace - set(WHITE_SPACE) == {"\x1c", "\x1d", "\x1e", "\x1f"}
    assert set(WHITE_SPACE) <= isspace


def test_letter_and_number_classes_follow_unicodedata():
    letter = compile_pattern(r"\p{L}").fullmatch
    number = compile_pattern(r"\p{N}").fullmatch
    for code_point in range(0, sys.maxunicode + 1, 7):  # a sample keeps this fast
        char = chr(code_point)
        category = unicodedata.category(char)
        assert bool(letter(char)) == category.startswith("L"), hex(code_point)
        assert bool(number(char)) == category.startswith("N"), hex(code_point)


def test_translate_mixed_and_negated_forms():
    assert compile_pattern(r"[\p{L}_]+").findall("ab_c d") == ["ab_c", "d"]
    assert compile_pattern(r"\P{L}+").findall("ab12 c") == ["12 "]
    assert compile_pattern(r"\p{Lu}\p{Ll}*").findall("HelloWorld ÉtéX") == ["Hello", "World", "Été", "X"]
    assert compile_pattern(r"\S+").findall("a\x1cb c") == ["a\x1cb", "c"]
    assert compile_pattern(r"[]x]+").findall("]x]y") == ["]x]"]
    with pytest.raises(ValueError, match="unsupported Unicode property"):
        translate_pattern(r"\p{Greek}")
    with pytest.raises(ValueError, match="not supported"):
        translate_pattern(r"[\P{L}x]")
    re.compile(translate_pattern(r"\p{L}+?|\p{N}{2,3}|[^\s\p{L}]*"))  # other quantifiers still compile


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_split_covers_the_text(text):
    assert "".join(split(text)) == text
