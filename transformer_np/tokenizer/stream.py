"""Text that arrives in pieces: re-cut a stream so each part can be tokenized on its own.

A file larger than memory (or any iterator of strings) cannot be split into words in one call,
and cutting it at arbitrary chunk edges would change the result: a word, a run of spaces or a
special token may straddle the edge. :func:`independent_parts` re-cuts the stream at places where
tokenizing the parts separately gives exactly the ids of the whole text, so memory stays bounded
by the part size (plus the longest word), whatever the stream's length.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

#: Characters gathered before we look for a place to cut.
PART_CHARS = 1 << 16

#: The command line's bound on one word: encoding a word of n characters holds ~150 bytes per
#: character at once (its ids, links and ranks), so 256K characters stay near 40 MB.
LONG_WORD_CHARS = 1 << 18


def special_pattern(specials: Collection[str]) -> re.Pattern[str] | None:
    """One regex for several special tokens; longest first, so a special that is a prefix of
    another cannot win. None when there are none."""
    if not specials:
        return None
    return re.compile("|".join(map(re.escape, sorted(specials, key=lambda s: (-len(s), s)))))


def independent_parts(
    chunks: Iterable[str],
    split: Callable[[str], list[str]],
    split_out: Collection[str] = (),
    guarded: Collection[str] = (),
    max_word_chars: int | None = None,
    on_long_word: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """Yield parts whose concatenation is the stream and which tokenize independently.

    ``split`` is the pre-tokenizer. ``split_out`` are the special tokens the consumer will cut the
    text at (the words of a part are those between them); ``guarded`` are special tokens we must
    never cut inside (e.g. all of them, so that a disallowed one is still seen whole). A cut lies
    at a word boundary with two whole words after it still held back: the pre-tokenizer's
    lookahead (``\\s+(?!\\S)``) can change only the last word or two when more text follows.

    A single word has no such place inside it, so it is held whole, however long. With
    ``max_word_chars``, a word that grows past it is cut there instead (``on_long_word(offset)``
    is told where, as a character offset in the stream): memory stays bounded, and the ids of
    that one word may differ from encoding it whole, which is why this is never the default.
    """
    guarded = set(guarded) | set(split_out)
    longest = max(map(len, guarded), default=1)
    guard_pattern, cut_pattern = special_pattern(guarded), special_pattern(split_out)
    buffer = ""
    consumed = 0  # characters yielded so far (for on_long_word)
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= PART_CHARS:
            # A special starting at or after `end` may be incomplete.
            end = _outside_specials(buffer, len(buffer) - (longest - 1), guard_pattern, longest)
            segment_start = 0
            if cut_pattern is not None:
                for match in cut_pattern.finditer(buffer, 0, end):
                    segment_start = match.end()
            words = split(buffer[segment_start:end])
            cut = end - sum(map(len, words[-2:])) if len(words) > 2 else segment_start
            if cut <= 0 and max_word_chars is not None and end > max_word_chars:
                cut = _outside_specials(buffer, max_word_chars, guard_pattern, longest)
                if on_long_word is not None:
                    on_long_word(consumed + cut)
            if cut <= 0:
                break  # one word so far: wait for its end
            yield buffer[:cut]
            buffer = buffer[cut:]
            consumed += cut
    if buffer:
        yield buffer


def _outside_specials(text: str, position: int, guard_pattern: re.Pattern[str] | None, longest: int) -> int:
    """``position``, or the start of the special token that straddles it."""
    if guard_pattern is not None:
        for match in guard_pattern.finditer(text, max(0, position - longest)):
            if match.start() < position < match.end():
                return match.start()
    return position


def read_chunks(path: str | Path, chunk_chars: int = 1 << 20, progress: Progress | None = None) -> Iterator[str]:
    """The UTF-8 text of ``path`` in chunks of ``chunk_chars`` characters (newlines kept as they are)."""
    with open(path, encoding="utf-8", newline="") as stream:
        while True:
            chunk = stream.read(chunk_chars)
            if not chunk:
                return
            if progress is not None:
                progress.update(stream.buffer.tell())
            yield chunk


class Progress:
    """A progress line on stderr for long jobs: silent for the first ``delay`` seconds, then at
    most one update per ``every`` seconds (rewritten in place on a terminal)."""

    def __init__(self, label: str, total: float | None = None, unit: str = "MB", scale: float = 1e-6,
                 delay: float = 2.0, every: float = 1.0, stream=None):
        self.label, self.total, self.unit, self.scale = label, total, unit, scale
        self.delay, self.every = delay, every
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self._next = self.start + delay
        self._shown = False

    def update(self, done: float) -> None:
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + self.every
        self._shown = True
        digits = 0 if self.scale == 1 else 1  # whole merges, tenths of MB
        shown = done * self.scale
        total = f" / {self.total * self.scale:.{digits}f}" if self.total else ""
        rate = shown / max(now - self.start, 1e-9)
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(f"{self.label}: {shown:.{digits}f}{total} {self.unit} ({rate:.{digits}f} {self.unit}/s){end}")
        self.stream.flush()

    def finish(self) -> None:
        """End the line (only if anything was shown)."""
        if self._shown and self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()
