"""transformer_np: a Transformer from scratch in NumPy, every backward pass written by hand."""
from .core import Module, Parameter
from .gradcheck import gradient_check
from .layers import *  # noqa: F401,F403  (the layer classes are the public API)
from .blocks import Decoder, DecoderBlock, Encoder, EncoderBlock
from .losses import CrossEntropyLoss, accuracy
from .models import BERT, GPT2, EncoderClassifier, SentenceEncoder, Llama, Transformer, TransformerLM
from .optim import SGD, Adam, AdamW, clip_grad_norm, warmup_cosine
from .models.auto import load_lm

__version__ = "0.1.0"
