"""GPT-2's split pattern rebuilt for ``re``: letter/number/space classes and the translation."""

import re
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer.byte_alphabet import BYTE_TO_CHAR, BYTE_TO_ID, bytes_to_text, text_to_bytes
from transformer_np.tokenizer import unicode_tables
from transformer_np.tokenizer.pretokenize import WHITE_SPACE, category, compile_pattern, split, translate_pattern


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


def test_classes_follow_the_shipped_unicode_tables():
    letter = compile_pattern(r"\p{L}").fullmatch
    number = compile_pattern(r"\p{N}").fullmatch
    for code_point in range(0, sys.maxunicode + 1, 7):  # a sample keeps this fast
        char = chr(code_point)
        assert bool(letter(char)) == category(char).startswith("L"), hex(code_point)
        assert bool(number(char)) == category(char).startswith("N"), hex(code_point)


def test_tables_are_a_newer_unicode_than_this_pythons():
    assert unicode_tables.UNICODE_VERSION == "16.0.0"
    # Letters added after Unicode 14 (the version of Python 3.11's unicodedata) are still letters.
    for added in ("\u1c89", "\U00031350", "\U0002ebf0", "\U0001e4d0"):
        assert category(added) == "Lo" or category(added).startswith("L"), hex(ord(added))
        assert split(added + "'s") == [added, "'s"]
    assert category("\U00011f50") == "Nd" and category("\U00010d40") == "Nd"
    # Where this Python knows a code point, the categories agree (one Mn became Mc in Unicode 16).
    changed = [c for c in range(0, sys.maxunicode + 1, 3)
               if unicodedata.category(chr(c)) not in ("Cn", category(chr(c)))]
    assert set(changed) <= {0x1171E}


def test_translate_mixed_and_negated_forms():
    assert compile_pattern(r"[\p{L}_]+").findall("ab_c d") == ["ab_c", "d"]
    assert compile_pattern(r"\P{L}+").findall("ab12 c") == ["12 "]
    assert compile_pattern(r"\p{Lu}\p{Ll}*").findall("HelloWorld ÉtéX") == ["Hello", "World", "Été", "X"]
    assert compile_pattern(r"\S+").findall("a\x1cb c") == ["a\x1cb", "c"]
    assert compile_pattern(r"[]x]+").findall("]x]y") == ["]x]"]
    assert compile_pattern(r"[\P{L}x]+").findall("ab12x c") == ["12x "]   # negated items inside a class
    assert compile_pattern(r"[\s\S]+").findall("a \n\x1c😀") == ["a \n\x1c😀"]  # everything
    assert compile_pattern(r"[^\s\S]").findall("a b") == []
    assert compile_pattern(r"[\p{N}\-\x41-\x43]+").findall("1-AB z") == ["1-AB"]
    re.compile(translate_pattern(r"\p{L}+?|\p{N}{2,3}|[^\s\p{L}]*"))  # other quantifiers still compile


def test_possessive_quantifiers_and_gpt4_style_pattern():
    assert compile_pattern(r"\p{L}++|\s++").findall("ab  c") == ["ab", "  ", "c"]
    cl100k = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
              r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
    assert compile_pattern(cl100k).findall("Hello WORLD's 12345!!\n\n  x") == [
        "Hello", " WORLD", "'s", " ", "123", "45", "!!\n\n", " ", " x"]


@pytest.mark.parametrize(("pattern", "named"), [
    (r"\p{Greek}", r"\p{Greek}"),
    (r"\pL", r"'\\p' without braces"),
    (r"\X", r"'\\X'"),
    (r"[[:alpha:]]", "POSIX class"),
    (r"(?|a)", "group syntax '(?|'"),
    (r"[\p{L}--x]", "set operation '--'"),
    (r"[\p{L}[x]]", "nested class"),
    (r"[\p{L}\d]", r"escape \d inside a class"),
    (r"[\p{L}", "unterminated character class"),
])
def test_refuses_what_re_cannot_do_and_names_it(pattern, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        compile_pattern(pattern)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_split_covers_the_text(text):
    assert "".join(split(text)) == text
