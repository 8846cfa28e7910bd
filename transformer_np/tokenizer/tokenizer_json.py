r"""Hugging Face ``tokenizer.json`` for byte-level BPE (GPT-2, SmolLM, Llama 3 style) <-> ``BPETokenizer``.

The one file holds what vocab.json + merges.txt hold, and more:

* ``model``: ``{"type": "BPE", "vocab": {token: id}, "merges": [...]}``; tokens are spelled with the
  byte stand-ins of :mod:`byte_alphabet` (``Ġ`` = space); a merge is ``"left right"`` (older files) or
  ``["left", "right"]`` (newer ones, which allows spaces inside tokens);
* ``pre_tokenizer``: how text is cut into words before BPE. Three byte-level forms are understood:
  ``ByteLevel(use_regex=true)`` (GPT-2's pattern), ``Split(Regex=P)`` then ``ByteLevel(use_regex=false)``
  (pattern P, e.g. Llama 3's), and ``Digits(individual_digits=true)`` then ``ByteLevel`` (SmolLM: every
  digit is a word of its own, then GPT-2's pattern inside the rest; written here as one equivalent pattern);
* ``added_tokens``: ``[{"id", "content", "special"}, ...]``, matched as whole strings (our special tokens).

Anything else (a normalizer, SentencePiece-style ``byte_fallback``, ``ignore_merges``, a prefix space) is
refused with one line naming it, rather than tokenized differently from the original.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .byte_alphabet import CHAR_TO_BYTE, bytes_to_text
from .files import TokenizerFileError, atomic_write_text
from .pretokenize import GPT2_SPLIT_PATTERN
from .tokenizer import BPETokenizer

FILE_NAME = "tokenizer.json"

#: Digits(individual_digits) then GPT-2's pattern, as one pattern: a digit is always a word by itself, and
#: a space run may end before a digit as it ends at the end of text (the digit starts a new piece).
DIGITS_THEN_GPT2_PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?![^\s\p{N}])|\s+""")


def split_pattern(pre_tokenizer: dict | None, path: Path) -> str:
    """The single regex our BPETokenizer splits with, for a tokenizer.json ``pre_tokenizer``."""
    steps = [] if pre_tokenizer is None else (
        pre_tokenizer.get("pretokenizers", []) if pre_tokenizer.get("type") == "Sequence" else [pre_tokenizer])
    kinds = [step.get("type") for step in steps]
    byte_level = steps[-1] if kinds and kinds[-1] == "ByteLevel" else None
    if byte_level is None:
        raise TokenizerFileError(path, f"pre_tokenizer {kinds or None} is not byte-level (expected ... ByteLevel)")
    if byte_level.get("add_prefix_space"):
        raise TokenizerFileError(path, "pre_tokenizer ByteLevel add_prefix_space=true is not supported")
    uses_regex = byte_level.get("use_regex", True)
    if kinds == ["ByteLevel"] and uses_regex:
        return GPT2_SPLIT_PATTERN
    if kinds == ["Digits", "ByteLevel"] and uses_regex and steps[0].get("individual_digits"):
        return DIGITS_THEN_GPT2_PATTERN
    if kinds == ["Split", "ByteLevel"] and not uses_regex:
        split = steps[0]
        pattern = (split.get("pattern") or {}).get("Regex")
        if pattern and split.get("behavior") == "Isolated" and not split.get("invert"):
            return pattern
    raise TokenizerFileError(path, f"unsupported pre_tokenizer sequence {kinds} (supported: ByteLevel; "
                                   f"Digits(individual_digits) + ByteLevel; Split(Regex, Isolated) + ByteLevel)")


def _merge_pair(merge, path: Path) -> tuple[str, str]:
    if isinstance(merge, str):
        parts = merge.split(" ")
    else:
        parts = list(merge) if isinstance(merge, list) else []
    if len(parts) != 2 or not all(isinstance(p, str) and p for p in parts):
        raise TokenizerFileError(path, f"model.merges: expected 'left right' or [left, right], got {merge!r}")
    return parts[0], parts[1]


def _added_token(entry, path) -> tuple[str, int]:
    """One added_tokens entry -> (content, id)."""
    if not (isinstance(entry, dict) and isinstance(entry.get("content"), str) and isinstance(entry.get("id"), int)):
        raise TokenizerFileError(path, f"added_tokens: expected {{'content': str, 'id': int, ...}}, got {entry!r}")
    return entry["content"], entry["id"]


def read_tokenizer_json(path: os.PathLike | str) -> BPETokenizer:
    """A BPETokenizer with the file's vocabulary, merges, split pattern and added tokens."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TokenizerFileError(path, f"invalid JSON: {error.msg} (column {error.colno})", error.lineno) from None
    except (OSError, UnicodeDecodeError) as error:
        raise TokenizerFileError(path, f"cannot read: {getattr(error, 'strerror', None) or error}") from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise TokenizerFileError(path, f"model type {None if model is None else model.get('type')!r}; only 'BPE'")
    normalizer = data.get("normalizer")
    if normalizer is not None:
        kind = normalizer.get("type") if isinstance(normalizer, dict) else normalizer
        raise TokenizerFileError(path, f"normalizer {kind!r} is not supported")
    for key in ("byte_fallback", "ignore_merges", "continuing_subword_prefix", "end_of_word_suffix", "dropout"):
        if model.get(key):
            raise TokenizerFileError(path, f"model.{key}={model[key]!r} is not supported (byte-level BPE only)")
    pattern = split_pattern(data.get("pre_tokenizer"), path)
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise TokenizerFileError(path, "model.vocab must be a non-empty object token -> id")
    added = dict(_added_token(entry, path) for entry in data.get("added_tokens") or [])
    spelled = dict(vocab)
    spelled.update(added)
    size = max(spelled.values()) + 1
    token_bytes: list[bytes | None] = [None] * size
    for token, token_id in spelled.items():
        if token in added:
            token_bytes[token_id] = token.encode("utf-8")
        elif all(char in CHAR_TO_BYTE for char in token):
            token_bytes[token_id] = bytes(CHAR_TO_BYTE[char] for char in token)
        else:
            raise TokenizerFileError(path, f"model.vocab: token {token!r} is outside the byte alphabet "
                                           f"(and not an added token)")
    if None in token_bytes:
        raise TokenizerFileError(path, f"ids must be 0..{size - 1} without gaps; id {token_bytes.index(None)} is missing")
    merges = []
    for rank, merge in enumerate(model.get("merges") or []):
        left, right = _merge_pair(merge, path)
        for token in (left, right, left + right):
            if token not in vocab:
                raise TokenizerFileError(path, f"model.merges[{rank}]: token {token!r} is not in model.vocab")
        merges.append((vocab[left], vocab[right], vocab[left + right]))
    try:
        return BPETokenizer(token_bytes, merges, added, pattern)
    except ValueError as error:
        raise TokenizerFileError(path, str(error)) from None


def write_tokenizer_json(tokenizer: BPETokenizer, directory: os.PathLike | str) -> Path:
    """Write ``tokenizer.json`` (Split(our pattern) + ByteLevel, merges as pairs) that both
    :func:`read_tokenizer_json` and ``tokenizers.Tokenizer.from_file`` read back to the same ids."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    special_ids = {token_id: text for text, token_id in tokenizer.special_tokens.items()}
    spelled = [special_ids.get(i) or bytes_to_text(data) for i, data in enumerate(tokenizer.token_bytes)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    data = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, text in sorted(special_ids.items())],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": tokenizer.pattern}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": None,
        "decoder": dict(byte_level, use_regex=True),
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {token: i for i, token in enumerate(spelled)},
                  "merges": [[spelled[left], spelled[right]] for left, right, _ in tokenizer.merges]},
    }
    path = directory / FILE_NAME
    atomic_write_text(path, json.dumps(data, ensure_ascii=False) + "\n")
    return path
