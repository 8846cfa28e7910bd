"""Byte-level BPE tokenizer in pure Python (standard library only).

``BPETokenizer.train(text, vocab_size)`` learns your own vocabulary;
``BPETokenizer.from_pretrained("gpt2")`` reproduces GPT-2's ids exactly.
Modules, in reading order: byte_alphabet, unicode_tables, pretokenize, bpe, files, tokenizer
(with stream and batch for streams of text and worker processes).
"""

from .char import CharTokenizer
from .files import TokenizerFileError
from .pretokenize import GPT2_SPLIT_PATTERN
from .tokenizer import ENDOFTEXT, BPETokenizer, StreamDecoder
from .wordpiece import WordPieceTokenizer

__all__ = ["BPETokenizer", "WordPieceTokenizer", "CharTokenizer", "StreamDecoder", "TokenizerFileError", "GPT2_SPLIT_PATTERN", "ENDOFTEXT"]
