"""BERT's WordPiece tokenizer (Hugging Face `BertTokenizer`), standard library only.

Text -> ids in three stages:
1. special tokens written in the text ("[CLS]", "[SEP]", "[MASK]", ...) are cut out first and stay single
   tokens (matched as written, before any lower-casing);
2. basic tokenization of the pieces between them:
   - clean: drop NUL, U+FFFD and control characters (category C*, except tab/newline/CR); every
     whitespace character (tab, newline, CR, category Zs) becomes a space;
   - put spaces around CJK ideographs, so each is a word of its own;
   - split on whitespace; lower-case (character by character) and strip accents (NFD, then drop the
     combining marks, Mn) when `do_lower_case` (and `strip_accents` is not false), or only strip when
     `strip_accents` is true;
   - split every punctuation character off as its own word: Unicode P* and also the ASCII symbols
     $ + < = > ^ ` | ~ (BERT counts all non-alphanumeric printable ASCII as punctuation);
3. WordPiece: each word becomes the longest vocabulary entry that starts it, then the longest "##"-prefixed
   entry that continues it, and so on; a word with no such split, or longer than 100 characters, is [UNK].

`encode` adds [CLS] ... [SEP] (and a pair's second segment ... [SEP] with token type 1); `encode_batch`
pads to the longest and returns the attention mask (1 = real token), the arrays the model takes.

Files (Hugging Face layout): vocab.txt (one token per line, its line number is its id) and
tokenizer_config.json (do_lower_case, strip_accents, tokenize_chinese_chars, the special tokens' text).
"""
import json
import re
import unicodedata
from pathlib import Path

import numpy as np

from .files import TokenizerFileError, atomic_write_text, read_json, read_text

SPECIAL_TOKEN_KEYS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
DEFAULT_SPECIAL_TOKENS = dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                              mask_token="[MASK]")
MAX_WORD_CHARS = 100          # longer words are [UNK] without trying (BERT's max_input_chars_per_word)

# CJK Unified Ideographs and their extensions and compatibility blocks (BERT's _is_chinese_char): Hangul,
# Hiragana and Katakana are not in them and are tokenized like any other letters.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


# ASCII text takes a shortcut through the same rules: controls dropped, tab/newline/CR -> space, and every
# printable non-alphanumeric character is punctuation, so the words are runs of [A-Za-z0-9] and single symbols.
_ASCII_CLEAN = {c: None for c in [*range(32), 127] if chr(c) not in "\t\n\r"} | {ord(c): " " for c in "\t\n\r"}
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")
_CACHE_WORDS = 1 << 16                     # word -> pieces results kept (running text repeats its words)


def is_cjk(char):
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def is_whitespace(char):
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char):
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def is_punctuation(char):
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def clean_text(text):
    """Drop NUL, U+FFFD and control characters; whitespace -> ' '; spaces around CJK ideographs."""
    out = []
    for char in text:
        if char in "\x00\ufffd" or is_control(char):
            continue
        out.append(" " if is_whitespace(char) else char)
    return "".join(out)


def strip_accents(word):
    """'Crème' -> 'Creme': decompose (NFD), drop the combining marks."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def split_punctuation(word):
    """'hello,world!' -> ['hello', ',', 'world', '!']"""
    pieces, current = [], []
    for char in word:
        if is_punctuation(char):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(char)
        else:
            current.append(char)
    if current:
        pieces.append("".join(current))
    return pieces


class WordPieceTokenizer:
    """BERT's tokenizer: `tokenize(text) -> word pieces`, `encode(text, pair=None, max_length=None)`,
    `encode_batch(texts, ...)` -> padded arrays, `decode(ids)`.

        tok = WordPieceTokenizer.from_pretrained("all-MiniLM-L6-v2")    # or a directory with vocab.txt
        tok.tokenize("Unaffable!")  ->  ['una', '##ffa', '##ble', '!']
    """

    def __init__(self, vocab, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                 model_max_length=512, **special_tokens):
        self.vocab = dict(vocab)                               # token -> id
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self._cache = {}
        self.do_lower_case, self.strip_accents = bool(do_lower_case), strip_accents
        self.tokenize_chinese_chars, self.model_max_length = bool(tokenize_chinese_chars), int(model_max_length)
        self.special_tokens = {k: special_tokens.get(k) or v for k, v in DEFAULT_SPECIAL_TOKENS.items()}
        for key, token in self.special_tokens.items():
            if token not in self.vocab:
                raise ValueError(f"vocabulary has no {key} {token!r}")
        # Longest first, so that "[CLS]" is never cut short by a special token that is its prefix.
        specials = sorted(set(self.special_tokens.values()), key=len, reverse=True)
        self._special_pattern = re.compile("(" + "|".join(map(re.escape, specials)) + ")")
        self.unk_id, self.cls_id, self.sep_id, self.pad_id = (self.vocab[self.special_tokens[k]] for k in
                                                              ("unk_token", "cls_token", "sep_token", "pad_token"))

    @property
    def vocab_size(self):
        return len(self.vocab)

    # ----------------------------------------------------------------------------------- files

    @classmethod
    def from_pretrained(cls, name_or_dir):
        """vocab.txt + tokenizer_config.json (optional: BertTokenizer's defaults) from a directory or a
        known model name ("all-MiniLM-L6-v2")."""
        from ..io.hub import resolve_model_dir
        directory = resolve_model_dir(name_or_dir, required=("vocab.txt",))
        vocab_path = directory / "vocab.txt"
        lines = read_text(vocab_path).split("\n")
        if lines and lines[-1] == "":
            lines.pop()                                        # the file's final newline
        vocab = {}
        for i, token in enumerate(lines):
            token = token.rstrip("\r")
            if token in vocab:
                raise TokenizerFileError(vocab_path, f"token {token!r} repeats line {vocab[token] + 1}", line=i + 1)
            vocab[token] = i
        config_path = directory / "tokenizer_config.json"
        options = read_tokenizer_config(config_path) if config_path.is_file() else {}
        special = {k: options.pop(k) for k in SPECIAL_TOKEN_KEYS if k in options}
        for key, token in dict(DEFAULT_SPECIAL_TOKENS, **special).items():
            if token not in vocab:
                raise TokenizerFileError(vocab_path, f"vocabulary has no {key} {token!r}")
        return cls(vocab, **options, **special)

    def save_pretrained(self, directory):
        """Write vocab.txt and tokenizer_config.json (what BertTokenizer.from_pretrained reads)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tokens = [self.id_to_token[i] for i in range(len(self.id_to_token))]
        config = dict(self.special_tokens, tokenizer_class="BertTokenizer", do_lower_case=self.do_lower_case,
                      strip_accents=self.strip_accents, tokenize_chinese_chars=self.tokenize_chinese_chars,
                      model_max_length=self.model_max_length)
        for name, text in (("vocab.txt", "\n".join(tokens) + "\n"),
                           ("tokenizer_config.json", json.dumps(config, indent=2) + "\n")):
            atomic_write_text(directory / name, text)
        return directory

    # ------------------------------------------------------------------------------ tokenizing

    def basic_tokenize(self, text):
        """Clean, split CJK, whitespace, case and accents, punctuation -> words (no special tokens)."""
        if text.isascii():                                     # the same rules, one regex pass (see _ASCII_WORDS)
            text = text.translate(_ASCII_CLEAN)
            return _ASCII_WORDS.findall(text.lower() if self.do_lower_case else text)
        return self.basic_tokenize_unicode(text)

    def basic_tokenize_unicode(self, text):
        """basic_tokenize, character by character (any text)."""
        text = clean_text(text)
        if self.tokenize_chinese_chars:
            text = "".join(f" {c} " if is_cjk(c) else c for c in text)
        words = []
        for word in text.split():
            if self.do_lower_case:
                word = "".join(c.lower() for c in word)        # per character, as `tokenizers` does: no
                                                               # final-sigma rule ("ΟΔΟΣ" -> "οδοσ")
            if self.do_lower_case and self.strip_accents is not False or self.strip_accents:
                word = strip_accents(word)
            words.extend(split_punctuation(word))
        return [w for w in " ".join(words).split()]            # stripping may leave empty words

    def wordpiece(self, word):
        """Greedy longest-match-first: 'unaffable' -> ['una', '##ffa', '##ble'], or ['[UNK]']."""
        pieces = self._cache.get(word)
        if pieces is None:
            pieces = self._wordpiece(word)
            if len(self._cache) < _CACHE_WORDS:
                self._cache[word] = pieces
        return pieces

    def _wordpiece(self, word):
        if len(word) > MAX_WORD_CHARS:
            return [self.special_tokens["unk_token"]]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
            else:
                return [self.special_tokens["unk_token"]]      # no piece starts here: the whole word is unknown
            pieces.append(piece)
            start = end
        return pieces

    def split_special(self, text):
        """[(piece, is_special)]: the special tokens written in the text cut out, the rest between them."""
        out = []
        for i, piece in enumerate(self._special_pattern.split(text)):
            if piece:
                out.append((piece, i % 2 == 1))                # split() puts each captured match at odd i
        return out

    def tokenize(self, text):
        """text -> word pieces (strings), no [CLS]/[SEP] added."""
        tokens = []
        for piece, special in self.split_special(text):
            if special:
                tokens.append(piece)
                continue
            for word in self.basic_tokenize(piece):
                tokens.extend(self.wordpiece(word))
        return tokens

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab.get(t, self.unk_id) for t in tokens]

    def encode(self, text, pair=None, max_length=None):
        """{"input_ids", "token_type_ids", "attention_mask"} (lists) for [CLS] text [SEP] (pair [SEP]).
        max_length counts the special tokens; longer inputs lose tokens from their end (for a pair, one
        at a time from whichever segment is longer, Hugging Face's "longest_first")."""
        first = self.convert_tokens_to_ids(self.tokenize(text))
        second = None if pair is None else self.convert_tokens_to_ids(self.tokenize(pair))
        if max_length is not None:
            budget = max_length - (2 if second is None else 3)
            if budget < 0:
                raise ValueError(f"max_length={max_length} leaves no room for the special tokens")
            while len(first) + len(second or []) > budget:
                if second is not None and len(second) > len(first):
                    second.pop()
                else:
                    first.pop()
        ids = [self.cls_id, *first, self.sep_id]
        types = [0] * len(ids)
        if second is not None:
            ids += [*second, self.sep_id]
            types += [1] * (len(second) + 1)
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": [1] * len(ids)}

    def encode_batch(self, texts, pairs=None, max_length=None):
        """Encode each text (and pair), pad to the longest with [PAD]: a dict of int64 arrays (B, T) for
        "input_ids", "token_type_ids" and "attention_mask" (1 = real token, 0 = padding)."""
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of strings; use encode for one text")
        pairs = [None] * len(texts) if pairs is None else list(pairs)
        if len(pairs) != len(texts):
            raise ValueError(f"{len(pairs)} pairs for {len(texts)} texts")
        return self.pad([self.encode(t, p, max_length) for t, p in zip(texts, pairs)])

    def pad(self, encoded):
        """A list of `encode` results -> the dict of (B, T) int64 arrays, padded with [PAD] to the longest."""
        T = max((len(e["input_ids"]) for e in encoded), default=0)
        out = {"input_ids": np.full((len(encoded), T), self.pad_id, dtype=np.int64),
               "token_type_ids": np.zeros((len(encoded), T), dtype=np.int64),
               "attention_mask": np.zeros((len(encoded), T), dtype=np.int64)}
        for row, e in enumerate(encoded):
            for key in out:
                out[key][row, :len(e[key])] = e[key]
        return out

    def decode(self, ids, skip_special_tokens=False):
        """Word pieces joined with spaces, '##' continuations glued on: [7592, 1010, 2088] -> 'hello , world'
        (lower-casing and accents are not undone)."""
        specials = set(self.special_tokens.values())
        tokens = [self.id_to_token.get(int(i), self.special_tokens["unk_token"]) for i in ids]
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in specials]
        return " ".join(tokens).replace(" ##", "")


def read_tokenizer_config(path):
    """The WordPieceTokenizer options a tokenizer_config.json sets, each type-checked: booleans must be
    JSON true/false (a string "false" would otherwise read as true), special tokens strings or
    {"content": str}. Anything wrong is one TokenizerFileError naming the file and the field."""
    config = read_json(path)
    if not isinstance(config, dict):
        raise TokenizerFileError(path, f"expected a JSON object, got {type(config).__name__}")
    options = {}
    for key, default, allowed in (("do_lower_case", True, (True, False)), ("strip_accents", None, (True, False, None)),
                                  ("tokenize_chinese_chars", True, (True, False))):
        value = config.get(key, default)
        if not any(value is choice for choice in allowed):
            expected = " or ".join("null" if c is None else str(c).lower() for c in allowed)
            raise TokenizerFileError(path, f"{key} must be {expected}, got {value!r:.40}")
        options[key] = value
    length = config.get("model_max_length", 512)
    if not isinstance(length, (int, float)) or isinstance(length, bool) or not length >= 1:
        raise TokenizerFileError(path, f"model_max_length must be a positive number, got {length!r:.40}")
    options["model_max_length"] = int(min(length, 1 << 30))     # HF writes 1e30 for "no limit"
    for key in SPECIAL_TOKEN_KEYS:
        value = config.get(key)
        if value is None:
            continue
        text = value.get("content") if isinstance(value, dict) else value
        if not isinstance(text, str) or not text:
            raise TokenizerFileError(path, f"{key} must be a non-empty string or {{\"content\": str}}, got {value!r:.60}")
        options[key] = text
    return options
