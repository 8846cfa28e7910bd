"""Sentence embeddings: the sentence-transformers pipeline (modules.json) on the library's BERT.

A sentence-transformers directory (e.g. all-MiniLM-L6-v2) lists its stages in modules.json:
    Transformer   the BERT (config.json + model.safetensors, vocab.txt; sentence_bert_config.json gives
                  max_seq_length, the truncation length in tokens including [CLS] and [SEP])
    Pooling       1_Pooling/config.json: the (B, T, C) token vectors -> one (B, C) vector per sentence;
                  mean:  sum_t m_t h_t / sum_t m_t     (m = attention mask: padding never counts)
                  cls:   h_0                            max: max over real tokens
                  mean_sqrt_len: sum_t m_t h_t / sqrt(sum_t m_t);   several modes are concatenated
    Normalize     e / ||e||  (so a dot product of two embeddings is their cosine similarity)

    enc = SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")
    emb = enc.encode(["A man is eating food.", "A man is eating pasta."])     # (2, 384) float32
    enc.similarity(emb, emb)                                                  # (2, 2) cosines
"""
from pathlib import Path

import numpy as np

from ..tokenizer.wordpiece import WordPieceTokenizer
from .bert import BERT
from .config_fields import ConfigError, ConfigFields, describe, read_config_json, read_json

_MODULE_TYPES = {"sentence_transformers.models.Transformer": "transformer",
                 "sentence_transformers.models.Pooling": "pooling",
                 "sentence_transformers.models.Normalize": "normalize"}
# Pooling modes in the order sentence-transformers concatenates them.
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len")


def pool(hidden, attention_mask, modes=("mean",)):
    """(B, T, C) token vectors and the (B, T) attention mask (1 = real) -> (B, len(modes) * C)."""
    mask = np.asarray(attention_mask).astype(hidden.dtype)[:, :, None]          # (B, T, 1)
    count = mask.sum(axis=1)                                                    # (B, 1)
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(hidden[:, 0])
        elif mode == "max":
            out.append(np.where(mask > 0, hidden, np.finfo(hidden.dtype).min).max(axis=1))
        else:
            summed = np.einsum("btc,bt->bc", hidden, mask[:, :, 0])            # sum over real tokens
            denominator = np.maximum(count, 1e-9) if mode == "mean" else np.sqrt(np.maximum(count, 1e-9))
            out.append(summed / denominator)
    return out[0] if len(out) == 1 else np.concatenate(out, axis=1)


def normalize(embeddings):
    """Each row divided by its L2 norm (at least 1e-12, as torch.nn.functional.normalize)."""
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)                  # (B, 1)
    return embeddings / np.maximum(norms, 1e-12)


def length_batches(order, lengths, batch_size):
    """Split `order` (indices, longest first) into batches of at most batch_size that each pad to less
    than twice a member's length: a 256-token sentence does not drag 31 short ones to 256 positions."""
    batch = []
    for i in order:
        if batch and (len(batch) == batch_size or 2 * lengths[i] < lengths[batch[0]]):
            yield np.array(batch)
            batch = []
        batch.append(i)
    if batch:
        yield np.array(batch)


def read_pipeline(directory):
    """modules.json -> (pooling modes, normalize?, the Transformer stage's folder); refuses stages we do
    not compute (Dense, ...) in one line."""
    directory = Path(directory)
    modules_path = directory / "modules.json"
    if not modules_path.is_file():                       # a plain BERT directory: mean pooling, no norm
        return ("mean",), False, directory
    stages = {}
    modules = read_json(modules_path)
    if not isinstance(modules, list) or not all(isinstance(m, dict) and isinstance(m.get("path", ""), str)
                                                for m in modules):
        raise ConfigError(f"{modules_path}: expected a list of modules {{\"type\": ..., \"path\": ...}}")
    for module in modules:
        kind = _MODULE_TYPES.get(module.get("type")) if isinstance(module.get("type"), str) else None
        if kind is None:
            raise ConfigError(f"{modules_path}: unsupported module {describe(module.get('type'))} "
                              f"(supported: {', '.join(_MODULE_TYPES)})")
        stages[kind] = directory / module.get("path", "")
    if "transformer" not in stages:
        raise ValueError(f"{modules_path}: no sentence_transformers.models.Transformer module")
    modes = ("mean",)
    if "pooling" in stages:
        config_path = stages["pooling"] / "config.json"
        config = read_config_json(config_path)
        fields = ConfigFields(config, config_path)
        modes = tuple(m for m in POOLING_MODES if fields.boolean(f"pooling_mode_{m}_token" if m == "cls"
                                                                 else f"pooling_mode_{m}_tokens", default=False))
        unsupported = [k for k, v in config.items() if k.startswith("pooling_mode_") and v
                       and k not in {"pooling_mode_cls_token", *(f"pooling_mode_{m}_tokens" for m in POOLING_MODES)}]
        if unsupported or not modes:
            raise ValueError(f"{config_path}: unsupported pooling {unsupported or 'none set'} "
                             f"(supported: {', '.join(POOLING_MODES)})")
    return modes, "normalize" in stages, stages["transformer"]


class SentenceEncoder:
    """Tokenizer + BERT + pooling (+ normalisation): texts -> one float32 vector each."""

    def __init__(self, model, tokenizer, pooling=("mean",), normalize=True, max_seq_length=None,
                 lower_case_input=False):
        self.model, self.tokenizer = model, tokenizer
        self.pooling, self.normalize = tuple(pooling), bool(normalize)
        limit = min(model.wpe.max_len, tokenizer.model_max_length)
        self.max_seq_length = min(int(max_seq_length or limit), limit)
        self.lower_case_input = lower_case_input

    @classmethod
    def from_pretrained(cls, name_or_dir, *, dtype=np.float32, progress=True):
        """A sentence-transformers directory (modules.json, ...) or a known name ("all-MiniLM-L6-v2")."""
        from ..io.hub import resolve_model_dir
        directory = resolve_model_dir(name_or_dir, progress=progress, required=())   # the stages check theirs
        modes, norm, transformer_dir = read_pipeline(directory)
        settings_path = transformer_dir / "sentence_bert_config.json"
        settings = ConfigFields(read_config_json(settings_path) if settings_path.is_file() else {}, settings_path)
        max_seq_length = settings.integer("max_seq_length", optional=True)
        lower_case = settings.boolean("do_lower_case", default=False)     # "false" (a string) is refused
        return cls(BERT.from_pretrained(transformer_dir, dtype=dtype), WordPieceTokenizer.from_pretrained(transformer_dir),
                   modes, norm, max_seq_length, lower_case)

    @property
    def dimension(self):
        return self.model.d_model * len(self.pooling)

    def tokenize(self, texts):
        """The padded batch the model reads: dict of (B, T) int64 arrays (see WordPieceTokenizer)."""
        return self.tokenizer.pad([self._encode_one(t) for t in texts])

    def _encode_one(self, text):
        text = text.strip().lower() if self.lower_case_input else text.strip()
        return self.tokenizer.encode(text, max_length=self.max_seq_length)

    def embed_batch(self, batch):
        """One tokenized batch -> (B, dimension) float32 embeddings."""
        hidden = self.model.forward(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        embeddings = pool(hidden, batch["attention_mask"], self.pooling)
        return normalize(embeddings) if self.normalize else embeddings

    def encode(self, sentences, batch_size=32):
        """list of N strings -> (N, dimension) float32 (a single string -> (dimension,)).
        Sentences are batched by length (see length_batches), the output keeps the input order."""
        single = isinstance(sentences, str)
        sentences = [sentences] if single else list(sentences)
        if not all(isinstance(s, str) for s in sentences):
            raise TypeError("encode takes a string or a list of strings")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        encoded = [self._encode_one(s) for s in sentences]
        order = np.argsort([len(e["input_ids"]) for e in encoded], kind="stable")[::-1]
        out = np.empty((len(sentences), self.dimension), dtype=self.model.dtype)
        was_training = self.model.training
        self.model.eval()
        try:
            for rows in length_batches(order, [len(e["input_ids"]) for e in encoded], batch_size):
                out[rows] = self.embed_batch(self.tokenizer.pad([encoded[i] for i in rows]))
        finally:
            self.model.train(was_training)
        return out[0] if single else out

    @staticmethod
    def similarity(a, b):
        """Cosine similarity of every row of a (N, C) with every row of b (M, C): (N, M)."""
        a, b = np.atleast_2d(a), np.atleast_2d(b)
        return normalize(a) @ normalize(b).T
