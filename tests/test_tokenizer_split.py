"""tokenizer.json's Split pre-tokenizer behaves as Hugging Face tokenizers' Split.

tests/fixtures/split_behaviors.json holds 300 cases (pattern, behavior, invert, text) with the words
``tokenizers.pre_tokenizers.Split`` gives (tools/make_split_fixtures.py): capturing groups, text the
pattern does not match, delimiter runs, and patterns that match the empty string.
"""
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer import TokenizerFileError
from transformer_np.tokenizer.pretokenize import SPLIT_BEHAVIORS, Splitter
from transformer_np.tokenizer.tokenizer_json import read_tokenizer_json, write_tokenizer_json

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASES = json.loads((FIXTURES / "split_behaviors.json").read_text(encoding="utf-8"))
LLAMA3_STYLE = FIXTURES / "llama_tiny" / "tokenizers" / "llama3_style.json"


def test_words_equal_hugging_face_split_on_every_fixture_case():
    assert len(CASES) == 300 and {case["behavior"] for case in CASES} == set(SPLIT_BEHAVIORS)
    for case in CASES:
        words = Splitter(case["pattern"], case["behavior"], case["invert"]).words(case["text"])
        assert words == case["words"], case


def test_each_behavior_on_a_delimiter_run():
    expected = {"Isolated": ["a", "-", "b", "-", "-", "c"], "Removed": ["a", "b", "c"],
                "MergedWithPrevious": ["a-", "b-", "-", "c"], "MergedWithNext": ["a", "-b", "-", "-c"],
                "Contiguous": ["a", "-", "b", "--", "c"]}
    for behavior, words in expected.items():
        assert Splitter("-", behavior).words("a-b--c") == words


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet="ab -x\n1é", max_size=30), pattern=st.sampled_from(["-", "(a)", "a*|b+", r"\s*", "x?"]),
       behavior=st.sampled_from(SPLIT_BEHAVIORS), invert=st.booleans())
def test_pieces_cover_the_text_and_words_are_the_kept_pieces(text, pattern, behavior, invert):
    splitter = Splitter(pattern, behavior, invert)
    pieces, words = splitter.pieces(text), splitter.words(text)
    assert "".join(pieces) == text and all(pieces)
    if behavior != "Removed":
        assert words == pieces


def split_file(tmp_path, pattern, behavior="Isolated", invert=False) -> Path:
    """llama3_style.json with its Split step replaced."""
    data = json.loads(LLAMA3_STYLE.read_text(encoding="utf-8"))
    split = data["pre_tokenizer"]["pretokenizers"][0]
    assert split["type"] == "Split"
    split.update(pattern={"Regex": pattern}, behavior=behavior, invert=invert)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_capturing_group_does_not_make_text_vanish(tmp_path):
    grouped = read_tokenizer_json(split_file(tmp_path, r"( ?\p{L}+)|(\s+)"))
    plain = read_tokenizer_json(LLAMA3_STYLE)
    ids = grouped.encode("Hello world")
    assert ids and grouped.decode(ids) == "Hello world"
    assert ids == plain.encode_ordinary("Hello world")  # the same words as Llama 3's pattern here


def test_text_the_pattern_does_not_match_is_kept(tmp_path):
    tok = read_tokenizer_json(split_file(tmp_path, r"\p{L}+"))
    text = "Hello, world! 123"
    assert tok.decode(tok.encode(text)) == text


def test_removed_behavior_drops_the_delimiters(tmp_path):
    tok = read_tokenizer_json(split_file(tmp_path, r"\s+", "Removed"))
    assert tok.decode(tok.encode("Hello   big world")) == "Hellobigworld"


@pytest.mark.parametrize("behavior", SPLIT_BEHAVIORS)
def test_behavior_and_invert_survive_write_and_read(tmp_path, behavior):
    tok = read_tokenizer_json(split_file(tmp_path, r"\s+", behavior, invert=True))
    again = read_tokenizer_json(write_tokenizer_json(tok, tmp_path / "again"))
    assert (again.split_behavior, again.split_invert) == (behavior, True)
    text = "Hello   big world, it's 2024!"
    assert again.encode(text) == tok.encode(text)


@pytest.mark.parametrize("behavior", ["Removed", "MergedWithNext"])
def test_streamed_ids_equal_encode_for_other_behaviors(tmp_path, behavior):
    tok = read_tokenizer_json(split_file(tmp_path, r"\s+", behavior))
    text = "word  and\n\nmore words " * 6000  # past the 64K-character part size
    chunks = [text[i:i + 999] for i in range(0, len(text), 999)]
    assert list(tok.encode_iterable(chunks)) == tok.encode(text)


@pytest.mark.parametrize("split, named", [
    ({"pattern": {"Regex": "x"}, "behavior": "Sideways"}, "Split.behavior 'Sideways'"),
    ({"pattern": {"Regex": "x"}, "behavior": "Isolated", "invert": "false"}, "Split.invert must be true or false"),
    ({"pattern": "x", "behavior": "Isolated"}, "Split.pattern: expected"),
    ({"pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}, "Split.pattern: cannot compile"),
])
def test_bad_split_steps_are_one_line_errors(tmp_path, split, named):
    data = json.loads(LLAMA3_STYLE.read_text(encoding="utf-8"))
    data["pre_tokenizer"]["pretokenizers"][0] = dict(split, type="Split")
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=named) as error:
        read_tokenizer_json(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_string_pattern_is_matched_literally(tmp_path):
    data = json.loads(LLAMA3_STYLE.read_text(encoding="utf-8"))
    data["pre_tokenizer"]["pretokenizers"][0].update(pattern={"String": "."}, behavior="MergedWithPrevious")
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    tok = read_tokenizer_json(path)
    assert Splitter(tok.pattern, tok.split_behavior, tok.split_invert).words("a.b.c") == ["a.", "b.", "c"]
    assert tok.decode(tok.encode("a.b.c")) == "a.b.c"
