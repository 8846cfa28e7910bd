"""EncoderClassifier: an encoder with a pooled head, for whole-sequence labels (the BERT-style use)."""
import numpy as np

from ..blocks import Encoder
from ..core import Module, check_float_dtype
from ..init import make_rng
from ..layers import Dropout, Embedding, LearnedPositionalEmbedding, Linear
from ..layers.embedding import check_ids


class EncoderClassifier(Module):
    """Sequence classification:

        h      = Encoder(wte[ids] + wpe)                   (B, S, C)   bidirectional: no causal mask
        pooled = sum_s m_s h_s / sum_s m_s                 (B, C)      mean over non-padding positions
        logits = pooled @ W + b                            (B, n_classes)
    Backward of the mean pool: dh_s = m_s * dpooled / sum_s m_s.
    `key_padding_mask` (B, S) is True at padding.
    """

    def __init__(self, vocab_size, n_classes, d_model, n_heads, n_layers, d_ff, max_len, dropout=0.0,
                 dtype=np.float32, seed=None, pre_ln=True, activation="gelu", ln_eps=1e-5):
        self.dtype = check_float_dtype(dtype)
        self.config = dict(vocab_size=vocab_size, n_classes=n_classes, d_model=d_model, n_heads=n_heads,
                           n_layers=n_layers, d_ff=d_ff, max_len=max_len, dropout=dropout, pre_ln=pre_ln,
                           activation=activation, ln_eps=ln_eps)
        self.vocab_size = vocab_size
        self._rng = make_rng(seed)
        self.wte = Embedding(vocab_size, d_model, dtype, self._rng)
        self.wpe = LearnedPositionalEmbedding(max_len, d_model, dtype, self._rng)
        self.drop = Dropout(dropout, self._rng)
        self.encoder = Encoder(n_layers, d_model, n_heads, d_ff, dropout, pre_ln, activation, ln_eps, dtype,
                               self._rng)
        self.head = Linear(d_model, n_classes, True, dtype, self._rng)

    def forward(self, ids, key_padding_mask=None):
        ids = check_ids(ids, self.vocab_size)
        h = self.encoder.forward(self.drop.forward(self.wpe.forward(self.wte.forward(ids))), key_padding_mask)
        keep = (np.ones(ids.shape, dtype=self.dtype) if key_padding_mask is None
                else (~np.asarray(key_padding_mask, bool)).astype(self.dtype))      # (B, S)
        self.pool_weights = keep / np.maximum(keep.sum(axis=1, keepdims=True), 1.0)   # (B, S)
        pooled = np.einsum("bs,bsc->bc", self.pool_weights, h)                        # (B, C)
        return self.head.forward(pooled)                                              # (B, n_classes)

    def backward(self, dlogits):
        d_pooled = self.head.backward(dlogits)                                        # (B, C)
        dh = self.pool_weights[:, :, None] * d_pooled[:, None, :]                     # (B, S, C)
        dx = self.drop.backward(self.encoder.backward(dh))
        self.wte.backward(self.wpe.backward(dx))
        return None
