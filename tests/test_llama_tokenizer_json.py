"""Hugging Face tokenizer.json (byte-level BPE) read into a BPETokenizer: the same ids as the `tokenizers` package.

The three files in tests/fixtures/llama_tiny/tokenizers were trained by tools/make_llama_fixtures.py with
`tokenizers`, one per pre-tokenizer form (GPT-2's ByteLevel, SmolLM's Digits + ByteLevel, Llama 3's Split
regex + ByteLevel); cases.json holds the ids `tokenizers` gives for tricky strings.
"""
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer import BPETokenizer, TokenizerFileError
from transformer_np.tokenizer.pretokenize import split
from transformer_np.tokenizer.tokenizer_json import (DIGITS_THEN_GPT2_PATTERN, read_tokenizer_json,
                                                     write_tokenizer_json)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llama_tiny"
TOKENIZERS = FIXTURES / "tokenizers"
CASES = json.loads((TOKENIZERS / "cases.json").read_text(encoding="utf-8"))
KINDS = sorted(CASES)


@pytest.fixture(scope="module", params=KINDS)
def tokenizer(request):
    return request.param, read_tokenizer_json(TOKENIZERS / f"{request.param}.json")


def test_ids_equal_the_tokenizers_package_on_tricky_strings(tokenizer):
    kind, tok = tokenizer
    for case in CASES[kind]:
        assert tok.encode(case["text"], allowed_special="all") == case["ids"], case["text"]


def test_decoding_the_reference_ids_gives_the_text_back(tokenizer):
    kind, tok = tokenizer
    for case in CASES[kind]:
        assert tok.decode(case["ids"]) == case["text"]


def test_the_three_pre_tokenizers_split_digits_differently():
    # (The ids above cannot show it: these tiny vocabularies learned no digit merges.)
    patterns = {kind: read_tokenizer_json(TOKENIZERS / f"{kind}.json").pattern for kind in KINDS}
    assert patterns["smollm_style"] == DIGITS_THEN_GPT2_PATTERN
    text = "in 12345,  6"
    assert split(text, patterns["gpt2_style"]) == ["in", " 12345", ",", " ", " 6"]
    assert split(text, patterns["smollm_style"]) == ["in", " ", "1", "2", "3", "4", "5", ",", "  ", "6"]
    assert split(text, patterns["llama3_style"]) == ["in", " ", "123", "45", ",", " ", " ", "6"]


def test_added_tokens_become_special_tokens(tokenizer):
    _, tok = tokenizer
    assert tok.special_tokens == {"<|endoftext|>": 0, "<|im_start|>": 1}
    assert tok.encode("a<|im_start|>b", allowed_special="all")[1] == 1
    assert 1 not in tok.encode_ordinary("a<|im_start|>b")              # or plain text


def test_from_pretrained_reads_a_directory_with_only_tokenizer_json():
    tok = BPETokenizer.from_pretrained(FIXTURES / "untied")
    reference = read_tokenizer_json(TOKENIZERS / "smollm_style.json")
    assert tok.token_bytes == reference.token_bytes and tok.pattern == reference.pattern


def test_from_pretrained_prefers_tokenizer_json_over_vocab_and_merges(tmp_path):
    # SmolLM-style directories ship all three files; only tokenizer.json has the split pattern.
    reference = read_tokenizer_json(TOKENIZERS / "llama3_style.json")
    (tmp_path / "tokenizer.json").write_bytes((TOKENIZERS / "llama3_style.json").read_bytes())
    BPETokenizer.from_pretrained("gpt2").save(tmp_path)                  # vocab.json + merges.txt of another
    tok = BPETokenizer.from_pretrained(tmp_path)
    assert tok.pattern == reference.pattern and tok.token_bytes == reference.token_bytes


def test_merges_as_strings_or_as_pairs_give_the_same_tokenizer(tmp_path):
    data = json.loads((TOKENIZERS / "gpt2_style.json").read_text(encoding="utf-8"))
    assert isinstance(data["model"]["merges"][0], list)                  # what tokenizers 0.20+ writes
    data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]   # the older form
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    old_form, new_form = read_tokenizer_json(tmp_path / "tokenizer.json"), read_tokenizer_json(TOKENIZERS / "gpt2_style.json")
    assert old_form.merges == new_form.merges


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=40))
def test_written_tokenizer_json_reads_back_to_the_same_ids(tmp_path_factory, text):
    tok = read_tokenizer_json(TOKENIZERS / "llama3_style.json")
    directory = tmp_path_factory.mktemp("tok")
    again = read_tokenizer_json(write_tokenizer_json(tok, directory))
    assert again.encode_ordinary(text) == tok.encode_ordinary(text)
    assert again.decode(tok.encode_ordinary(text)) == text


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(normalizer={"type": "NFC"}), "normalizer 'NFC'"),
    (lambda d: d["model"].update(byte_fallback=True), "model.byte_fallback=True"),
    (lambda d: d["model"].update(ignore_merges=True), "model.ignore_merges=True"),
    (lambda d: d["model"].update(type="WordPiece"), "only 'BPE'"),
    (lambda d: d.update(pre_tokenizer={"type": "Metaspace"}), "not byte-level"),
    (lambda d: d.update(pre_tokenizer={"type": "ByteLevel", "add_prefix_space": True}), "add_prefix_space"),
    (lambda d: d["model"]["merges"].append(["zz", "q"]), "token 'zz' is not in model.vocab"),
    (lambda d: d["model"]["vocab"].update({"x y": 999}), "outside the byte alphabet"),
])
def test_unsupported_or_broken_files_are_refused_in_one_line(tmp_path, edit, message):
    data = json.loads((TOKENIZERS / "gpt2_style.json").read_text(encoding="utf-8"))
    edit(data)
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TokenizerFileError) as error:
        read_tokenizer_json(tmp_path / "tokenizer.json")
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(tmp_path / "tokenizer.json") in str(error.value)


@pytest.mark.parametrize("change, named", [(lambda d: d.update(added_tokens=[{"id": 3}]), "added_tokens"),
                                           (lambda d: d.update(normalizer="NFC"), "normalizer 'NFC'")])
def test_malformed_entries_are_tokenizer_file_errors(tmp_path, change, named):
    data = json.loads((TOKENIZERS / "gpt2_style.json").read_text(encoding="utf-8"))
    change(data)
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=named):
        read_tokenizer_json(tmp_path / "tokenizer.json")
