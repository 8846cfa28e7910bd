r"""Split text into pre-tokens ("words") with GPT-2's pattern, using only ``re``.

BPE never merges across pre-token boundaries, so this split decides a lot of
the final ids. GPT-2 splits with

    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+

written for the third-party ``regex`` module. The standard library ``re`` has
no ``\p{...}`` classes, and the common stand-in ``[^\W\d_]`` for letters is
wrong (it is not the same set: ``_`` and ``²`` and about 1,100 other
"number" code points land in the wrong class). So we build the classes
ourselves from ``unicodedata``: every code point whose general category starts
with ``L`` (letters) or ``N`` (numbers) goes into a character class written as
ranges, compiled once into an ordinary ``re`` pattern (see :func:`_class_for`
for how the classes are laid out so that ``re`` checks them quickly).

Whitespace needs the same care: ``re``'s ``\s`` follows ``str.isspace()``,
which also matches U+001C..U+001F (information separators), whereas ``regex``
(and GPT-2) use the Unicode White_Space property. We replace ``\s`` and ``\S``
with an explicit White_Space class.

Known limit: ``unicodedata`` knows the Unicode version of the running Python
(14.0 for Python 3.11). Code points assigned in later Unicode versions are
unassigned here, so they count as "other", while a newer ``regex`` may call
them letters or numbers. Text using such characters can split differently.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

#: GPT-2's split pattern, in ``regex`` syntax (translated by :func:`compile_pattern`).
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

#: Unicode White_Space (PropList.txt). This property is stable across versions.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _escape_code_point(code_point: int) -> str:
    # \uXXXX / \UXXXXXXXX escapes keep the pattern printable and unambiguous.
    return f"\\u{code_point:04x}" if code_point <= 0xFFFF else f"\\U{code_point:08x}"


def _ranges_to_class_body(ranges: list[tuple[int, int]]) -> str:
    parts = []
    for low, high in ranges:
        parts.append(_escape_code_point(low))
        if high > low:
            parts.append("-" + _escape_code_point(high))
    return "".join(parts)


@functools.lru_cache(maxsize=None)
def _category_table() -> dict[str, list[tuple[int, int]]]:
    """Ranges of code points per general category (e.g. "Lu"), from one scan of unicodedata."""
    table: dict[str, list[tuple[int, int]]] = {}
    category = unicodedata.category
    run_category, run_start = category("\0"), 0
    for code_point in range(1, sys.maxunicode + 2):
        current = category(chr(code_point)) if code_point <= sys.maxunicode else None
        if current != run_category:
            table.setdefault(run_category, []).append((run_start, code_point - 1))
            run_category, run_start = current, code_point
    return table


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


@functools.lru_cache(maxsize=None)
def property_ranges(name: str) -> tuple[tuple[int, int], ...]:
    """Code point ranges of ``\\p{name}`` for a general category (prefix) like L, N, Lu, Nd."""
    table = _category_table()
    matching = [r for category, ranges in table.items() if category.startswith(name) for r in ranges]
    if not matching or not 1 <= len(name) <= 2:
        raise ValueError(f"unsupported Unicode property \\p{{{name}}}: use a general category such as L, N, Lu or Nd")
    return tuple(_merge_ranges(matching))


_WHITE_SPACE_RANGES = tuple(_merge_ranges([(ord(c), ord(c)) for c in WHITE_SPACE]))
_ASTRAL = (0x10000, sys.maxunicode)
_ASTRAL_GUARD = f"(?=[{_ranges_to_class_body([_ASTRAL])}])"
# One class item: \p{X} or \s (a negated item cannot be spliced into a class).
_ITEM = re.compile(r"\\p\{(\w+)\}|\\s")
_PURE_PROPERTY_CLASS = re.compile(r"\[(\^?)((?:\\p\{\w+\}|\\s)+)\]")
_PROPERTY_OR_SPACE = re.compile(r"\\([pP])\{(\w+)\}|\\([sS])")


def _item_ranges(item: re.Match[str]) -> tuple[tuple[int, int], ...]:
    return property_ranges(item.group(1)) if item.group(1) else _WHITE_SPACE_RANGES


def _class_for(ranges: list[tuple[int, int]], negated: bool, quantifier: str) -> str:
    """Regex matching one code point in (or, if ``negated``, not in) ``ranges``, then ``quantifier``.

    Why not just ``[...]``: ``re`` turns the code points below U+10000 into a
    fast bitmap, but checks astral ranges one by one, and does so for *every*
    character that is not in the bitmap, including the space ending each word.
    With ~500 astral letter ranges that made splitting three times slower. So
    BMP and astral code points get separate classes, and the astral one sits
    behind a one-range guard ``(?=[\U00010000-\U0010ffff])``. The rewritten
    ``+`` and ``*`` accept exactly the same strings as ``[all]+`` / ``[all]*``,
    and try lengths in the same greedy (longest first) order.
    """
    bmp = [(low, min(high, 0xFFFF)) for low, high in ranges if low <= 0xFFFF]
    astral = [(max(low, 0x10000), high) for low, high in ranges if high >= 0x10000]
    if not astral:  # all in the bitmap already (e.g. whitespace)
        return f"[{'^' if negated else ''}{_ranges_to_class_body(bmp)}]{quantifier}"
    if negated:
        fast = f"[^{_ranges_to_class_body(bmp + [_ASTRAL])}]"
        slow = f"{_ASTRAL_GUARD}[^{_ranges_to_class_body(astral)}]"
    else:
        fast = f"[{_ranges_to_class_body(bmp)}]"
        slow = f"{_ASTRAL_GUARD}[{_ranges_to_class_body(astral)}]"
    if quantifier == "+":
        # Starts with a fast run (the common case: one tight loop, then one failed guard)
        # or with an astral code point; either way, any mix may follow.
        return f"(?:{fast}+(?:{slow}{fast}*)*|(?:{slow}{fast}*)+)"
    if quantifier == "*":
        return f"{fast}*(?:{slow}{fast}*)*"
    return f"(?:{fast}|{slow}){quantifier}"


def translate_pattern(pattern: str) -> str:
    r"""Rewrite ``regex``-style ``\p{X}``, ``\P{X}``, ``\s``, ``\S`` into plain ``re`` syntax.

    Classes made only of properties, like ``\p{L}`` or ``[^\s\p{L}\p{N}]``, get the
    fast BMP/astral form of :func:`_class_for`. In a class that mixes properties
    with other items (``[\p{L}_]``) the ranges are spliced in as they are.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        match = _PURE_PROPERTY_CLASS.match(pattern, i) or _PROPERTY_OR_SPACE.match(pattern, i)
        if match and match.re is _PURE_PROPERTY_CLASS:
            negated = match.group(1) == "^"
            ranges = [r for item in _ITEM.finditer(match.group(2)) for r in _item_ranges(item)]
        elif match:
            negated = (match.group(1) or match.group(3)) in ("P", "S")
            ranges = list(property_ranges(match.group(2)) if match.group(2) else _WHITE_SPACE_RANGES)
        if match:
            end = match.end()
            # A greedy + or * (not +? or ++) can move inside the fast/slow split.
            quantifier = pattern[end] if end < len(pattern) and pattern[end] in "+*" else ""
            if quantifier and end + 1 < len(pattern) and pattern[end + 1] in "?+":
                quantifier = ""
            out.append(_class_for(_merge_ranges(ranges), negated, quantifier))
            i = end + len(quantifier)
            continue
        if pattern[i] == "\\":
            out.append(pattern[i:i + 2])
            i += 2
        elif pattern[i] == "[":
            i = _copy_mixed_class(pattern, i, out)
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _copy_mixed_class(pattern: str, start: int, out: list[str]) -> int:
    """Copy the class at ``pattern[start]`` splicing in property ranges; returns the index after it."""
    i = start + 1
    out.append("[")
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = i
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and i != first:  # a "]" right after "[" is literal
            out.append("]")
            return i + 1
        match = _PROPERTY_OR_SPACE.match(pattern, i)
        if match:
            if match.group(1) == "P" or match.group(3) == "S":
                raise ValueError(f"negated {match.group()} inside [...] is not supported (position {i} of {pattern!r})")
            ranges = property_ranges(match.group(2)) if match.group(2) else _WHITE_SPACE_RANGES
            out.append(_ranges_to_class_body(list(ranges)))
            i = match.end()
        elif char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
        else:
            out.append(char)
            i += 1
    raise ValueError(f"unterminated character class at position {start} of {pattern!r}")


@functools.lru_cache(maxsize=16)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a split pattern (``regex`` syntax for ``\\p``/``\\s``) once and cache it."""
    return re.compile(translate_pattern(pattern))


def split(text: str, pattern: str = GPT2_SPLIT_PATTERN) -> list[str]:
    """Pre-tokens of ``text``; their concatenation is always ``text`` for GPT-2's pattern."""
    return compile_pattern(pattern).findall(text)
