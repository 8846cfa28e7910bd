"""Models: decoder-only LM, encoder-decoder, encoder classifier (and GPT-2, the LM in its GPT-2 configuration)."""
from .bert import BERT
from .classifier import EncoderClassifier
from .lm import TransformerLM
from .gpt2 import GPT2
from .llama import Llama
from .seq2seq import Transformer
from .sentence import SentenceEncoder
from .auto import load_lm      # any LM directory or name -> (model, tokenizer)
