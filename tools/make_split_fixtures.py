"""Dev-only: build tests/fixtures/split_behaviors.json from Hugging Face ``tokenizers``' Split.

    /work/devvenv/bin/python tools/make_split_fixtures.py           # write the fixture
    /work/devvenv/bin/python tools/make_split_fixtures.py --check   # also compare with ours

Each case is (pattern, behavior, invert, text) and the words ``pre_tokenizers.Split`` gives. The
patterns are chosen for the corners: capturing groups, text the pattern does not cover, runs of
delimiters, and patterns that can match the empty string (where Rust's and Python's iteration differ).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "split_behaviors.json"
sys.path.insert(0, str(REPO))

PATTERNS = [r"-", r"(o)", r"l+", r"(l)(o)?", r"a*|b+", r"\s*", r"[ab]", r"x?", r" ?\p{L}+", r"\p{N}", r"b*",
            r"(?=a)", r"a|", r"'s|'t| ?\p{L}+| ?\p{N}+", r"\s+(?!\S)|\s+"]
BEHAVIORS = ["Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"]
ALPHABET = "ab -lox1\n'sé"
HF_NAMES = {"Isolated": "isolated", "Removed": "removed", "MergedWithPrevious": "merged_with_previous",
            "MergedWithNext": "merged_with_next", "Contiguous": "contiguous"}


def reference_words(pattern: str, behavior: str, invert: bool, text: str) -> list[str]:
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(pattern), HF_NAMES[behavior], invert)
    return [word for word, _ in split.pre_tokenize_str(text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="also compare with transformer_np's Splitter")
    args = parser.parse_args()
    rng = random.Random(24)
    cases = [("-", behavior, invert, "a-b--c-") for behavior in BEHAVIORS for invert in (False, True)]
    cases += [("(o)", "Isolated", False, "Hello world"), (r"\p{L}+", "Isolated", False, "Hello, world!")]
    while len(cases) < 300:
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 14)))
        cases.append((rng.choice(PATTERNS), rng.choice(BEHAVIORS), rng.random() < 0.5, text))
    records = [{"pattern": p, "behavior": b, "invert": i, "text": t, "words": reference_words(p, b, i, t)}
               for p, b, i, t in cases]
    lines = ",\n".join(json.dumps(record, ensure_ascii=False) for record in records)  # one case per line
    FIXTURE.write_text(f"[\n{lines}\n]\n", encoding="utf-8")
    print(f"wrote {len(records)} cases to {FIXTURE}")
    if args.check:
        from transformer_np.tokenizer.pretokenize import Splitter

        differ = [r for r in records if Splitter(r["pattern"], r["behavior"], r["invert"]).words(r["text"]) != r["words"]]
        print(f"ours differs in {len(differ)} of {len(records)} cases")


if __name__ == "__main__":
    main()
