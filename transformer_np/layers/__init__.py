"""One file per idea; every layer has forward and backward side by side."""
from .activations import GELU, ReLU, SiLU, Softmax, Tanh, softmax
from .attention import (KVCache, MultiHeadAttention, ScaledDotProductAttention, causal_mask,
                        combine_masks, padding_mask)
from .combinators import Add, Branch, CausalAttention, Identity, Residual, Sequential
from .dropout import Dropout
from .embedding import (Embedding, LearnedPositionalEmbedding, SinusoidalPositionalEncoding, TiedOutputHead,
                        sinusoidal_table)
from .feedforward import FeedForward, SwiGLU
from .linear import Linear
from .norm import LayerNorm, RMSNorm
from .rotary import RotaryEmbedding
