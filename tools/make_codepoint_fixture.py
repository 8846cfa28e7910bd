"""Dev-only: tests/fixtures/gpt2_code_points.json, tiktoken's GPT-2 ids for every code point in 4 contexts.

    .dev/bin/python tools/make_codepoint_fixture.py

For each code point c in 0..0x10FFFF (surrogates excluded) and each context ("{c}", " {c}",
"{c}'s", "a{c}1") we store tiktoken's ``encode_ordinary`` ids, built from the shipped GPT-2
files. The contexts make the split visible: "{c}'s" separates "'s" only if c is a letter,
number or space; "a{c}1" joins "a" and c only if c is a letter. Per context the ids are one
stream "n, id_1 .. id_n" per code point, as little-endian uint16, lzma-compressed and base64'd
(about 550 KB in all). tests/test_tokenizer_code_points.py compares ours with it.
"""

from __future__ import annotations

import array
import base64
import json
import lzma
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer_fixtures import REPO, make_references  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "gpt2_code_points.json"
CONTEXTS = ["{c}", " {c}", "{c}'s", "a{c}1"]


def code_points() -> list[int]:
    return [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def id_stream(ids_per_code_point) -> bytes:
    flat = array.array("H")
    for ids in ids_per_code_point:
        flat.append(len(ids))
        flat.extend(ids)
    if sys.byteorder == "big":
        flat.byteswap()
    return flat.tobytes()


def main() -> None:
    import tiktoken

    tik, _, _ = make_references()
    points = code_points()
    payload = {
        "about": "tiktoken's GPT-2 ids (encode_ordinary) of each context with c = every code point "
                 "0..0x10FFFF except surrogates, in order; built by tools/make_codepoint_fixture.py "
                 "from the shipped GPT-2 files",
        "tiktoken_version": tiktoken.__version__,
        "format": "per context: for each code point, the number of ids n then the n ids, as little-endian "
                  "uint16, lzma-compressed, then base64",
        "contexts": {},
    }
    start = time.perf_counter()
    for context in CONTEXTS:
        before, after = context.split("{c}")
        # A plain loop: encode_ordinary_batch makes a thread-pool future per text, 30x slower here.
        ids = [tik.encode_ordinary(before + chr(c) + after) for c in points]
        payload["contexts"][context] = base64.b64encode(lzma.compress(id_stream(ids), preset=9)).decode("ascii")
        print(f"{context!r}: done after {time.perf_counter() - start:.0f} s", file=sys.stderr)
    text = json.dumps(payload, indent=1) + "\n"
    FIXTURE.write_text(text, encoding="utf-8")
    print(f"wrote {len(text) / 1024:.0f} KB to {FIXTURE.relative_to(REPO)}")


if __name__ == "__main__":
    main()
