"""encode_iterable: ids of a stream equal those of the whole text, in bounded memory."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer import BPETokenizer, stream

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpt2():
    return BPETokenizer.from_pretrained("gpt2")


def cut(text: str, positions: list[int]) -> list[str]:
    edges = sorted({0, len(text), *(p % (len(text) + 1) for p in positions)})
    return [text[a:b] for a, b in zip(edges, edges[1:])]


tricky = st.text(alphabet=st.sampled_from(list("ab 1\n\t'sé😀<|endoftext|>\u3000")), max_size=300)


@pytest.fixture(scope="module")
def small_parts():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stream, "PART_CHARS", 8)  # cut as often as possible
        yield


@settings(max_examples=150, deadline=None)
@given(text=tricky, positions=st.lists(st.integers(0, 10_000), max_size=12))
def test_stream_equals_whole_text(gpt2, small_parts, text, positions):
    pieces = cut(text, positions)
    for allowed in (frozenset(), "all"):
        whole = gpt2.encode(text, allowed_special=allowed, disallowed_special=())
        assert list(gpt2.encode_iterable(pieces, allowed_special=allowed, disallowed_special=())) == whole


def test_stream_raises_on_a_disallowed_special_split_across_pieces(gpt2, monkeypatch):
    monkeypatch.setattr(stream, "PART_CHARS", 4)
    with pytest.raises(ValueError, match="endoftext"):
        list(gpt2.encode_iterable(["some text <|endof", "text|> more"]))


def test_stream_is_lazy(gpt2):
    def endless():
        while True:
            yield "The same sentence again and again. "
    ids = gpt2.encode_iterable(endless())
    first = [next(ids) for _ in range(10)]
    assert first == gpt2.encode("The same sentence again and again. " * 2)[:10]


def test_parts_cover_the_stream_and_are_bounded():
    text = "ef gh ij " * 100_000
    words = re.compile(r"\S+|\s+").findall
    parts = list(stream.independent_parts([text[i:i + 1000] for i in range(0, len(text), 1000)], words))
    assert "".join(parts) == text and len(parts) > 5
    assert max(map(len, parts)) <= stream.PART_CHARS + 1000  # one part, plus at most one chunk


def test_streaming_200_megabytes_keeps_memory_flat(tmp_path):
    """A 200 MB file streams through in a subprocess whose peak RSS grows < 100 MB.

    The text is long lines of one repeated word, which encode quickly (the word is cached) so the
    test takes seconds; what is measured is memory, not time."""
    script = textwrap.dedent("""
        import resource, sys
        from transformer_np.tokenizer import BPETokenizer
        from transformer_np.tokenizer.stream import read_chunks
        path = sys.argv[1]
        line = ("-" * 1023 + "\\n")
        with open(path, "w", encoding="utf-8") as f:
            block = line * 1024                    # 1 MiB
            for _ in range(200):
                f.write(block)
        tokenizer = BPETokenizer.from_pretrained("gpt2")
        tokenizer.encode(line * 4)                 # warm up the code paths
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        count = sum(1 for _ in tokenizer.encode_iterable(read_chunks(path)))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(count, (peak - baseline) // 1024)
    """)
    path = tmp_path / "big.txt"
    run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=REPO,
                         check=False, timeout=600)
    assert run.returncode == 0, run.stderr
    count, grown_mb = map(int, run.stdout.split())
    assert path.stat().st_size == 200 * 1024 * 1024
    assert count == 200 * 1024 * 18  # per line: 15 tokens of 64 dashes, then 48, 15 and "\n"
    assert grown_mb < 100
