"""``BPETokenizer``: byte-level BPE that trains on your text or loads GPT-2's exact vocabulary.

The path from text to ids, in three layers:

1. special tokens: if allowed, cut the text at e.g. ``<|endoftext|>`` (one id each);
2. pre-tokenize: split the rest into words with a regex (:mod:`pretokenize`);
3. BPE: each word becomes its UTF-8 bytes (ids 0..255), then merges are applied
   lowest rank first (:func:`bpe.apply_merges`).

Decoding is the easy direction: concatenate the bytes of each id and decode UTF-8.
"""

from __future__ import annotations

import codecs
import functools
import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Literal

from . import bpe, files
from .byte_alphabet import BYTE_TO_ID, ID_TO_BYTE
from .pretokenize import GPT2_SPLIT_PATTERN, compile_pattern

ENDOFTEXT = "<|endoftext|>"
_GPT2_DIR = Path(__file__).resolve().parent / "gpt2"

# bytes.translate table: raw byte value -> GPT-2-order id (both fit in a byte).
_BYTE_TO_ID_TABLE = bytes(BYTE_TO_ID[byte] for byte in range(256))

# Word cache size limit: enough for the distinct words of many MB of text, bounded for long runs.
_CACHE_LIMIT = 1 << 18


class BPETokenizer:
    """Byte-level BPE tokenizer; every string encodes, and ``decode(encode(s)) == s``.

    Build one with :meth:`train` or :meth:`from_pretrained` (``"gpt2"`` or a directory).
    """

    def __init__(
        self,
        token_bytes: list[bytes],
        merges: list[tuple[int, int, int]],
        special_tokens: dict[str, int] | None = None,
        pattern: str = GPT2_SPLIT_PATTERN,
    ):
        """Low-level constructor: ``token_bytes[id]`` are the bytes of each token,
        ``merges[rank] = (left, right, merged)``, ``special_tokens`` maps text -> id,
        ``pattern`` is the pre-tokenizer regex (``regex`` syntax for ``\\p{..}``/``\\s``)."""
        self.token_bytes = list(token_bytes)
        self.merges = list(merges)
        self.special_tokens = dict(special_tokens or {})
        self.pattern = pattern
        self._split = compile_pattern(pattern).findall
        self._merge_ranks: bpe.MergeRanks = {(left, right): rank for rank, (left, right, _) in enumerate(self.merges)}
        self._merged_ids = [merged for _, _, merged in self.merges]
        byte_ids = {}
        for token_id, data in enumerate(self.token_bytes):
            if len(data) == 1 and token_id not in self.special_tokens.values():
                byte_ids.setdefault(data[0], token_id)
        if len(byte_ids) != 256:
            raise ValueError("a byte-level vocabulary needs a token for each of the 256 byte values")
        # GPT-2 layout (ids 0..255 in byte-alphabet order) lets bytes.translate do the byte -> id step.
        self._gpt2_byte_ids = all(byte_ids[byte] == BYTE_TO_ID[byte] for byte in range(256))
        self._byte_ids = [byte_ids[byte] for byte in range(256)]
        self._special_pattern_cache: dict[frozenset[str], re.Pattern[str]] = {}
        self._cache: dict[str, list[int]] = {}

    # ----------------------------------------------------------------- building

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Iterable[str] = (ENDOFTEXT,),
    ) -> BPETokenizer:
        """Learn merges from ``text`` until there are ``vocab_size`` tokens (or no pairs are left).

        The vocabulary is the 256 bytes, then one token per merge, then the
        special tokens (so with the default ``<|endoftext|>`` it is the last id,
        as in GPT-2). Ties between equally frequent pairs go to the smaller
        ``(left id, right id)``, so the same input always gives the same merges.
        """
        special_tokens = list(dict.fromkeys(special_tokens))
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"vocab_size must be at least {256 + len(special_tokens)} (256 bytes + special tokens)")
        word_counts = Counter(compile_pattern(pattern).findall(text))
        words = [(list(word.encode("utf-8").translate(_BYTE_TO_ID_TABLE)), count) for word, count in word_counts.items()]
        token_bytes = [bytes([byte]) for byte in ID_TO_BYTE]
        merges = bpe.learn_merges(words, num_merges, token_bytes)
        specials = {}
        for special in special_tokens:
            if special.encode("utf-8") in token_bytes:
                raise ValueError(f"special token {special!r} is also an ordinary token")
            specials[special] = len(token_bytes)
            token_bytes.append(special.encode("utf-8"))
        return cls(token_bytes, merges, specials, pattern)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike) -> BPETokenizer:
        """``"gpt2"`` (shipped with the package, no network), or a directory holding
        ``vocab.json`` + ``merges.txt`` (Hugging Face) or ``encoder.json`` + ``vocab.bpe`` (OpenAI)."""
        if str(name_or_path) == "gpt2":
            parsed = _load_shipped_gpt2()
        else:
            parsed = files.read_bpe_files(*files.find_vocab_files(name_or_path))
        return cls(parsed.token_bytes, parsed.merges, parsed.special_tokens)

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``vocab.json`` and ``merges.txt`` in Hugging Face's layout.

        ``transformers.GPT2TokenizerFast.from_pretrained(directory)`` loads the
        result; it always splits with GPT-2's pattern, so a tokenizer trained
        with another pattern will not tokenize the same there.
        """
        files.write_bpe_files(directory, files.BPEFiles(self.token_bytes, self.merges, self.special_tokens))

    # ----------------------------------------------------------------- encoding

    @property
    def vocab_size(self) -> int:
        return len(self.token_bytes)

    def encode(self, text: str, allowed_special: Literal["all"] | Collection[str] = ()) -> list[int]:
        """Token ids of ``text``.

        Special tokens are ordinary text unless allowed: ``allowed_special="all"``
        or a set of their strings makes each occurrence a single id.
        """
        if allowed_special == "all":
            allowed = frozenset(self.special_tokens)
        else:
            allowed = frozenset(allowed_special)
            unknown = allowed - self.special_tokens.keys()
            if unknown:
                raise ValueError(f"not special tokens of this tokenizer: {sorted(unknown)}")
        if not allowed:
            return self.encode_ordinary(text)
        ids: list[int] = []
        position = 0
        for match in self._special_pattern(allowed).finditer(text):
            ids += self.encode_ordinary(text[position:match.start()])
            ids.append(self.special_tokens[match.group()])
            position = match.end()
        ids += self.encode_ordinary(text[position:])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``, treating any special-token text as plain text."""
        words = self._split(text)
        cache = self._cache
        missing = set(words).difference(cache)
        if missing:
            if len(cache) + len(missing) > _CACHE_LIMIT:
                cache.clear()  # crude but bounded; this text's words are re-added below
                missing = set(words)
            encode_word = self._encode_word
            for word in missing:
                cache[word] = encode_word(word)
        # Every word is cached now, so the join is a C-level map over the dict.
        return list(chain.from_iterable(map(cache.__getitem__, words)))

    def _encode_word(self, word: str) -> list[int]:
        data = word.encode("utf-8")
        if self._gpt2_byte_ids:
            ids = list(data.translate(_BYTE_TO_ID_TABLE))
        else:
            ids = [self._byte_ids[byte] for byte in data]
        return bpe.apply_merges(ids, self._merge_ranks, self._merged_ids)

    def clear_cache(self) -> None:
        """Forget cached word encodings (for benchmarks measuring a cold start)."""
        self._cache.clear()

    def _special_pattern(self, allowed: frozenset[str]) -> re.Pattern[str]:
        pattern = self._special_pattern_cache.get(allowed)
        if pattern is None:
            # Longest first, so a special that is a prefix of another cannot win.
            alternatives = sorted(allowed, key=lambda s: (-len(s), s))
            pattern = re.compile("|".join(map(re.escape, alternatives)))
            self._special_pattern_cache[allowed] = pattern
        return pattern

    # ----------------------------------------------------------------- decoding

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The raw bytes of ``ids`` (may end mid-character)."""
        ids = list(ids)
        try:
            # min/max guard negative ids, which list indexing would silently accept.
            if ids and (min(ids) < 0 or max(ids) >= len(self.token_bytes)):
                raise IndexError
            return b"".join(map(self.token_bytes.__getitem__, ids))
        except (IndexError, TypeError):
            bad = next(i for i in ids if not (isinstance(i, int) and 0 <= i < len(self.token_bytes)))
            raise ValueError(f"token id {bad!r} is not in 0..{len(self.token_bytes) - 1}") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``. Bytes that are not valid UTF-8 (e.g. a cut-off character) become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def stream_decoder(self) -> StreamDecoder:
        """A decoder for ids arriving one at a time (e.g. during generation); see :class:`StreamDecoder`."""
        return StreamDecoder(self)

    def decode_stream(self, ids: Iterable[int]) -> Iterator[str]:
        """Yield text as soon as it is complete, for ids from any iterable (e.g. a generator)."""
        decoder = self.stream_decoder()
        for token_id in ids:
            text = decoder.add(token_id)
            if text:
                yield text
        tail = decoder.finish()
        if tail:
            yield tail

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, special_tokens={self.special_tokens})"


class StreamDecoder:
    """Incremental decoding: one token can end in the middle of a UTF-8 character
    (emoji and CJK often span tokens), so we hold back incomplete bytes until the
    next token completes them, instead of printing U+FFFD too early."""

    def __init__(self, tokenizer: BPETokenizer):
        self._tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def add(self, ids: int | Iterable[int]) -> str:
        """Feed one id or several; returns the text that is now complete (maybe "")."""
        ids = [ids] if isinstance(ids, int) else list(ids)
        return self._utf8.decode(self._tokenizer.decode_bytes(ids))

    def finish(self) -> str:
        """End of stream: returns any held-back bytes (as U+FFFD if incomplete) and resets."""
        text = self._utf8.decode(b"", final=True)
        self._utf8.reset()
        return text


@functools.lru_cache(maxsize=1)
def _load_shipped_gpt2() -> files.BPEFiles:
    # Parsed once per process; each BPETokenizer still gets its own (cold) word cache.
    return files.read_bpe_files(_GPT2_DIR / "encoder.json", _GPT2_DIR / "vocab.bpe")
