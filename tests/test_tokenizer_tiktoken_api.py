"""tiktoken's API and behaviour, case by case from tiktoken's public test suite where it applies to GPT-2
(r50k_base is GPT-2's encoding). The expected ids are tiktoken's."""

import pickle
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.tokenizer import BPETokenizer

EOT = 50256


@pytest.fixture(scope="module")
def gpt2():
    return BPETokenizer.from_pretrained("gpt2")


@pytest.fixture(scope="module")
def fim():
    """GPT-2 plus two more special tokens, to test several at once (tiktoken uses cl100k_base)."""
    base = BPETokenizer.from_pretrained("gpt2")
    specials = {**base.special_tokens, "<|fim_prefix|>": 50257, "<|fim_middle|>": 50258}
    token_bytes = base.token_bytes + [b"<|fim_prefix|>", b"<|fim_middle|>"]
    return BPETokenizer(token_bytes, base.merges, specials)


def test_simple(gpt2):
    assert gpt2.encode("hello world") == [31373, 995]
    assert gpt2.decode([31373, 995]) == "hello world"
    assert gpt2.encode("hello <|endoftext|>", allowed_special="all") == [31373, 220, EOT]
    assert gpt2.encode("") == []


def test_simple_repeated(gpt2):
    expected = [[15], [405], [830], [2388], [20483], [10535], [24598], [8269], [10535, 830], [8269, 405],
                [8269, 830], [8269, 2388], [8269, 20483], [8269, 10535], [8269, 24598], [25645],
                [8269, 10535, 830]]
    assert [gpt2.encode("0" * n) for n in range(1, 18)] == expected


def test_vocabulary_facts(gpt2):
    assert gpt2.n_vocab == 50257 and gpt2.max_token_value == 50256 == gpt2.eot_token
    assert gpt2.special_tokens_set == {"<|endoftext|>"}
    assert gpt2.is_special_token(EOT) and not gpt2.is_special_token(0)
    assert len(gpt2.token_byte_values()) == 50256 and b" world" in gpt2.token_byte_values()


def test_single_token_round_trip(gpt2):
    for token in range(gpt2.n_vocab):
        assert gpt2.encode_single_token(gpt2.decode_single_token_bytes(token)) == token
    assert gpt2.encode_single_token("hello") == 31373
    assert gpt2.encode_single_token("<|endoftext|>") == EOT  # special tokens included
    with pytest.raises(KeyError):
        gpt2.encode_single_token("hello world")
    with pytest.raises(KeyError):
        gpt2.decode_single_token_bytes(gpt2.n_vocab)


def test_encode_surrogates(gpt2):
    assert gpt2.encode("👍") == [41840, 235]
    assert gpt2.encode("\ud83d\udc4d") == [41840, 235]      # a surrogate pair becomes its character
    assert gpt2.encode("\ud83d") == gpt2.encode("\ufffd") == [4210]  # a lone one becomes U+FFFD
    assert gpt2.encode_ordinary("a\udc4db") == gpt2.encode_ordinary("a\ufffdb")
    assert gpt2.encode_batch(["x\ud83d"]) == [gpt2.encode("x\ufffd")]


@pytest.mark.parametrize("char", ["^", "0", "a", "'s", " ", "\n"])
def test_catastrophically_repetitive(gpt2, char):
    for text in (char * 10_000, " " + char * 10_000, " " + char * 10_000 + "\n"):
        assert gpt2.decode(gpt2.encode(text)) == text


def test_a_million_characters_in_one_word_is_not_quadratic(gpt2):
    start = time.process_time()
    ids = gpt2.encode("x" * 1_000_000)
    # The quadratic merge loop took hours here; O(n log n) takes about a second. The bound is loose
    # on purpose (busy CI machines); bench/bpe_speed.py measures the real speed.
    assert time.process_time() - start < 30
    assert gpt2.decode(ids) == "x" * 1_000_000 and len(ids) == 125_000


@pytest.mark.parametrize("text", ["hello", "hello ", "hello  ", " hello", " hello ", " hello  ", "hello world",
                                  "请考试我的软件！12345"])
def test_basic_round_trip(gpt2, text):
    assert gpt2.decode(gpt2.encode(text)) == text == gpt2.decode(gpt2.encode_ordinary(text))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_hyp_round_trip(gpt2, text):
    assert gpt2.decode(gpt2.encode(text, disallowed_special=())) == text


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab <|endoftext|>\n")), max_size=60))
def test_hyp_ordinary_is_encode_with_nothing_disallowed(gpt2, text):
    assert gpt2.encode_ordinary(text) == gpt2.encode(text, disallowed_special=())


def test_special_tokens(fim):
    eot, prefix, middle = (fim.encode_single_token(s) for s in ("<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>"))
    assert eot == fim.eot_token
    text = "<|endoftext|> hello <|fim_prefix|>"
    assert eot not in fim.encode(text, disallowed_special=())
    for disallowed in ("all", {"<|endoftext|>"}, {"<|fim_prefix|>"}):
        with pytest.raises(ValueError):
            fim.encode(text, disallowed_special=disallowed)
    with pytest.raises(ValueError, match="'<\\|endoftext\\|>'"):  # the message names the token found first
        fim.encode(text)

    text = "<|endoftext|> hello <|fim_prefix|> there <|fim_middle|>"
    present = lambda ids: (eot in ids, prefix in ids, middle in ids)  # noqa: E731
    assert present(fim.encode(text, disallowed_special=())) == (False, False, False)
    assert present(fim.encode(text, allowed_special="all", disallowed_special=())) == (True, True, True)
    assert present(fim.encode(text, allowed_special="all", disallowed_special="all")) == (True, True, True)
    assert present(fim.encode(text, allowed_special={"<|fim_prefix|>"}, disallowed_special=())) == (False, True, False)
    assert present(fim.encode(text, allowed_special={"<|endoftext|>"}, disallowed_special=())) == (True, False, False)
    assert present(fim.encode(text, allowed_special={"<|fim_middle|>"}, disallowed_special=())) == (False, False, True)


def test_batch_encode(gpt2):
    first, second = "hello world", "goodbye world"
    assert gpt2.encode_batch([first]) == [gpt2.encode(first)]
    assert gpt2.encode_batch([first, second]) == [[31373, 995], [11274, 16390, 995]]
    assert gpt2.encode_ordinary_batch([first, second]) == [gpt2.encode_ordinary(first), gpt2.encode_ordinary(second)]
    with pytest.raises(ValueError, match="endoftext"):
        gpt2.encode_batch(["fine", "not <|endoftext|> fine"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text()))
def test_hyp_batch_round_trip(gpt2, batch):
    encoded = gpt2.encode_batch(batch, allowed_special="all")
    assert encoded == [gpt2.encode(text, allowed_special="all") for text in batch]
    assert gpt2.decode_batch(encoded) == batch
    assert gpt2.decode_bytes_batch(encoded) == [text.encode("utf-8") for text in batch]


def test_batch_in_worker_processes_gives_the_same_ids(gpt2):
    texts = [f"Document {i}: the quick brown fox jumps over {i * 7} lazy dogs. " * 40 for i in range(200)]
    assert sum(map(len, texts)) > 256 * 1024  # large enough to use the workers
    assert gpt2.encode_ordinary_batch(texts, num_threads=2) == [gpt2.encode_ordinary(text) for text in texts]


def test_decode_bytes_and_errors(gpt2):
    assert gpt2.decode_bytes([31373, 995]) == b"hello world"
    assert gpt2.decode_tokens_bytes([31373, 995]) == [b"hello", b" world"]
    cut = gpt2.encode("😀")[:1]
    assert gpt2.decode(cut) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        gpt2.decode(cut, errors="strict")
    assert gpt2.decode(cut, errors="ignore") == ""


def _offsets_reference(tokenizer, tokens):
    """tiktoken's definition: where decoding the tokens before each one stops agreeing with the text."""
    text = tokenizer.decode(tokens, errors="strict")
    offsets = []
    for i in range(len(tokens)):
        prefix = tokenizer.decode(tokens[:i], errors="ignore")
        common = 0
        while common < min(len(text), len(prefix)) and text[common] == prefix[common]:
            common += 1
        offsets.append(common)
    return offsets


def test_basic_offsets(gpt2):
    assert gpt2.decode_with_offsets([]) == ("", [])
    assert gpt2.decode_with_offsets(gpt2.encode("hello world")) == ("hello world", [0, 5])
    assert gpt2.decode_with_offsets(iter(gpt2.encode("hello world"))) == ("hello world", [0, 5])
    prompt = "hello world<|endoftext|> green cow"
    assert gpt2.decode_with_offsets(gpt2.encode(prompt, allowed_special="all")) == (prompt, [0, 5, 11, 24, 30])
    for prompt in ("我非常渴望与人工智能一起工作", "நடிகர் சூர்யா", " Ġ除", "👨‍👩‍👧 ok"):
        tokens = gpt2.encode(prompt)
        assert gpt2.decode_with_offsets(tokens) == (prompt, _offsets_reference(gpt2, tokens))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 50256), min_size=1, max_size=20))
def test_hyp_offsets(gpt2, tokens):
    tokens = gpt2.encode(gpt2.decode(tokens, errors="ignore"), allowed_special="all")  # valid UTF-8
    assert gpt2.decode_with_offsets(tokens)[1] == _offsets_reference(gpt2, tokens)


def test_offsets_errors(gpt2):
    with pytest.raises(KeyError):
        gpt2.decode_with_offsets([gpt2.max_token_value + 1])
    with pytest.raises(UnicodeDecodeError):
        gpt2.decode_with_offsets([gpt2.encode_single_token(b"\x80")])


def test_pickle(gpt2, fim):
    assert pickle.loads(pickle.dumps(gpt2)).encode("hello world") == [31373, 995]
    copy = pickle.loads(pickle.dumps(fim))
    assert copy.encode("<|fim_prefix|>", allowed_special="all") == [50257]
    assert len(pickle.dumps(gpt2)) < 4_000_000  # the definition, not the word cache
