"""load_lm: every language-model directory the library writes loads with its tokenizer, and anything else
gets one line naming what is wrong."""
import json

import numpy as np
import pytest

from transformer_np import GPT2, TransformerLM
from transformer_np.models import auto
from transformer_np.models.auto import load_lm
from transformer_np.tokenizer import BPETokenizer, CharTokenizer

from trainer_runs import write_old_run

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20
SIZES = dict(d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=24)


def logits_of(model, ids):
    return model.eval().forward(np.array([ids]))          # eval: GPT-2's config has dropout 0.1


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def old_char_run(tmp_path, data_file, record_alphabet=True):
    chars = sorted(set(TEXT))
    model = TransformerLM(vocab_size=len(chars), seed=0, **SIZES)
    task = {"task": "text", "data": str(data_file), "block_size": 24, "heldout_fraction": 0.1}
    if record_alphabet:
        task["chars"] = "".join(chars)
    run = write_old_run(tmp_path / "run", model, task, {"task": "text", "data": str(data_file), "tokenizer": "char"})
    return run, model, chars


def test_old_char_run_loads_with_its_recorded_alphabet(tmp_path, data_file):
    run, original, chars = old_char_run(tmp_path, data_file)
    model, tokenizer = load_lm(run)
    assert isinstance(tokenizer, CharTokenizer) and tokenizer.chars == chars
    ids = tokenizer.encode("Speak, speak.")
    np.testing.assert_array_equal(logits_of(model, ids), logits_of(original, ids))
    assert model.tokenizer is tokenizer and model.model_dir == run and not model.training


def test_old_char_run_without_an_alphabet_rebuilds_it_from_its_training_text(tmp_path, data_file):
    run, _, chars = old_char_run(tmp_path, data_file, record_alphabet=False)
    assert load_lm(run)[1].chars == chars
    data_file.unlink()
    with pytest.raises(FileNotFoundError, match=f"training file {data_file}, which is not there"):
        load_lm(run)


def test_old_bpe_run_relearns_the_same_tokenizer_from_its_training_text(tmp_path, data_file):
    trained = BPETokenizer.train(TEXT, 300)
    model = TransformerLM(vocab_size=trained.vocab_size, seed=0, **SIZES)
    run = write_old_run(tmp_path / "run", model, {"task": "text", "data": str(data_file)},
                        {"task": "text", "data": str(data_file), "tokenizer": "bpe", "bpe_vocab_size": 300})
    _, tokenizer = load_lm(run)
    assert tokenizer.merges == trained.merges
    assert tokenizer.encode(TEXT) == trained.encode(TEXT)


def test_old_gpt2_tokenizer_run_uses_gpt2s_tokenizer(tmp_path, data_file):
    model = TransformerLM(vocab_size=50257, seed=0, **dict(SIZES, d_model=4, n_heads=1, d_ff=4, n_layers=1))
    run = write_old_run(tmp_path / "run", model, {"task": "text", "data": str(data_file)},
                        {"task": "text", "data": str(data_file), "tokenizer": "gpt2"})
    _, tokenizer = load_lm(run)
    assert tokenizer.encode("Hello world") == [15496, 995]


def test_toy_task_run_loads_with_its_task_as_tokenizer(tmp_path):
    model = TransformerLM(vocab_size=17, seed=0, **SIZES)
    run = write_old_run(tmp_path / "run", model, {"task": "reverse", "length": 6, "n_symbols": 16},
                        {"task": "reverse"})
    loaded, task = load_lm(run)
    assert task.name == "reverse" and task.encode("0 16 1 0") == [0, 16, 1, 0]
    np.testing.assert_array_equal(logits_of(loaded, [0, 3, 1, 0]), logits_of(model, [0, 3, 1, 0]))


def test_hugging_face_layout_with_a_char_vocab(tmp_path):
    tokenizer = CharTokenizer.from_text(TEXT)
    original = GPT2(dict(vocab_size=tokenizer.vocab_size, n_positions=24, n_embd=16, n_layer=2, n_head=2), seed=1)
    original.save_pretrained(tmp_path / "hf")
    tokenizer.save(tmp_path / "hf")
    model, loaded = load_lm(tmp_path / "hf")
    assert isinstance(model, GPT2) and loaded == tokenizer
    ids = tokenizer.encode("All:\nSpeak")
    np.testing.assert_array_equal(logits_of(model, ids), logits_of(original, ids))


def test_hugging_face_layout_with_bpe_files(tmp_path):
    tokenizer = BPETokenizer.train(TEXT, 280)
    GPT2(dict(vocab_size=tokenizer.vocab_size, n_positions=24, n_embd=16, n_layer=1, n_head=2),
         seed=0).save_pretrained(tmp_path / "hf", tokenizer=tokenizer)
    _, loaded = load_lm(tmp_path / "hf")
    assert loaded.encode(TEXT) == tokenizer.encode(TEXT)


def test_a_bert_directory_is_one_line_naming_its_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    with pytest.raises(ValueError, match=r"config\.json: model_type 'bert'; language models load from model_type "
                                         r"'gpt2'") as error:
        load_lm(tmp_path)
    assert "\n" not in str(error.value)
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 32}))
    with pytest.raises(ValueError, match="no model_type"):
        load_lm(tmp_path)


def test_a_registered_loader_is_used_for_its_model_type(tmp_path, monkeypatch):
    model = TransformerLM(vocab_size=5, seed=0, **SIZES)
    monkeypatch.setitem(auto.LOADERS, "toy", lambda directory, config: (model, CharTokenizer("abcde")))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "toy"}))
    loaded, tokenizer = load_lm(tmp_path)
    assert loaded is model and tokenizer.chars == list("abcde") and loaded.model_dir == tmp_path


def test_nan_in_the_weights_names_the_tensor(tmp_path):
    model = GPT2(dict(vocab_size=300, n_positions=8, n_embd=8, n_layer=2, n_head=2), seed=0)
    model.h[1].attn.c_attn.weight.data[3, 5] = np.nan
    model.h[1].attn.c_attn.weight.data[0, 0] = np.inf
    model.save_pretrained(tmp_path, tokenizer=BPETokenizer.train(TEXT, 300))
    with pytest.raises(ValueError, match=r"model\.safetensors: tensor 'h\.1\.attn\.c_attn\.weight' has 2 NaN/inf "
                                         r"values \(of 192\)"):
        load_lm(tmp_path)


def test_missing_tokenizer_is_an_error_unless_the_model_alone_is_asked_for(tmp_path):
    GPT2(dict(vocab_size=300, n_positions=8, n_embd=8, n_layer=1, n_head=2), seed=0).save_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no tokenizer files for its 300-token vocabulary"):
        load_lm(tmp_path)
    model = TransformerLM.from_pretrained(tmp_path)
    assert model.tokenizer is None and model.vocab_size == 300


def test_a_tokenizer_larger_than_the_model_is_refused(tmp_path):
    GPT2(dict(vocab_size=3, n_positions=8, n_embd=8, n_layer=1, n_head=2), seed=0).save_pretrained(tmp_path)
    CharTokenizer("abcd").save(tmp_path)
    with pytest.raises(ValueError, match="the tokenizer has 4 tokens but the model only 3"):
        load_lm(tmp_path)


def test_unknown_names_list_what_exists(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'no-such-model' is neither a directory nor a model name "
                                                r"\(shipped: shakespeare-char, sort-4; GPT-2: gpt2, "):
        load_lm("no-such-model")
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        load_lm(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        load_lm(tmp_path)
