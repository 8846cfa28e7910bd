"""``CharTokenizer``: one token per character, the tokenizer of character-level language models.

The vocabulary is an alphabet (a list of distinct characters); id ``i`` is ``chars[i]``. Built from a text
with :meth:`CharTokenizer.from_text` it is the sorted set of the text's characters (tiny Shakespeare: 65).
A checkpoint keeps it in its ``config.json`` under ``"char_vocab"`` (the characters in id order), a key
Hugging Face's GPT-2 loader ignores, so the same directory still loads in ``transformers``.

A model trained on several documents joined into one stream also has a *separator*: one character of the
alphabet that marks where a document ends (BPE's ``<|endoftext|>``). ``config.json`` records it under
``"char_separator"``, and ``special_tokens`` / ``eot_token`` give its id under BPE's name, so generation can stop
at the end of a document.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Literal

from .files import TokenizerFileError, atomic_write_text, read_json
from .tokenizer import ENDOFTEXT, StreamDecoder

#: The config.json key that holds the alphabet.
CONFIG_KEY = "char_vocab"
#: The config.json key that holds the document separator (when the model has one).
SEPARATOR_KEY = "char_separator"
#: Separators to choose from, in order: the first that no document contains. U+2403 is the visible
#: "symbol for end of text" (a sample shows it), U+0003 the control character END OF TEXT.
SEPARATOR_CHOICES = ("\u2403", "\x03", "\x1e")


class CharTokenizer:
    """Characters <-> ids through a fixed alphabet; ``decode(encode(s)) == s`` for text in the alphabet."""

    def __init__(self, chars: Iterable[str], separator: str | None = None):
        self.chars = list(chars)
        for char in self.chars:
            if not isinstance(char, str) or len(char) != 1:
                raise ValueError(f"a character vocabulary holds single characters, got {char!r}")
        self._id_of = {char: token_id for token_id, char in enumerate(self.chars)}
        if len(self._id_of) != len(self.chars):
            repeated = next(c for c in self.chars if self.chars.count(c) > 1)
            raise ValueError(f"character {repeated!r} appears twice in the vocabulary")
        if separator is not None and separator not in self._id_of:
            raise ValueError(f"the separator {separator!r} is not in the vocabulary")
        self.separator = separator

    # ----------------------------------------------------------------- building

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The alphabet of ``text``: its distinct characters, sorted by code point."""
        return cls(sorted(set(text)))

    @classmethod
    def for_documents(cls, documents: Iterable[str]) -> CharTokenizer:
        """The alphabet of several documents plus a separator none of them contains (the first of
        ``SEPARATOR_CHOICES``), to join them as ``separator.join(documents)``."""
        chars = set().union(*map(set, documents))
        separator = next((c for c in SEPARATOR_CHOICES if c not in chars), None)
        if separator is None:
            raise ValueError(f"the documents contain every separator character ({SEPARATOR_CHOICES!r})")
        return cls(sorted(chars | {separator}), separator)

    @classmethod
    def from_config(cls, config: Mapping) -> CharTokenizer:
        """From a config dict (a parsed config.json) holding ``"char_vocab"``."""
        if CONFIG_KEY not in config:
            raise ValueError(f"config has no {CONFIG_KEY!r} (the alphabet of a character-level model)")
        chars = config[CONFIG_KEY]
        if isinstance(chars, str):  # also accept the alphabet as one string
            chars = list(chars)
        if not isinstance(chars, list):
            raise ValueError(f"config {CONFIG_KEY!r} must be a list of characters, got {type(chars).__name__}")
        return cls(chars, config.get(SEPARATOR_KEY))

    def to_config(self) -> dict:
        """``{"char_vocab": [...]}`` (and ``"char_separator"`` if any), to merge into a model's config.json."""
        if self.separator is None:
            return {CONFIG_KEY: list(self.chars)}
        return {CONFIG_KEY: list(self.chars), SEPARATOR_KEY: self.separator}

    def save(self, directory: str | os.PathLike) -> None:
        """Add ``"char_vocab"`` to ``directory/config.json`` (created if missing; other keys are kept)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "config.json"
        config = read_json(path) if path.is_file() else {}
        if not isinstance(config, dict):
            raise TokenizerFileError(path, f"expected a JSON object, got {type(config).__name__}")
        config.update(self.to_config())
        atomic_write_text(path, json.dumps(config, indent=2, ensure_ascii=False) + "\n")

    # ----------------------------------------------------------------- encoding

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def special_tokens(self) -> dict[str, int]:
        """BPETokenizer's interface: ``{"<|endoftext|>": the separator's id}``, or {} without a separator."""
        return {} if self.separator is None else {ENDOFTEXT: self._id_of[self.separator]}

    @property
    def eot_token(self) -> int:
        """The separator's id (KeyError if this alphabet has none), as BPETokenizer's end-of-text id."""
        return self.special_tokens[ENDOFTEXT]

    def encode(self, text: str, errors: Literal["strict", "ignore"] = "strict") -> list[int]:
        """Ids of ``text``. A character outside the alphabet raises ValueError naming it
        (``errors="ignore"`` drops it instead)."""
        id_of = self._id_of
        if errors == "ignore":
            return [id_of[char] for char in text if char in id_of]
        if errors != "strict":
            raise ValueError(f"errors must be 'strict' or 'ignore', got {errors!r}")
        try:
            return [id_of[char] for char in text]
        except KeyError as missing:
            position = text.index(missing.args[0])
            raise ValueError(f"character {missing.args[0]!r} (position {position}) is not in the "
                             f"{self.vocab_size}-character vocabulary") from None

    # ----------------------------------------------------------------- decoding

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; an id outside 0..vocab_size-1 raises ValueError naming it."""
        chars = self.chars
        ids = list(ids)
        try:
            if ids and min(ids) < 0:  # list indexing would silently accept negative ids
                raise IndexError
            return "".join([chars[token_id] for token_id in ids])
        except (IndexError, TypeError):
            bad = next(i for i in ids if not (hasattr(i, "__index__") and 0 <= i < len(chars)))
            raise ValueError(f"token id {bad!r} is not in 0..{len(chars) - 1}") from None

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The UTF-8 bytes of ``ids`` (BPETokenizer's interface, used by StreamDecoder and viz)."""
        return self.decode(ids).encode("utf-8")

    def stream_decoder(self) -> StreamDecoder:
        """A decoder for ids arriving one at a time, as BPETokenizer's (``add(id) -> str``, ``finish()``)."""
        return StreamDecoder(self)

    def decode_stream(self, ids: Iterable[int]) -> Iterator[str]:
        """Yield each id's character as it arrives (every id is a whole character, nothing is held back)."""
        for token_id in ids:
            yield self.decode([token_id])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and (self.chars, self.separator) == (other.chars, other.separator)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
