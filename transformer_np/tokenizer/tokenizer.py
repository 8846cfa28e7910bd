"""``BPETokenizer``: byte-level BPE that trains on your text or loads GPT-2's exact vocabulary.

The path from text to ids, in three layers:

1. special tokens: allowed ones (e.g. ``<|endoftext|>``) become one id each; by default, as in
   tiktoken, text spelling a special token is an error, so user text cannot smuggle one in;
2. pre-tokenize: split the rest into words with a regex (:mod:`pretokenize`);
3. BPE: each word becomes its UTF-8 bytes (ids 0..255), then merges are applied
   lowest rank first (:func:`bpe.apply_merges`). Each word's ids are cached.

Decoding is the easy direction: concatenate the bytes of each id and decode UTF-8.
The method names and their behaviour follow tiktoken's ``Encoding``, so code ports unchanged.
"""

from __future__ import annotations

import codecs
import functools
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import AbstractSet, Literal, Union

from . import batch, bpe, files, stream
from .byte_alphabet import BYTE_TO_ID, ID_TO_BYTE
from .pretokenize import GPT2_SPLIT_PATTERN, Splitter, splitter

ENDOFTEXT = "<|endoftext|>"
_GPT2_DIR = Path(__file__).resolve().parent / "gpt2"

# bytes.translate table: raw byte value -> GPT-2-order id (both fit in a byte).
_BYTE_TO_ID_TABLE = bytes(BYTE_TO_ID[byte] for byte in range(256))

# Word cache size limit: enough for the distinct words of many MB of text, bounded for long runs.
_CACHE_LIMIT = 1 << 18

Specials = Union[Literal["all"], AbstractSet[str]]


def fix_surrogates(text: str) -> str:
    """What tiktoken does with text that is not valid Unicode: a surrogate pair (as left by some
    JSON decoders) becomes its character, a lone surrogate becomes U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


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
        name: str = "bpe",
        *,
        split_behavior: str = "Isolated",
        split_invert: bool = False,
    ):
        """Low-level constructor: ``token_bytes[id]`` are the bytes of each token,
        ``merges[rank] = (left, right, merged)``, ``special_tokens`` maps text -> id,
        ``pattern`` is the pre-tokenizer regex (``regex`` syntax for ``\\p{..}``/``\\s``);
        ``split_behavior`` and ``split_invert`` are those of Hugging Face's ``Split``
        (see :class:`pretokenize.Splitter`; the default keeps every match and every gap)."""
        self.name = name
        self.token_bytes = list(token_bytes)
        self.merges = list(merges)
        self.special_tokens = dict(special_tokens or {})
        self.pattern = pattern
        self.split_behavior, self.split_invert = split_behavior, bool(split_invert)
        self._splitter = splitter(pattern, split_behavior, self.split_invert)
        self._split = self._splitter.words
        self._merge_ranks: bpe.MergeRanks = {(left, right): rank for rank, (left, right, _) in enumerate(self.merges)}
        self._merged_ids = [merged for _, _, merged in self.merges]
        special_ids = set(self.special_tokens.values())
        byte_ids = {}
        for token_id, data in enumerate(self.token_bytes):
            if len(data) == 1 and token_id not in special_ids:
                byte_ids.setdefault(data[0], token_id)
        if len(byte_ids) != 256:
            raise ValueError("a byte-level vocabulary needs a token for each of the 256 byte values")
        # GPT-2 layout (ids 0..255 in byte-alphabet order) lets bytes.translate do the byte -> id step.
        self._gpt2_byte_ids = all(byte_ids[byte] == BYTE_TO_ID[byte] for byte in range(256))
        self._byte_ids = [byte_ids[byte] for byte in range(256)]
        self._id_of_special_bytes = {text.encode("utf-8"): token_id for text, token_id in self.special_tokens.items()}
        self._special_patterns: dict[frozenset[str], object] = {}
        self._cache: dict[str, list[int]] = {}

    # tiktoken's Encoding pickles (e.g. for worker processes) by its definition, not its cache.
    def __getstate__(self) -> dict:
        return {"token_bytes": self.token_bytes, "merges": self.merges, "special_tokens": self.special_tokens,
                "pattern": self.pattern, "name": self.name, "split_behavior": self.split_behavior,
                "split_invert": self.split_invert}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    # ----------------------------------------------------------------- building

    @classmethod
    def train(
        cls,
        corpus: str | os.PathLike | Iterable[str | os.PathLike],
        vocab_size: int,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Iterable[str] = (ENDOFTEXT,),
        progress: bool = True,
    ) -> BPETokenizer:
        """Learn merges from ``corpus`` until there are ``vocab_size`` tokens (or no pairs are left).

        ``corpus`` is the text itself (a ``str``; one that is an existing file's path is refused
        with a ValueError, since ``Path(...)`` was surely meant), a path to a UTF-8 file (a ``pathlib.Path``
        or other path object; read in parts, never whole), or an iterable of texts and/or
        paths (each split on its own, like separate documents). Special tokens are cut out of the text
        first, so no merge ever spans one. The vocabulary is the 256 bytes, then one token
        per merge, then the special tokens (so ``<|endoftext|>`` is the last id, as in
        GPT-2). Ties between equally frequent pairs go to the smaller ``(left id, right
        id)``, so the same input always gives the same merges. With ``progress``, a run
        that takes more than a few seconds reports on stderr.
        """
        special_tokens = list(dict.fromkeys(special_tokens))
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"vocab_size must be at least {256 + len(special_tokens)} (256 bytes + special tokens)")
        word_counts = _count_words(corpus, splitter(pattern), special_tokens, progress)
        words = [(list(word.encode("utf-8").translate(_BYTE_TO_ID_TABLE)), count) for word, count in word_counts.items()]
        del word_counts
        token_bytes = [bytes([byte]) for byte in ID_TO_BYTE]
        reporter = stream.Progress("training", num_merges, unit="merges", scale=1) if progress else None
        merges = bpe.learn_merges(words, num_merges, token_bytes, reporter.update if reporter else None)
        if reporter:
            reporter.finish()
        specials = {}
        for special in special_tokens:
            if special.encode("utf-8") in token_bytes:
                raise ValueError(f"special token {special!r} is also an ordinary token")
            specials[special] = len(token_bytes)
            token_bytes.append(special.encode("utf-8"))
        return cls(token_bytes, merges, specials, pattern, name="trained")

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike) -> BPETokenizer:
        """``"gpt2"`` (shipped with the package, no network), or a directory holding Hugging Face's
        ``tokenizer.json``, ``vocab.json`` + ``merges.txt``, or OpenAI's ``encoder.json`` + ``vocab.bpe``.
        ``tokenizer.json`` wins when present: only it also holds the split pattern and the added tokens
        (SmolLM's directories, say, ship all three files)."""
        if str(name_or_path) == "gpt2":
            parsed, name = _load_shipped_gpt2(), "gpt2"
        elif (Path(name_or_path) / "tokenizer.json").is_file():
            from .tokenizer_json import read_tokenizer_json

            return read_tokenizer_json(Path(name_or_path) / "tokenizer.json")
        else:
            parsed, name = files.read_bpe_files(*files.find_vocab_files(name_or_path)), Path(name_or_path).name
        return cls(parsed.token_bytes, parsed.merges, parsed.special_tokens, name=name)

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``vocab.json`` and ``merges.txt`` in Hugging Face's layout.

        ``transformers.GPT2TokenizerFast.from_pretrained(directory)`` loads the
        result; it always splits with GPT-2's pattern, so a tokenizer trained
        with another pattern will not tokenize the same there.
        """
        files.write_bpe_files(directory, files.BPEFiles(self.token_bytes, self.merges, self.special_tokens))

    # ----------------------------------------------------------------- vocabulary facts (tiktoken names)

    @property
    def vocab_size(self) -> int:
        return len(self.token_bytes)

    @property
    def n_vocab(self) -> int:
        return self.max_token_value + 1

    @property
    def max_token_value(self) -> int:
        return len(self.token_bytes) - 1

    @property
    def eot_token(self) -> int:
        """The id of ``<|endoftext|>`` (KeyError if this tokenizer has none)."""
        return self.special_tokens[ENDOFTEXT]

    @property
    def special_tokens_set(self) -> set[str]:
        return set(self.special_tokens)

    def is_special_token(self, token: int) -> bool:
        return token in self.special_tokens.values()

    def token_byte_values(self) -> list[bytes]:
        """The bytes of every ordinary (mergeable) token."""
        special_ids = set(self.special_tokens.values())
        return [data for token_id, data in enumerate(self.token_bytes) if token_id not in special_ids]

    # ----------------------------------------------------------------- encoding

    def encode(self, text: str, *, allowed_special: Specials = frozenset(),
               disallowed_special: Literal["all"] | Collection[str] = "all") -> list[int]:
        """Token ids of ``text``, with tiktoken's rules for special tokens.

        Each special token in ``allowed_special`` (or all, with ``"all"``) becomes its single
        id. One in ``disallowed_special`` (by default every special that is not allowed)
        raises ValueError naming it, because text from a user should not be able to insert,
        say, an end-of-text marker. Pass ``disallowed_special=()`` to encode such text as
        ordinary text, or use :meth:`encode_ordinary`.
        """
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        if disallowed:
            found = self._special_pattern(disallowed).search(text)
            if found:
                _raise_disallowed(found.group())
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
        try:
            return self._encode_words(self._split(text))
        except UnicodeEncodeError:  # surrogates: not encodable as UTF-8
            return self._encode_words(self._split(fix_surrogates(text)))

    def _encode_words(self, words: list[str]) -> list[int]:
        cache = self._cache
        if len(words) < 16:  # short texts (prompts, single words): a plain loop beats building a set
            ids: list[int] = []
            for word in words:
                word_ids = cache.get(word)
                if word_ids is None:
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    word_ids = cache[word] = self._encode_word(word)
                ids += word_ids
            return ids
        try:
            # The common, warm case: one C-level pass over the cache.
            return list(chain.from_iterable(map(cache.__getitem__, words)))
        except KeyError:
            pass
        missing = set(words).difference(cache)
        if len(cache) + len(missing) > _CACHE_LIMIT:
            cache.clear()  # crude but bounded; this text's words are re-added below
            missing = set(words)
        if self._gpt2_byte_ids:  # the hot loop of a cold cache, with the common case inlined
            ranks, merged_ids, scan = self._merge_ranks, self._merged_ids, bpe._apply_merges_scan
            for word in missing:
                ids = list(word.encode("utf-8").translate(_BYTE_TO_ID_TABLE))
                size = len(ids)
                cache[word] = ids if size < 2 else scan(ids, ranks, merged_ids) if size <= bpe.LONG_WORD \
                    else bpe.apply_merges(ids, ranks, merged_ids)
        else:
            for word in missing:
                cache[word] = self._encode_word(word)
        return list(chain.from_iterable(map(cache.__getitem__, words)))

    def _encode_word(self, word: str) -> list[int]:
        data = word.encode("utf-8")
        if self._gpt2_byte_ids:
            ids = list(data.translate(_BYTE_TO_ID_TABLE))
        else:
            ids = [self._byte_ids[byte] for byte in data]
        return bpe.apply_merges(ids, self._merge_ranks, self._merged_ids)

    def encode_batch(self, text: Sequence[str], *, num_threads: int = 8, allowed_special: Specials = frozenset(),
                     disallowed_special: Literal["all"] | Collection[str] = "all") -> list[list[int]]:
        """``[encode(t) for t in text]`` in up to ``num_threads`` parallel workers.

        The workers are processes (pure Python threads would not run in parallel); the name
        is tiktoken's, so ported code runs. Small batches are encoded in this process.
        """
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        options = {"allowed_special": allowed, "disallowed_special": disallowed}
        return self._map("encode", list(text), options, num_threads)

    def encode_ordinary_batch(self, text: Sequence[str], *, num_threads: int = 8) -> list[list[int]]:
        """``[encode_ordinary(t) for t in text]``, in parallel like :meth:`encode_batch`."""
        return self._map("encode_ordinary", list(text), {}, num_threads)

    def _map(self, method: str, texts: list[str], options: dict, num_threads: int) -> list[list[int]]:
        workers = batch.worker_count(num_threads, texts)
        if workers == 1:
            encode = getattr(self, method)
            return [encode(one, **options) for one in texts]
        return batch.encode_in_processes(self, method, texts, options, workers)

    def encode_iterable(self, texts: Iterable[str], *, allowed_special: Specials = frozenset(),
                        disallowed_special: Literal["all"] | Collection[str] = "all",
                        max_word_chars: int | None = None,
                        on_long_word: Callable[[int], None] | None = None) -> Iterator[int]:
        """Yield the ids of the concatenation of ``texts`` (e.g. a file's lines or chunks), lazily.

        The ids equal ``encode("".join(texts))``, but memory stays bounded: we gather about
        64K characters at a time and cut where no word (and no special token) straddles the
        cut. Only a single huge word (one line of 16 MB without a space) could defeat this;
        ``max_word_chars`` bounds it too, by cutting such a word (``on_long_word(offset)`` is
        called for each cut; that word's ids may then differ from ``encode``'s).
        """
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        parts = stream.independent_parts(texts, self._splitter.pieces, allowed, self.special_tokens,
                                         max_word_chars=max_word_chars, on_long_word=on_long_word)
        for part in parts:
            yield from self.encode(part, allowed_special=allowed, disallowed_special=disallowed)

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of the one token spelled ``text_or_bytes`` (special tokens included); KeyError otherwise."""
        data = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else bytes(text_or_bytes)
        token_id = self._id_of_special_bytes.get(data)
        if token_id is None:
            token_id = self._ordinary_ids_of_bytes.get(data)
        if token_id is None:
            raise KeyError(text_or_bytes)
        return token_id

    @functools.cached_property
    def _ordinary_ids_of_bytes(self) -> dict[bytes, int]:
        special_ids = set(self.special_tokens.values())
        return {data: i for i, data in enumerate(self.token_bytes) if i not in special_ids}

    def clear_cache(self) -> None:
        """Forget cached word encodings (for benchmarks measuring a cold start)."""
        self._cache.clear()

    def _special_sets(self, allowed_special, disallowed_special) -> tuple[frozenset[str], frozenset[str]]:
        """tiktoken's reading of the two arguments: "all" means every special token, and by
        default every special token that is not allowed is disallowed."""
        allowed = frozenset(self.special_tokens) if allowed_special == "all" else frozenset(allowed_special)
        unknown = allowed - self.special_tokens.keys()
        if unknown:
            raise ValueError(f"not special tokens of this tokenizer: {sorted(unknown)}")
        if disallowed_special == "all":
            disallowed = frozenset(self.special_tokens) - allowed
        else:
            disallowed = frozenset(disallowed_special)
        return allowed, disallowed

    def _special_pattern(self, specials: frozenset[str]):
        pattern = self._special_patterns.get(specials)
        if pattern is None:
            pattern = self._special_patterns[specials] = stream.special_pattern(specials)
        return pattern

    # ----------------------------------------------------------------- decoding

    def decode_bytes(self, tokens: Iterable[int]) -> bytes:
        """The raw bytes of ``tokens`` (may end mid-character)."""
        tokens = list(tokens)
        try:
            # min/max guard negative ids, which list indexing would silently accept.
            if tokens and (min(tokens) < 0 or max(tokens) >= len(self.token_bytes)):
                raise IndexError
            return b"".join(map(self.token_bytes.__getitem__, tokens))
        except (IndexError, TypeError):
            bad = next(i for i in tokens if not (isinstance(i, int) and 0 <= i < len(self.token_bytes)))
            raise ValueError(f"token id {bad!r} is not in 0..{len(self.token_bytes) - 1}") from None

    def decode(self, tokens: Iterable[int], errors: str = "replace") -> str:
        """Text of ``tokens``. By default bytes that are not valid UTF-8 (e.g. a cut-off
        character) become U+FFFD; ``errors="strict"`` raises UnicodeDecodeError instead."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token (special tokens included); KeyError for an unknown id."""
        if not isinstance(token, int) or not 0 <= token < len(self.token_bytes):
            raise KeyError(token)
        return self.token_bytes[token]

    def decode_tokens_bytes(self, tokens: Iterable[int]) -> list[bytes]:
        """The bytes of each token, e.g. ``[b"hello", b" world"]`` (for showing a tokenization)."""
        return [self.decode_single_token_bytes(token) for token in tokens]

    def decode_with_offsets(self, tokens: Iterable[int]) -> tuple[str, list[int]]:
        """The text and, per token, the index of the character where it starts. A token that
        starts inside a multi-byte character gets that character's index. Raises
        UnicodeDecodeError if the tokens do not spell valid UTF-8 (as tiktoken does)."""
        pieces = self.decode_tokens_bytes(tokens)
        offsets, chars = [], 0
        for data in pieces:
            # UTF-8 continuation bytes (0b10xxxxxx) do not start a character.
            starts_inside = bool(data) and 0x80 <= data[0] < 0xC0
            offsets.append(max(0, chars - starts_inside))
            chars += sum(1 for byte in data if not 0x80 <= byte < 0xC0)
        return b"".join(pieces).decode("utf-8", errors="strict"), offsets

    def decode_batch(self, batch_of_tokens: Iterable[Iterable[int]], *, errors: str = "replace") -> list[str]:
        return [self.decode(tokens, errors=errors) for tokens in batch_of_tokens]

    def decode_bytes_batch(self, batch_of_tokens: Iterable[Iterable[int]]) -> list[bytes]:
        return [self.decode_bytes(tokens) for tokens in batch_of_tokens]

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


def _raise_disallowed(token: str):
    raise ValueError(
        f"the text contains the special token {token!r}, which is not allowed here; pass "
        f"allowed_special={{{token!r}}} to encode it as its id, or disallowed_special=() "
        "(or use encode_ordinary) to encode it as plain text")


def _count_words(corpus, splitter: Splitter, special_tokens: list[str], progress: bool) -> Counter[str]:
    """Word counts of a training corpus: a text, a path, or an iterable of texts and/or paths.
    Special tokens are cut out first; files are read in parts, never whole."""
    counts: Counter[str] = Counter()
    cutter = stream.special_pattern(special_tokens)

    def add(text: str) -> None:
        _refuse_path_as_text(text)
        for segment in cutter.split(text) if cutter else (text,):
            counts.update(splitter.words(segment))

    def add_file(path: os.PathLike) -> None:
        reporter = stream.Progress(f"reading {os.fspath(path)}", os.path.getsize(path)) if progress else None
        chunks = stream.read_chunks(path, progress=reporter)
        try:
            for part in stream.independent_parts(chunks, splitter.pieces, special_tokens):
                add(part)
        except UnicodeDecodeError as error:
            raise files.TokenizerFileError(path, f"not valid UTF-8 text ({error.reason})") from None
        if reporter:
            reporter.finish()

    for item in [corpus] if isinstance(corpus, (str, os.PathLike)) else corpus:
        if isinstance(item, os.PathLike):
            add_file(item)
        elif isinstance(item, str):
            add(item)
        else:
            raise TypeError(f"training texts must be str or paths, got {type(item).__name__}")
    return counts


def _refuse_path_as_text(text: str) -> None:
    """``train("corpus.txt")`` would learn from those 10 characters; a one-line text that names an
    existing file is far more likely a forgotten ``Path(...)`` than a corpus, so we say so."""
    if len(text) < 4096 and "\n" not in text and text.strip() and os.path.isfile(text):
        raise ValueError(f"{text!r} is the path of an existing file, but a str is trained on as text; "
                         f"pass Path({text!r}) to train on the file's contents")


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
