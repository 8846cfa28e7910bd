"""Models: decoder-only LM, encoder-decoder, encoder classifier (and GPT-2, the LM in its GPT-2 configuration)."""
from .classifier import EncoderClassifier
from .lm import TransformerLM
from .gpt2 import GPT2
from .seq2seq import Transformer
