"""Every code point, in four contexts, gives tiktoken's GPT-2 ids (fixture from tools/make_codepoint_fixture.py).

This pins the Unicode tables (``\\p{L}``, ``\\p{N}``, White_Space) and the byte-level BPE on all
1,112,064 non-surrogate code points, whatever Unicode version this Python's ``unicodedata`` has.
"""

import array
import base64
import json
import multiprocessing
import sys
from pathlib import Path

import pytest

from transformer_np.tokenizer import BPETokenizer

lzma = pytest.importorskip("lzma", reason="this Python was built without lzma")

FIXTURE = Path(__file__).parent / "fixtures" / "gpt2_code_points.json"
CONTEXTS = ["{c}", " {c}", "{c}'s", "a{c}1"]
CODE_POINTS = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def _as_uint16(ids_per_code_point) -> array.array:
    """The fixture's layout: per code point, the number of ids then the ids."""
    flat = array.array("H")
    for ids in ids_per_code_point:
        flat.append(len(ids))
        flat.extend(ids)
    return flat


def _unflatten(flat: array.array) -> list[list[int]]:
    out, i = [], 0
    while i < len(flat):
        out.append(list(flat[i + 1:i + 1 + flat[i]]))
        i += 1 + flat[i]
    return out


def _our_streams(start: int, stop: int) -> dict[str, bytes]:
    """Our ids for CODE_POINTS[start:stop] in every context, in the fixture's layout. The four
    contexts of one code point are encoded together, so the words they share are cached once."""
    encode = BPETokenizer.from_pretrained("gpt2").encode_ordinary
    per_context = {context: [] for context in CONTEXTS}
    plain, spaced, possessive, between = (per_context[context] for context in CONTEXTS)
    for code_point in CODE_POINTS[start:stop]:
        char = chr(code_point)
        plain.append(encode(char))
        spaced.append(encode(" " + char))
        possessive.append(encode(char + "'s"))
        between.append(encode("a" + char + "1"))
    return {context: _as_uint16(ids).tobytes() for context, ids in per_context.items()}


@pytest.fixture(scope="module")
def ours() -> dict[str, array.array]:
    """Our streams for all code points, computed in two processes where fork is available."""
    halves = [(0, len(CODE_POINTS) // 2), (len(CODE_POINTS) // 2, len(CODE_POINTS))]
    if "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(2) as pool:
            parts = pool.starmap(_our_streams, halves)
    else:
        parts = [_our_streams(*half) for half in halves]
    return {context: array.array("H", b"".join(part[context] for part in parts)) for context in CONTEXTS}


def expected(context: str) -> array.array:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))["contexts"][context]
    flat = array.array("H", lzma.decompress(base64.b64decode(data)))
    if sys.byteorder == "big":
        flat.byteswap()
    return flat


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_code_point_matches_tiktoken(ours, context):
    want = expected(context)
    if ours[context] == want:
        return
    mine, theirs = _unflatten(ours[context]), _unflatten(want)
    differing = [(f"U+{c:04X}", got, ref) for c, got, ref in zip(CODE_POINTS, mine, theirs) if got != ref]
    pytest.fail(f"{len(differing)} code points differ in context {context!r}, e.g. (ours, tiktoken): {differing[:8]}")


def test_fixture_is_complete():
    for context in CONTEXTS:
        assert len(_unflatten(expected(context))) == len(CODE_POINTS) == 0x110000 - 0x800
