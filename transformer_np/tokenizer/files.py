"""Reading and writing the GPT-2 / Hugging Face tokenizer files, with errors that point at the line.

Two names for the same two files:

* ``vocab.json`` / ``encoder.json``: a JSON object, token -> id. Ordinary tokens
  are spelled with the byte stand-ins of :mod:`byte_alphabet`; special tokens
  (like ``<|endoftext|>``) are spelled as their literal text.
* ``merges.txt`` / ``vocab.bpe``: an optional ``#version: 0.2`` line, then one
  merge per line, ``left right``, lowest rank first.

A token that is neither a single byte nor the result of a merge can only be
matched as a whole, so we treat it as a special token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic
from ..io.jsonfile import parse_json_text
from .byte_alphabet import BYTE_TO_CHAR, CHAR_TO_BYTE, bytes_to_text

MERGES_HEADER = "#version: 0.2"


class TokenizerFileError(ValueError):
    """A tokenizer file is missing or malformed; the message names the file and, if known, the line."""

    def __init__(self, path: os.PathLike | str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


@dataclass
class BPEFiles:
    """The parsed content of a vocab + merges pair, checked for consistency."""

    token_bytes: list[bytes]  # id -> bytes (special tokens: their UTF-8 text)
    merges: list[tuple[int, int, int]]  # rank -> (left id, right id, merged id)
    special_tokens: dict[str, int]  # literal text -> id


def find_vocab_files(directory: os.PathLike | str) -> tuple[Path, Path]:
    """The (vocab, merges) paths in ``directory``: Hugging Face names first, then OpenAI's."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TokenizerFileError(directory, "not a directory (expected vocab.json + merges.txt or encoder.json + vocab.bpe)")
    for vocab_name, merges_name in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
        vocab_path, merges_path = directory / vocab_name, directory / merges_name
        if vocab_path.is_file() or merges_path.is_file():
            for path in (vocab_path, merges_path):
                if not path.is_file():
                    raise TokenizerFileError(path, "file not found")
            return vocab_path, merges_path
    raise TokenizerFileError(directory, "no vocab.json + merges.txt or encoder.json + vocab.bpe here")


def read_text(path: Path) -> str:
    """A UTF-8 file's text; a missing, unreadable or non-UTF-8 file is one TokenizerFileError."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokenizerFileError(path, "file not found") from None
    except UnicodeDecodeError as error:
        raise TokenizerFileError(path, f"not valid UTF-8 ({error.reason} at byte {error.start})") from None
    except IsADirectoryError:
        raise TokenizerFileError(path, "is a directory, not a file") from None
    except OSError as error:
        raise TokenizerFileError(path, error.strerror or str(error)) from None


def _line_of(text: str, needle: str) -> int | None:
    position = text.find(needle)
    return None if position < 0 else text.count("\n", 0, position) + 1


def _line_of_token(vocab_text: str, token: str) -> int | None:
    """Line of ``token`` as a key in the JSON text (only used to report errors)."""
    return _line_of(vocab_text, json.dumps(token) + ":") or _line_of(vocab_text, json.dumps(token, ensure_ascii=False) + ":")


def parse_json(path: Path, text: str):
    """``json.loads(text)`` with every way it can fail as one TokenizerFileError naming ``path``:
    bad syntax (with its line), nesting too deep for the parser, an integer of thousands of digits."""
    try:
        return parse_json_text(text)
    except json.JSONDecodeError as error:
        raise TokenizerFileError(path, f"invalid JSON: {error.msg} (column {error.colno})", error.lineno) from None
    except ValueError as error:  # nested too deeply, or an integer of more than 4,300 digits
        raise TokenizerFileError(path, f"invalid JSON: {error}") from None


def read_json(path: os.PathLike | str):
    """The parsed JSON of a UTF-8 file; any problem is one TokenizerFileError naming the file."""
    path = Path(path)
    return parse_json(path, read_text(path))


def read_vocab(path: Path) -> dict[str, int]:
    """token -> id from a vocab.json / encoder.json, with ids checked to be 0..n-1, each once."""
    text = read_text(path)
    vocab = parse_json(path, text)
    if not isinstance(vocab, dict) or not vocab:
        raise TokenizerFileError(path, "expected a non-empty JSON object mapping token -> id", 1)
    seen: dict[int, str] = {}
    for token, token_id in vocab.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            message = f"token {token!r} has id {token_id!r}; ids must be integers >= 0"
            raise TokenizerFileError(path, message, _line_of_token(text, token))
        if token_id in seen:
            message = f"id {token_id} is used by both {seen[token_id]!r} and {token!r}"
            raise TokenizerFileError(path, message, _line_of_token(text, token))
        seen[token_id] = token
    if len(seen) != max(seen) + 1:
        missing = next(i for i in range(len(seen)) if i not in seen)
        raise TokenizerFileError(path, f"ids must be 0..{len(seen) - 1} without gaps; id {missing} is missing")
    return vocab


def read_merges(path: Path, vocab: dict[str, int], vocab_path: Path) -> list[tuple[int, int, int]]:
    """Merges as ``(left id, right id, merged id)`` in rank order."""
    merges = []
    for line_number, line in enumerate(read_text(path).splitlines(), start=1):
        if line_number == 1 and line.startswith("#version"):
            continue
        if not line.strip():
            continue  # tolerate a trailing blank line
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise TokenizerFileError(path, f"expected 'left right' (two tokens, one space), got {line!r}", line_number)
        left, right = parts
        for token in (left, right, left + right):
            if token not in vocab:
                what = "merged token" if token == left + right else "token"
                raise TokenizerFileError(path, f"{what} {token!r} is not in {vocab_path.name}", line_number)
        merges.append((vocab[left], vocab[right], vocab[left + right]))
    return merges


def read_bpe_files(vocab_path: os.PathLike | str, merges_path: os.PathLike | str) -> BPEFiles:
    """Parse and cross-check a vocab file and a merges file."""
    vocab_path, merges_path = Path(vocab_path), Path(merges_path)
    vocab = read_vocab(vocab_path)
    merges = read_merges(merges_path, vocab, vocab_path)
    for byte, char in BYTE_TO_CHAR.items():
        if char not in vocab:
            raise TokenizerFileError(vocab_path, f"single-byte token {char!r} (byte 0x{byte:02x}) is missing")
    merged_ids = {merged for _, _, merged in merges}
    byte_ids = {vocab[char] for char in BYTE_TO_CHAR.values()}
    token_bytes: list[bytes] = [b""] * len(vocab)
    special_tokens: dict[str, int] = {}
    for token, token_id in vocab.items():
        if token_id in byte_ids or token_id in merged_ids:
            if any(char not in CHAR_TO_BYTE for char in token):
                line = _line_of_token(read_text(vocab_path), token)
                raise TokenizerFileError(vocab_path, f"token {token!r} uses characters outside the byte alphabet", line)
            token_bytes[token_id] = bytes(CHAR_TO_BYTE[char] for char in token)
        else:
            special_tokens[token] = token_id
            token_bytes[token_id] = token.encode("utf-8")
    return BPEFiles(token_bytes, merges, special_tokens)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically (see :mod:`transformer_np.io.atomic`): readers never see half a file."""
    atomic.atomic_write_text(path, text)


def write_bpe_files(directory: os.PathLike | str, files: BPEFiles) -> None:
    """Write ``vocab.json`` and ``merges.txt`` (Hugging Face layout) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    special_ids = set(files.special_tokens.values())
    id_to_special = {token_id: text for text, token_id in files.special_tokens.items()}
    spelled = [
        id_to_special[token_id] if token_id in special_ids else bytes_to_text(data)
        for token_id, data in enumerate(files.token_bytes)
    ]
    vocab = {token: token_id for token_id, token in enumerate(spelled)}
    if len(vocab) != len(spelled):
        raise ValueError("two tokens have the same spelling; vocab.json cannot represent that")
    merge_lines = [f"{spelled[left]} {spelled[right]}" for left, right, _ in files.merges]
    atomic_write_text(directory / "vocab.json", json.dumps(vocab, ensure_ascii=False) + "\n")
    atomic_write_text(directory / "merges.txt", "\n".join([MERGES_HEADER, *merge_lines]) + "\n")
