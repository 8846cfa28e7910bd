"""Byte-level BPE tokenizer in pure Python (standard library only).

``BPETokenizer.train(text, vocab_size)`` learns your own vocabulary;
``BPETokenizer.from_pretrained("gpt2")`` reproduces GPT-2's ids exactly.
Modules, in reading order: byte_alphabet, pretokenize, bpe, files, tokenizer.
"""

from .files import TokenizerFileError
from .pretokenize import GPT2_SPLIT_PATTERN
from .tokenizer import ENDOFTEXT, BPETokenizer, StreamDecoder

__all__ = ["BPETokenizer", "StreamDecoder", "TokenizerFileError", "GPT2_SPLIT_PATTERN", "ENDOFTEXT"]
