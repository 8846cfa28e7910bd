"""Bad tokenizer files raise TokenizerFileError naming the file and line."""

import json

import pytest

from transformer_np.tokenizer import BPETokenizer, TokenizerFileError


@pytest.fixture()
def tiny_dir(tmp_path):
    """A valid tiny tokenizer directory: bytes, two merges, <|endoftext|>."""
    BPETokenizer.train("ab ab ab", 259).save(tmp_path)
    return tmp_path


def load_error(directory) -> TokenizerFileError:
    with pytest.raises(TokenizerFileError) as info:
        BPETokenizer.from_pretrained(directory)
    assert isinstance(info.value, ValueError)
    return info.value


def test_tiny_dir_is_valid(tiny_dir):
    assert BPETokenizer.from_pretrained(tiny_dir).encode("ab ab") == [256, 257]


def test_missing_directory(tmp_path):
    error = load_error(tmp_path / "nope")
    assert "nope" in str(error) and "not a directory" in str(error)


def test_empty_directory(tmp_path):
    assert "no vocab.json" in str(load_error(tmp_path))


def test_missing_merges_file(tiny_dir):
    (tiny_dir / "merges.txt").unlink()
    error = load_error(tiny_dir)
    assert error.path.endswith("merges.txt") and "file not found" in str(error)


def test_malformed_json_names_line(tiny_dir):
    (tiny_dir / "vocab.json").write_text('{\n"a": 1,\n"b": oops\n}\n', encoding="utf-8")
    error = load_error(tiny_dir)
    assert error.path.endswith("vocab.json") and error.line == 3
    assert "vocab.json, line 3" in str(error)


def test_vocab_with_bad_id(tiny_dir):
    vocab = json.loads((tiny_dir / "vocab.json").read_text(encoding="utf-8"))
    vocab["Ġab"] = "x"
    (tiny_dir / "vocab.json").write_text(json.dumps(vocab, indent=0), encoding="utf-8")
    error = load_error(tiny_dir)
    assert "'Ġab' has id 'x'" in str(error) and error.line is not None


def test_vocab_with_gap_or_duplicate(tiny_dir):
    vocab = json.loads((tiny_dir / "vocab.json").read_text(encoding="utf-8"))
    vocab["<|endoftext|>"] = 500
    (tiny_dir / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    assert "without gaps" in str(load_error(tiny_dir))
    vocab["<|endoftext|>"] = 0
    (tiny_dir / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    assert "id 0 is used by both" in str(load_error(tiny_dir))


def test_vocab_missing_a_byte(tiny_dir):
    vocab = json.loads((tiny_dir / "vocab.json").read_text(encoding="utf-8"))
    del vocab["!"]
    vocab = {token: index for index, token in enumerate(vocab)}
    (tiny_dir / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    assert "single-byte token '!'" in str(load_error(tiny_dir))


def test_merge_naming_unknown_token(tiny_dir):
    with open(tiny_dir / "merges.txt", "a", encoding="utf-8") as merges:
        merges.write("a zz\n")
    error = load_error(tiny_dir)
    assert error.path.endswith("merges.txt") and error.line == 4
    assert "'zz' is not in vocab.json" in str(error)


def test_merge_whose_result_is_unknown(tiny_dir):
    with open(tiny_dir / "merges.txt", "a", encoding="utf-8") as merges:
        merges.write("b a\n")
    assert "merged token 'ba'" in str(load_error(tiny_dir))


def test_malformed_merge_line(tiny_dir):
    (tiny_dir / "merges.txt").write_text("#version: 0.2\na b c\n", encoding="utf-8")
    error = load_error(tiny_dir)
    assert error.line == 2 and "two tokens" in str(error)


def test_not_utf8(tiny_dir):
    (tiny_dir / "merges.txt").write_bytes(b"#version: 0.2\n\xff\xfe\n")
    assert "not valid UTF-8" in str(load_error(tiny_dir))
