"""GPT-2's printable stand-in character for each of the 256 byte values.

Byte-level BPE works on raw UTF-8 bytes, but the vocabulary and merges files
are text, and some bytes (space, newline, control codes) would be invisible or
would break the "left right" line format of merges.txt. GPT-2 therefore shows
every byte as one printable character: bytes that already print as a Latin-1
character stand for themselves, the other 68 are shifted to U+0100 and up, in
byte order. That is why a space appears as "Ġ" (U+0120) in GPT-2's files.

The order matters too: GPT-2 gives the 256 single-byte tokens the ids 0..255
in the order of this table (printable bytes first), so "!" is id 0 and the
space is id 220. Trained tokenizers here use the same convention.
"""

from __future__ import annotations


def _build_table() -> dict[int, str]:
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {byte: chr(byte) for byte in printable}
    shifted = 0
    for byte in range(256):
        if byte not in table:
            table[byte] = chr(256 + shifted)
            shifted += 1
    return table


#: byte value -> its stand-in character; dict order is GPT-2's id order.
BYTE_TO_CHAR: dict[int, str] = _build_table()

#: stand-in character -> byte value.
CHAR_TO_BYTE: dict[str, int] = {char: byte for byte, char in BYTE_TO_CHAR.items()}

#: byte value -> GPT-2 id of that single-byte token (a permutation of 0..255).
BYTE_TO_ID: dict[int, int] = {byte: index for index, byte in enumerate(BYTE_TO_CHAR)}

#: id 0..255 -> the byte it stands for.
ID_TO_BYTE: list[int] = list(BYTE_TO_CHAR)


def bytes_to_text(data: bytes) -> str:
    """Spell raw bytes with stand-in characters, as stored in vocab/merges files."""
    return "".join(map(BYTE_TO_CHAR.__getitem__, data))


def text_to_bytes(text: str) -> bytes:
    """Inverse of :func:`bytes_to_text`; raises KeyError on a character outside the alphabet."""
    return bytes(map(CHAR_TO_BYTE.__getitem__, text))
