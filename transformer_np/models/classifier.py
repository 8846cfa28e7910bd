"""EncoderClassifier: an encoder with a pooled head, for whole-sequence labels (the BERT-style use).

A run of `train_toy.py --task classify-text` loads with `EncoderClassifier.from_pretrained(DIR)` and then
classifies raw text: `predict(texts)` -> label strings, `predict_proba(texts)` -> (N, n_classes).
"""
import numpy as np

from ..blocks import Encoder
from ..core import Module, check_float_dtype
from ..init import make_rng
from ..layers import Dropout, Embedding, LearnedPositionalEmbedding, Linear
from ..layers.activations import softmax
from ..layers.embedding import check_ids


def encode_texts(tokenizer, texts, max_len):
    """Texts as one padded batch: (ids (N, S) int64, padding (N, S) bool True at padding, n_cut), S the longest
    text's length (at most max_len; longer texts keep their first max_len tokens, n_cut counts them).
    Characters outside a character tokenizer's alphabet are dropped; BPE treats special-token text as text."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    encode_one = getattr(tokenizer, "encode_ordinary", None) or (lambda t: tokenizer.encode(t, errors="ignore"))
    sequences = [encode_one(text) for text in texts]
    for i, sequence in enumerate(sequences):
        if not sequence:
            raise ValueError(f"text {i} ({texts[i][:40]!r}) has no token the model knows")
    n_cut = sum(max_len is not None and len(s) > max_len for s in sequences)
    sequences = [s[:max_len] for s in sequences]
    width = max(map(len, sequences), default=1)
    ids = np.zeros((len(sequences), width), dtype=np.int64)
    padding = np.ones((len(sequences), width), dtype=bool)
    for i, sequence in enumerate(sequences):
        ids[i, :len(sequence)], padding[i, :len(sequence)] = sequence, False
    return ids, padding, n_cut


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
        self.tokenizer = self.labels = None         # set by from_pretrained for a run trained on text

    @classmethod
    def from_pretrained(cls, directory):
        """The classifier a trainer run saved in `directory` (train_toy.py --task classify-text --out DIR), in
        eval mode, with `tokenizer` and `labels` (None for the toy `classify` task, which takes ids)."""
        from ..text_classification import load_classifier      # it builds on this module
        return load_classifier(directory)

    def predict_proba(self, texts, batch_size=256):
        """(N, n_classes) float32 class probabilities of each text, columns in the order of `self.labels`."""
        if self.tokenizer is None:
            raise ValueError("this classifier has no tokenizer (a toy-task run): call forward(ids) instead")
        was_training, out = self.training, []
        self.eval()
        try:
            for i in range(0, len(texts), batch_size):
                ids, padding, _ = encode_texts(self.tokenizer, texts[i:i + batch_size], self.config["max_len"])
                out.append(softmax(self.forward(ids, padding)))
        finally:
            self.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, self.config["n_classes"]), dtype=self.dtype)

    def predict(self, texts):
        """The most probable label of each text, as the training file wrote it."""
        if self.labels is None:
            raise ValueError("this classifier has no labels (a toy-task run): call forward(ids) instead")
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]

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
