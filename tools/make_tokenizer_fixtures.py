"""Dev-only: build tests/fixtures/gpt2_tokenizer_cases.json from reference GPT-2 tokenizers.

Run with the dev environment, which has tiktoken and transformers (no network needed):

    .dev/bin/python tools/make_tokenizer_fixtures.py           # write the fixture
    .dev/bin/python tools/make_tokenizer_fixtures.py --check   # also compare with ours

The references are fed the GPT-2 files shipped in transformer_np/tokenizer/gpt2:
tiktoken (Rust, fancy-regex), transformers' GPT2TokenizerFast (Rust ``tokenizers``,
loaded with ``from_pretrained(dir)``) and a re-statement of the original OpenAI
encoder.py algorithm below, splitting with the ``regex`` module.
A case is only written if all three agree. ``--check`` additionally verifies
that our ``save(dir)`` output loads in GPT2TokenizerFast and tokenizes the same.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPT2_DIR = REPO / "transformer_np" / "tokenizer" / "gpt2"
FIXTURE = REPO / "tests" / "fixtures" / "gpt2_tokenizer_cases.json"
sys.path.insert(0, str(REPO))  # import transformer_np from this checkout for --check
SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

PROSE = """\
The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times;
a tokenizer, however, does not care about literature: it sees bytes, pairs, and ranks.

"Well," she said, "I'd rather we didn't." He'd've agreed, if he'd been asked -- but nobody asked him.
Mr. O'Neill's dog (a 3-year-old beagle) weighed 12.5 kg on 2023-04-01 at 10:30 a.m.; that's 27.6 lb!
"""

CODE = '''\
import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    shifted = x - x.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


class Config:
\tn_layer = 12  # tabs and spaces mixed on purpose
\tn_head  = 12
    def __repr__(self):
        return f"Config(n_layer={self.n_layer!r}, n_head={self.n_head})"

if __name__ == "__main__":
    print(softmax(np.array([1.0, 2.0, 3.0])))   # -> [0.09 0.24 0.67]
'''

C_CODE = """\
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 0; i < argc; ++i) { printf("%d: %s\\n", i, argv[i]); }
    return 0; /* done */
}
"""

NAMED_CASES: dict[str, str] = {
    "anchor_hello": "Hello world",
    "anchor_its": "It's",
    "empty": "",
    "prose": PROSE,
    "python_code": CODE,
    "c_code": C_CODE,
    "json": '{"name": "GPT-2", "layers": 12, "heads": [1, 2, 3], "ok": true, "x": null}',
    "html": '<div class="x"><a href="https://example.com/?q=1&b=2">link</a></div>\n',
    "url_email": "see https://github.com/openai/gpt-2 or mail me@example.org, ok?",
    # whitespace
    "spaces_between": "a  b   c    d",
    "trailing_spaces": "end   ",
    "leading_spaces": "   start",
    "only_spaces": "     ",
    "newlines": "a\n\nb\n\n\nc\n",
    "crlf": "line one\r\nline two\r\n\r\n",
    "tabs": "\tindented\n\t\tmore\t \tmixed",
    "mixed_ws_before_word": "x \n \t  y",
    "ws_unicode": "a\u00a0b\u3000c\u2028d\u2029e\u1680f\u2003g\u202fh\u205fi",
    "ws_controls": "a\x0bb\x0cc\x85d",
    "info_separators": "a\x1cb\x1dc\x1ed\x1ff \x1c \x1f\x1f x",
    "controls": "".join(chr(c) for c in range(0, 32)) + "\x7f",
    # contractions
    "contractions": "it's don't we're I've I'm we'll he'd",
    "contractions_upper": "IT'S DON'T WE'RE I'VE I'M WE'LL HE'D",
    "contractions_mixed": "It'S dOn'T 's 't 're 've 'm 'll 'd ''s '' 'x rock 'n' roll",
    "curly_apostrophe": "it’s don’t I’m",
    "apostrophe_runs": "'''s ''t 's's",
    # numbers
    "numbers": "0 1 12 123 1234 12345 123456789 3.14159 1,000,000 -42 +7 1e-10 0x1F 2nd",
    "superscripts_fractions": "x² y³ ½ ¾ ⅓ H₂O 10⁻³",
    "other_digits": "٠١٢٣٤٥ ۱۲۳ १२३ ০১২ ๑๒๓ ①②③ ⑴ Ⅻ ⅻ 〇 𝟙𝟚𝟛",
    "digit_letter_mix": "abc123def 123abc a1b2c3 ٣abc",
    # accents and combining marks
    "accents": "café naïve Zürich Ångström façade résumé São Paulo Kraków",
    "combining": "cafe\u0301 e\u0301\u0302\u0303\u0304 a\u0308 n\u0303o \u0301start",
    "zalgo": "Z\u0351\u036b\u0343a\u0352l\u0367g\u0310o\u0360\u0334 text",
    "vietnamese": "Tiếng Việt có dấu: Hà Nội, Thành phố Hồ Chí Minh",
    "greek_cyrillic": "Καλημέρα κόσμε. Привет, мир! Ёжик в тумане.",
    # scripts
    "chinese": "我爱自然语言处理。今天天气很好，我们去公园吧！",
    "japanese": "吾輩は猫である。名前はまだ無い。カタカナとひらがな、ｈａｌｆｗｉｄｔｈ ｶﾀｶﾅ",
    "korean": "안녕하세요 세계! 한국어 텍스트입니다. \u1100\u1161\u11a8 (jamo)",
    "arabic": "مرحبا بالعالم! هذا نصٌّ عربيٌّ مُشَكَّل، والأرقام ١٢٣.",
    "hebrew": "שלום עולם! בְּרֵאשִׁית בָּרָא אֱלֹהִים",
    "rtl_marks": "abc \u200fשלום\u200e def \u202eevil\u202c",
    "devanagari": "नमस्ते दुनिया, हिन्दी में लिखा गया पाठ।",
    "thai": "สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรค",
    "other_scripts": "ሰላም ᓀᐦᐃᔭᐍᐏᐣ ᚠᚢᚦ Ꭰ ꯃꯤ 𐌰𐌱𐌲 𓀀𓀁",
    # emoji
    "emoji": "I love 🍕 and 🎉! 😀😃😄 👍",
    "emoji_skin_tones": "👍🏽 👋🏿 🧑🏻‍💻",
    "emoji_zwj_family": "👨‍👩‍👧‍👦 family, 👩‍❤️‍💋‍👨 kiss",
    "emoji_flags": "🇺🇸🇬🇧🇯🇵🇩🇪 🏳️‍🌈 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "emoji_keycaps_vs": "1️⃣ #️⃣ ❤️ ❤ ☺️ ✔︎",
    # zero-width and format characters
    "zero_width": "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060wj soft\xadhyphen",
    "bom_start": "\ufeffHello",
    "private_use_and_unassigned": "\ue000\uf8ff \U000f0000 \u0378\u0379 x",
    "nonchar": "\ufffe\uffff\ufffd",
    # long runs of one character
    "run_a": "a" * 1000,
    "run_spaces": " " * 500 + "x",
    "run_newlines": "\n" * 300,
    "run_equals": "=" * 200,
    "run_dashes": "-" * 150 + "\n" + "_" * 150,
    "run_digits": "9" * 400,
    "run_emoji": "😀" * 60,
    "run_cjk": "中" * 200,
    "run_ab": "ab" * 300,
    "run_dots": "." * 100 + "!?" * 50,
    # special token text (ordinary text unless allowed)
    "endoftext_plain": "Hello<|endoftext|>World <|endoftext|> again",
    "endoftext_partial": "<|endoftext| <|endoftext <|endoftext|>|>",
}

SPECIAL_CASES: dict[str, str] = {
    "endoftext_allowed": "Hello<|endoftext|>World <|endoftext|> again",
    "endoftext_only": "<|endoftext|>",
    "endoftext_twice": "<|endoftext|><|endoftext|>\n<|endoftext|>",
}


def random_cases(count: int, seed: int = 1234) -> dict[str, str]:
    """Deterministic random strings mixing ASCII, whitespace and assorted Unicode."""
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2000\u3000",
        "'sStTrReEvVmMlLdD",
        "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~",
        "éüñçßøåæœ\u0301\u0308\u0327²³½①Ⅻ٣",
        "中文日本語한국어ひらがなカタカナ",
        "مرحباשלוםПриветΓειά",
        "😀👍🏽👨‍👩‍👧🇺🇸\u200d\ufe0f\u200b",
    ]
    assigned = [chr(c) for c in range(0x20, 0x30000) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    cases = {}
    for index in range(count):
        length = rng.randint(1, 40)
        chars = []
        for _ in range(length):
            if rng.random() < 0.1:
                chars.append(rng.choice(assigned))
            else:
                chars.append(rng.choice(rng.choice(pools)))
        cases[f"random_{index:03d}"] = "".join(chars)
    return cases


def long_mixed_document() -> str:
    parts = [PROSE, CODE, NAMED_CASES["chinese"], NAMED_CASES["arabic"], NAMED_CASES["emoji_zwj_family"],
             NAMED_CASES["numbers"], NAMED_CASES["contractions_upper"], C_CODE, NAMED_CASES["combining"]]
    return "\n\n".join(parts * 4)


def gpt2_files():
    vocab = json.loads((GPT2_DIR / "encoder.json").read_text(encoding="utf-8"))
    merges_text = (GPT2_DIR / "vocab.bpe").read_text(encoding="utf-8")
    return vocab, merges_text


class ClassicGPT2:
    """The original encoder.py algorithm (regex split, string-pair BPE), without special tokens."""

    def __init__(self, vocab: dict[str, int], merges_text: str):
        import regex

        lines = merges_text.splitlines()[1:]
        self.ranks = {tuple(line.split()): rank for rank, line in enumerate(lines) if line}
        self.vocab = vocab
        self.byte_char = _bytes_to_unicode()
        self.split = regex.compile(SPLIT_PATTERN).findall

    def bpe(self, word: tuple[str, ...]) -> list[str]:
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        return list(word)

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in self.split(text):
            chars = tuple(self.byte_char[b] for b in piece.encode("utf-8"))
            ids.extend(self.vocab[token] for token in self.bpe(chars))
        return ids


def make_references():
    """Three independent GPT-2 tokenizers built from the shipped files, offline."""
    import tiktoken
    from transformers import GPT2TokenizerFast

    vocab, merges_text = gpt2_files()
    tmp = Path(tempfile.mkdtemp(prefix="gpt2_hf_"))
    (tmp / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tmp / "merges.txt").write_text(merges_text, encoding="utf-8")
    fast = GPT2TokenizerFast.from_pretrained(str(tmp))
    slow = ClassicGPT2(vocab, merges_text)

    byte_decoder = {char: byte for byte, char in _bytes_to_unicode().items()}
    ranks = {bytes(byte_decoder[c] for c in token): token_id for token, token_id in vocab.items() if token != "<|endoftext|>"}
    tik = tiktoken.Encoding("gpt2_local", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})
    return tik, slow, fast


def _bytes_to_unicode() -> dict[int, str]:
    # Independent re-statement of GPT-2's byte alphabet, so the references do not import our code.
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def reference_ids(text: str, allow_special: bool, tik, slow, fast) -> list[int]:
    if allow_special:
        pieces = text.split("<|endoftext|>")
        classic = slow.encode(pieces[0])
        for piece in pieces[1:]:
            classic += [50256] + slow.encode(piece)
        results = [tik.encode(text, allowed_special="all"), classic, fast.encode(text)]
    else:
        results = [tik.encode(text, disallowed_special=()),
                   slow.encode(text),
                   fast.encode(text, split_special_tokens=True)]
    if not (results[0] == results[1] == results[2]):
        raise SystemExit(f"references disagree on {text!r}:\n  tiktoken {results[0]}\n  slow {results[1]}\n  fast {results[2]}")
    return results[0]


def build_cases(tik, slow, fast) -> list[dict]:
    cases = []
    all_plain = {**NAMED_CASES, **random_cases(250), "long_mixed_document": long_mixed_document()}
    for name, text in all_plain.items():
        cases.append({"name": name, "text": text, "ids": reference_ids(text, False, tik, slow, fast)})
    for name, text in SPECIAL_CASES.items():
        cases.append({"name": name, "text": text, "allowed_special": "all",
                      "ids": reference_ids(text, True, tik, slow, fast)})
    return cases


def check_ours(cases, fast) -> int:
    """Compare our tokenizer with the fixture, and our save() output with GPT2TokenizerFast."""
    from transformers import GPT2TokenizerFast

    from transformer_np.tokenizer import BPETokenizer

    failures = 0
    ours = BPETokenizer.from_pretrained("gpt2")
    for case in cases:
        got = ours.encode(case["text"], allowed_special=case.get("allowed_special", set()), disallowed_special=())
        if got != case["ids"]:
            failures += 1
            print(f"MISMATCH {case['name']}: {case['text']!r}\n  ours {got}\n  ref  {case['ids']}")
    texts = [c["text"] for c in cases if "allowed_special" not in c and "endoftext" not in c["name"]]
    training_text = "\n".join(texts) * 3
    for label, tokenizer in (("gpt2", ours), ("trained", BPETokenizer.train(training_text, 600))):
        with tempfile.TemporaryDirectory() as directory:
            tokenizer.save(directory)
            hf = GPT2TokenizerFast.from_pretrained(directory)
            for text in texts:
                if hf.encode(text) != tokenizer.encode_ordinary(text):
                    failures += 1
                    print(f"SAVE MISMATCH ({label}) on {text!r}")
            reloaded = BPETokenizer.from_pretrained(directory)
            if reloaded.merges != tokenizer.merges or reloaded.token_bytes != tokenizer.token_bytes:
                failures += 1
                print(f"SAVE/LOAD round trip changed the {label} tokenizer")
    print(f"checked {len(cases)} cases and save() for gpt2 + trained: {failures} failure(s)")
    return failures


def check_split_every_code_point() -> int:
    """Our re-based pre-tokenizer vs the ``regex`` module, for each code point in a few contexts.

    Differences are expected only for code points unassigned in our shipped Unicode tables
    (Unicode 16, tiktoken's version) that a newer ``regex`` knows.
    """
    import regex

    from transformer_np.tokenizer.pretokenize import category, split
    from transformer_np.tokenizer.unicode_tables import UNICODE_VERSION

    reference = regex.compile(SPLIT_PATTERN).findall
    differing = []
    for code_point in range(sys.maxunicode + 1):
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        c = chr(code_point)
        text = f"a{c}b 1{c}2 {c}{c} x{c} {c}\n!{c}"
        if split(text) != reference(text):
            differing.append(code_point)
    assigned = [cp for cp in differing if category(chr(cp)) != "Cn"]
    print(f"pre-tokenizer: {len(differing)} code points split differently from regex, "
          f"{len(assigned)} of them assigned in Unicode {UNICODE_VERSION}")
    return len(assigned)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="also compare transformer_np's tokenizer")
    args = parser.parse_args()
    tik, slow, fast = make_references()
    cases = build_cases(tik, slow, fast)
    payload = {
        "about": "GPT-2 token ids from tiktoken, transformers GPT2Tokenizer and GPT2TokenizerFast "
                 "(all agreeing), built by tools/make_tokenizer_fixtures.py from the shipped GPT-2 files.",
        "cases": cases,
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases, {len(text.encode()) / 1024:.0f} KB to {FIXTURE.relative_to(REPO)}")
    if args.check and (check_ours(cases, fast) + check_split_every_code_point()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
