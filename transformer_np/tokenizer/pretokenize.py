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
ranges, compiled once into an ordinary ``re`` pattern. ``re``'s C engine then
runs as fast as ``regex`` would.

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


@functools.lru_cache(maxsize=None)
def property_class_body(name: str) -> str:
    """Character-class body (no brackets) for ``\\p{name}``: a category like L, N, Lu, Nd."""
    table = _category_table()
    matching = sorted(r for cat, ranges in table.items() if cat.startswith(name) for r in ranges)
    if not matching or not 1 <= len(name) <= 2:
        raise ValueError(f"unsupported Unicode property \\p{{{name}}}: use a general category such as L, N, Lu or Nd")
    merged: list[tuple[int, int]] = []
    for low, high in matching:
        if merged and low == merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return _ranges_to_class_body(merged)


_WHITE_SPACE_BODY = "".join(_escape_code_point(ord(c)) for c in WHITE_SPACE)


def translate_pattern(pattern: str) -> str:
    r"""Rewrite ``regex``-style ``\p{X}``, ``\P{X}``, ``\s``, ``\S`` into plain ``re`` classes.

    Outside a character class ``\p{L}`` becomes ``[...]`` and ``\P{L}`` becomes ``[^...]``;
    inside one (as in ``[^\s\p{L}\p{N}]``) the ranges are spliced in. A negated
    property inside a class cannot be spliced and is rejected.
    """
    out: list[str] = []
    in_class = False
    class_start = -1  # index in `pattern` just after "[" or "[^"
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            kind = pattern[i + 1]
            if kind in "pP":
                if i + 2 >= len(pattern) or pattern[i + 2] != "{" or "}" not in pattern[i + 2:]:
                    raise ValueError(f"bad Unicode property escape at position {i} of pattern {pattern!r}")
                end = pattern.index("}", i + 2)
                body = property_class_body(pattern[i + 3:end])
                if in_class and kind == "P":
                    raise ValueError(f"\\P{{...}} inside [...] is not supported (position {i} of {pattern!r})")
                out.append(body if in_class else ("[" if kind == "p" else "[^") + body + "]")
                i = end + 1
                continue
            if kind in "sS":
                if in_class and kind == "S":
                    raise ValueError(f"\\S inside [...] is not supported (position {i} of {pattern!r})")
                out.append(_WHITE_SPACE_BODY if in_class else ("[" if kind == "s" else "[^") + _WHITE_SPACE_BODY + "]")
                i += 2
                continue
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if not in_class and char == "[":
            in_class = True
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                i += 1
            class_start = i
            out.append(pattern[i - (2 if pattern[i - 1] == "^" else 1):i])
            continue
        if in_class and char == "]" and i != class_start:  # a "]" right after "[" is literal
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=16)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a split pattern (``regex`` syntax for ``\\p``/``\\s``) once and cache it."""
    return re.compile(translate_pattern(pattern))


def split(text: str, pattern: str = GPT2_SPLIT_PATTERN) -> list[str]:
    """Pre-tokens of ``text``; their concatenation is always ``text`` for GPT-2's pattern."""
    return compile_pattern(pattern).findall(text)
