"""GPT-2 tokenizer: exact ids against the reference fixture, special tokens, decoding."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer import BPETokenizer

FIXTURE = Path(__file__).parent / "fixtures" / "gpt2_tokenizer_cases.json"
CASES = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="module")
def gpt2():
    return BPETokenizer.from_pretrained("gpt2")


def test_known_anchors(gpt2):
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.encode("It's") == [1026, 338]
    assert gpt2.encode(" ") == [220]
    assert gpt2.vocab_size == 50257
    assert gpt2.special_tokens == {"<|endoftext|>": 50256}


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_matches_reference_ids(gpt2, case):
    ids = gpt2.encode(case["text"], allowed_special=case.get("allowed_special", set()), disallowed_special=())
    assert ids == case["ids"]
    assert gpt2.decode(ids) == case["text"]


def test_fixture_covers_the_issue_list():
    names = {case["name"] for case in CASES}
    for required in ("prose", "python_code", "newlines", "contractions_upper", "numbers", "combining",
                     "chinese", "arabic", "hebrew", "emoji_zwj_family", "emoji_flags", "zero_width", "run_a"):
        assert required in names


def test_cold_and_warm_cache_agree(gpt2):
    text = " ".join(case["text"] for case in CASES[:80])
    fresh = BPETokenizer.from_pretrained("gpt2")
    cold = fresh.encode_ordinary(text)
    assert fresh.encode_ordinary(text) == cold
    fresh.clear_cache()
    assert fresh.encode_ordinary(text) == cold == gpt2.encode_ordinary(text)


def test_word_cache_is_bounded(monkeypatch):
    from transformer_np.tokenizer import tokenizer as tokenizer_module

    monkeypatch.setattr(tokenizer_module, "_CACHE_LIMIT", 5)
    fresh = BPETokenizer.from_pretrained("gpt2")
    text = "one two three four five six seven"
    expected = [505, 734, 1115, 1440, 1936, 2237, 3598]
    assert fresh.encode(text) == expected
    assert fresh.encode("eight nine " + text) == [26022, 5193, 530] + expected[1:]  # " one" is 530
    assert len(fresh._cache) <= 9


def test_case_sensitive_contractions(gpt2):
    words = [gpt2.decode([i]) for i in gpt2.encode("I'M it's IT'S")]
    assert words == ["I", "'", "M", " it", "'s", " IT", "'", "S"]


def test_special_tokens_need_permission(gpt2):
    text = "a<|endoftext|>b"
    plain = gpt2.encode_ordinary(text)
    assert 50256 not in plain and gpt2.decode(plain) == text
    assert gpt2.encode(text, disallowed_special=()) == plain
    with pytest.raises(ValueError, match="'<|endoftext|>'"):
        gpt2.encode(text)  # tiktoken's default: special-token text is an error
    assert gpt2.encode(text, allowed_special="all") == gpt2.encode("a") + [50256] + gpt2.encode("b")
    assert gpt2.encode(text, allowed_special={"<|endoftext|>"}) == gpt2.encode(text, allowed_special="all")
    assert gpt2.decode(gpt2.encode(text, allowed_special="all")) == text
    with pytest.raises(ValueError, match="not special tokens"):
        gpt2.encode(text, allowed_special={"<|nope|>"})


def test_decode_partial_utf8_uses_replacement(gpt2):
    ids = gpt2.encode("🏳️‍🌈")
    assert len(ids) > 1
    first = gpt2.decode(ids[:1])
    assert "\ufffd" in first  # a cut-off character, not an exception
    assert gpt2.decode(ids) == "🏳️‍🌈"


def test_decode_rejects_unknown_ids(gpt2):
    for bad in ([50257], [-1], [1.5]):
        with pytest.raises(ValueError, match="token id"):
            gpt2.decode(bad)


def test_stream_decoder_holds_back_incomplete_characters(gpt2):
    text = "Hi 👨‍👩‍👧 中文 ok"
    decoder = gpt2.stream_decoder()
    pieces = [decoder.add(token_id) for token_id in gpt2.encode(text)]
    pieces.append(decoder.finish())
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    assert "".join(gpt2.decode_stream(iter(gpt2.encode(text)))) == text
    # An unfinished character at the end of the stream becomes U+FFFD.
    decoder.add(gpt2.encode("😀")[:1])
    assert decoder.finish() == "\ufffd"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_round_trip_any_text(gpt2, text):
    assert gpt2.decode(gpt2.encode_ordinary(text)) == text


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \n\t'sStTdlmvrea😀é中\u0301\u200d1²_<|>")), max_size=40))
def test_round_trip_tricky_alphabet(gpt2, text):
    ids = gpt2.encode(text, allowed_special="all")
    assert gpt2.decode(ids) == text
    assert "".join(gpt2.decode_stream(ids)) == text


def test_save_loads_in_transformers(gpt2, tmp_path):
    transformers = pytest.importorskip("transformers")  # dev-only check
    gpt2.save(tmp_path)
    hf = transformers.GPT2TokenizerFast.from_pretrained(str(tmp_path))
    for case in CASES:
        if "allowed_special" not in case and "endoftext" not in case["name"]:
            assert hf.encode(case["text"]) == case["ids"], case["name"]
