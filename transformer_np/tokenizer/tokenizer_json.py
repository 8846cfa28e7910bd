r"""Hugging Face ``tokenizer.json`` for byte-level BPE (GPT-2, SmolLM, Llama 3 style) <-> ``BPETokenizer``.

The one file holds what vocab.json + merges.txt hold, and more:

* ``model``: ``{"type": "BPE", "vocab": {token: id}, "merges": [...]}``; tokens are spelled with the
  byte stand-ins of :mod:`byte_alphabet` (``Ġ`` = space); a merge is ``"left right"`` (older files) or
  ``["left", "right"]`` (newer ones, which allows spaces inside tokens);
* ``pre_tokenizer``: how text is cut into words before BPE. Three byte-level forms are understood:
  ``ByteLevel(use_regex=true)`` (GPT-2's pattern), ``Split(Regex=P or String=S, behavior, invert)`` then
  ``ByteLevel(use_regex=false)`` (pattern P, e.g. Llama 3's; every behavior as Hugging Face's
  :class:`~.pretokenize.Splitter` does it: text the pattern does not match is kept, not dropped), and ``Digits(individual_digits=true)`` then ``ByteLevel`` (SmolLM: every
  digit is a word of its own, then GPT-2's pattern inside the rest; written here as one equivalent pattern);
* ``added_tokens``: ``[{"id", "content", "special"}, ...]``, matched as whole strings (our special tokens).

Anything else (a normalizer, SentencePiece-style ``byte_fallback``, ``ignore_merges``, a prefix space) is
refused with one line naming it, rather than tokenized differently from the original.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .byte_alphabet import CHAR_TO_BYTE, bytes_to_text
from .files import TokenizerFileError, atomic_write_text, read_json
from .pretokenize import GPT2_SPLIT_PATTERN, SPLIT_BEHAVIORS, compile_pattern
from .tokenizer import BPETokenizer

FILE_NAME = "tokenizer.json"

#: Digits(individual_digits) then GPT-2's pattern, as one pattern: a digit is always a word by itself, and
#: a space run may end before a digit as it ends at the end of text (the digit starts a new piece).
DIGITS_THEN_GPT2_PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?![^\s\p{N}])|\s+""")


def split_rule(pre_tokenizer, path: Path) -> tuple[str, str, bool]:
    """``(pattern, behavior, invert)`` of the split our BPETokenizer does, for a ``pre_tokenizer``."""
    if pre_tokenizer is not None and not isinstance(pre_tokenizer, dict):
        raise TokenizerFileError(path, f"pre_tokenizer: expected an object, got {pre_tokenizer!r:.80}")
    steps = [] if pre_tokenizer is None else (
        pre_tokenizer.get("pretokenizers", []) if pre_tokenizer.get("type") == "Sequence" else [pre_tokenizer])
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        raise TokenizerFileError(path, "pre_tokenizer.pretokenizers: expected a list of objects")
    kinds = [step.get("type") for step in steps]
    byte_level = steps[-1] if kinds and kinds[-1] == "ByteLevel" else None
    if byte_level is None:
        raise TokenizerFileError(path, f"pre_tokenizer {kinds or None} is not byte-level (expected ... ByteLevel)")
    if byte_level.get("add_prefix_space"):
        raise TokenizerFileError(path, "pre_tokenizer ByteLevel add_prefix_space=true is not supported")
    uses_regex = byte_level.get("use_regex", True)
    if kinds == ["ByteLevel"] and uses_regex:
        return GPT2_SPLIT_PATTERN, "Isolated", False
    if kinds == ["Digits", "ByteLevel"] and uses_regex and steps[0].get("individual_digits"):
        return DIGITS_THEN_GPT2_PATTERN, "Isolated", False
    if kinds == ["Split", "ByteLevel"] and not uses_regex:
        return _split_step(steps[0], path)
    raise TokenizerFileError(path, f"unsupported pre_tokenizer sequence {kinds} (supported: ByteLevel; "
                                   f"Digits(individual_digits) + ByteLevel; Split + ByteLevel(use_regex=false))")


def _split_step(split: dict, path: Path) -> tuple[str, str, bool]:
    """A ``Split`` step: ``{"pattern": {"Regex": P} or {"String": S}, "behavior": B, "invert": bool}``."""
    pattern = split.get("pattern")
    if isinstance(pattern, dict) and isinstance(pattern.get("Regex"), str) and pattern["Regex"]:
        regex = pattern["Regex"]
    elif isinstance(pattern, dict) and isinstance(pattern.get("String"), str) and pattern["String"]:
        regex = re.escape(pattern["String"])
    else:
        raise TokenizerFileError(path, f"pre_tokenizer Split.pattern: expected {{'Regex': str}} or "
                                       f"{{'String': str}}, got {pattern!r:.80}")
    behavior, invert = split.get("behavior"), split.get("invert", False)
    if behavior not in SPLIT_BEHAVIORS:
        raise TokenizerFileError(path, f"pre_tokenizer Split.behavior {behavior!r:.40} is not one of "
                                       f"{', '.join(SPLIT_BEHAVIORS)}")
    if not isinstance(invert, bool):
        raise TokenizerFileError(path, f"pre_tokenizer Split.invert must be true or false, got {invert!r:.40}")
    try:
        compile_pattern(regex)
    except ValueError as error:
        raise TokenizerFileError(path, f"pre_tokenizer Split.pattern: {error}") from None
    return regex, behavior, invert


def _merge_pair(merge, path: Path) -> tuple[str, str]:
    if isinstance(merge, str):
        parts = merge.split(" ")
    else:
        parts = list(merge) if isinstance(merge, list) else []
    if len(parts) != 2 or not all(isinstance(p, str) and p for p in parts):
        raise TokenizerFileError(path, f"model.merges: expected 'left right' or [left, right], got {merge!r:.80}")
    return parts[0], parts[1]


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _added_token(entry, path) -> tuple[str, int]:
    """One added_tokens entry -> (content, id)."""
    if not (isinstance(entry, dict) and isinstance(entry.get("content"), str) and entry["content"]
            and _is_id(entry.get("id"))):
        raise TokenizerFileError(path, f"added_tokens: expected {{'content': non-empty str, 'id': int >= 0, ...}}, "
                                       f"got {entry!r:.80}")
    return entry["content"], entry["id"]


def _token_bytes_by_id(vocab: dict, added: dict[str, int], path: Path) -> list[bytes]:
    """id -> bytes for every entry, checked *before* a list as long as the largest id is made: ids
    are integers >= 0, each names one token, and together they are 0..n-1 (n = number of entries),
    so a single id of 10**9 costs an error, not gigabytes."""
    bytes_of_id: dict[int, bytes] = {}
    token_of_id: dict[int, str] = {}
    for where, entries in (("model.vocab", vocab), ("added_tokens", added)):
        for token, token_id in entries.items():
            if not _is_id(token_id):
                raise TokenizerFileError(path, f"{where}: token {token!r:.40} has id {token_id!r:.40}; "
                                               f"ids must be integers >= 0")
            if where == "added_tokens":
                data = token.encode("utf-8")
            elif all(char in CHAR_TO_BYTE for char in token):
                data = bytes(CHAR_TO_BYTE[char] for char in token)
            else:
                raise TokenizerFileError(path, f"model.vocab: token {token!r:.40} is outside the byte alphabet "
                                               f"(and not an added token)")
            other = token_of_id.get(token_id)
            if other is not None and other != token:
                raise TokenizerFileError(path, f"{where}: id {token_id} is used by both {other!r:.40} and {token!r:.40}")
            if token in added and where == "model.vocab" and added[token] != token_id:
                raise TokenizerFileError(path, f"added_tokens: {token!r:.40} has id {added[token]}, "
                                               f"but model.vocab gives it id {token_id}")
            bytes_of_id[token_id], token_of_id[token_id] = data, token
    size = len(bytes_of_id)
    if max(bytes_of_id) >= size:
        missing = next(i for i in range(size) if i not in bytes_of_id)
        raise TokenizerFileError(path, f"ids must be 0..{size - 1} (one per token) without gaps; id {missing} is "
                                       f"missing and the largest id is {max(bytes_of_id)}")
    return [bytes_of_id[i] for i in range(size)]


def read_tokenizer_json(path: os.PathLike | str) -> BPETokenizer:
    """A BPETokenizer with the file's vocabulary, merges, split rule and added tokens.

    Everything is checked before anything sized by the file's numbers is allocated; a problem
    raises :class:`TokenizerFileError` (a ValueError) naming the file and the field."""
    path = Path(path)
    data = read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") != "BPE":
        kind = model.get("type") if isinstance(model, dict) else model
        raise TokenizerFileError(path, f"model type {kind!r:.40}; only 'BPE'")
    normalizer = data.get("normalizer")
    if normalizer is not None:
        kind = normalizer.get("type") if isinstance(normalizer, dict) else normalizer
        raise TokenizerFileError(path, f"normalizer {kind!r:.40} is not supported")
    for key in ("byte_fallback", "ignore_merges", "continuing_subword_prefix", "end_of_word_suffix", "dropout"):
        if model.get(key):
            raise TokenizerFileError(path, f"model.{key}={model[key]!r:.40} is not supported (byte-level BPE only)")
    pattern, behavior, invert = split_rule(data.get("pre_tokenizer"), path)
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise TokenizerFileError(path, "model.vocab must be a non-empty object token -> id")
    added_entries = data.get("added_tokens") or []
    if not isinstance(added_entries, list):
        raise TokenizerFileError(path, f"added_tokens: expected a list, got {added_entries!r:.80}")
    added: dict[str, int] = {}
    for entry in added_entries:
        content, token_id = _added_token(entry, path)
        if added.get(content, token_id) != token_id:
            raise TokenizerFileError(path, f"added_tokens: {content!r:.40} has two ids, {added[content]} and {token_id}")
        added[content] = token_id
    token_bytes = _token_bytes_by_id(vocab, added, path)
    merges = []
    model_merges = model.get("merges") or []
    if not isinstance(model_merges, list):
        raise TokenizerFileError(path, f"model.merges: expected a list, got {model_merges!r:.80}")
    for rank, merge in enumerate(model_merges):
        left, right = _merge_pair(merge, path)
        for token in (left, right, left + right):
            if token not in vocab:
                raise TokenizerFileError(path, f"model.merges[{rank}]: token {token!r:.40} is not in model.vocab")
        merges.append((vocab[left], vocab[right], vocab[left + right]))
    try:
        return BPETokenizer(token_bytes, merges, added, pattern, split_behavior=behavior, split_invert=invert)
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
            {"type": "Split", "pattern": {"Regex": tokenizer.pattern}, "behavior": tokenizer.split_behavior,
             "invert": tokenizer.split_invert},
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
