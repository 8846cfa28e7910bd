"""BERT: the library's post-LN Encoder loading Hugging Face BertModel checkpoints (tiny random fixtures made
by tools/make_bert_fixtures.py with transformers; no torch here)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.io.safetensors import load_safetensors, save_safetensors
from transformer_np.models.bert import BERT, bert_state_dict, hf_tensors

TINY = Path(__file__).parent / "fixtures" / "bert_tiny"
EXPECTED = np.load(TINY / "expected.npz")
CONFIG = json.loads((TINY / "model" / "config.json").read_text())


def inputs():
    return EXPECTED["ids"], EXPECTED["token_type_ids"], EXPECTED["attention_mask"]


@pytest.fixture(scope="module")
def tiny():
    return BERT.from_pretrained(TINY / "model")


def max_rel(ours, theirs):
    """Worst error relative to the tensor's largest entry; a gradient that is zero in exact arithmetic
    (the key bias: softmax ignores a constant added to every score of a row) is held to 1e-4 absolute."""
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 0.05))


def test_hidden_states_and_pooler_match_transformers(tiny):
    hidden = tiny.forward(*inputs())
    assert hidden.dtype == np.float32 and hidden.shape == (3, 9, 32)
    np.testing.assert_allclose(hidden, EXPECTED["hidden"], atol=2e-5)
    pooled = tiny.pooler(hidden)
    assert pooled.dtype == np.float32
    np.testing.assert_allclose(pooled, EXPECTED["pooled"], atol=2e-5)


def test_loaded_model_is_configured_as_bert(tiny):
    block = tiny.encoder.h[0]
    assert not block._attn_path.pre_ln and tiny.encoder.ln_f is None     # post-LN, no final LayerNorm
    assert block.mlp.act.approximate == "none"                           # hidden_act "gelu" is the erf form
    assert block.ln_1.eps == 1e-12 and tiny.ln_emb.eps == 1e-12
    assert not tiny.training


def test_gradients_match_torch_autograd(tiny):
    """L = sum(h * dh) + sum(pooled * dp): every parameter's gradient within 2e-3 (relative to the largest
    entry of the tensor) of torch's, in float32."""
    tiny.zero_grad()
    hidden = tiny.forward(*inputs())
    pooled = tiny.pooler(hidden)
    tiny.backward(EXPECTED["d_hidden"] + tiny.pooler.backward(EXPECTED["d_pooled"]))
    grads = hf_tensors(tiny, {name: p.grad for name, p in tiny.named_parameters()})
    assert pooled.shape == (3, 32)
    assert sorted(grads) == sorted(k[5:] for k in EXPECTED.files if k.startswith("grad/"))
    worst = {name: max_rel(g, EXPECTED["grad/" + name]) for name, g in grads.items()}
    assert max(worst.values()) <= 2e-3, sorted(worst.items(), key=lambda kv: -kv[1])[:3]


def test_checkpoint_with_bert_prefix_and_a_task_head_loads_the_encoder():
    model = BERT.from_pretrained(TINY / "prefixed")            # BertForMaskedLM: bert.* + cls.*, no pooler
    assert model.pooler is None
    np.testing.assert_allclose(model.forward(*inputs()), EXPECTED["prefixed_hidden"], atol=2e-5)


def test_what_we_save_transformers_loads_with_the_same_outputs(tmp_path):
    """saved_by_numpy/ was written by save_pretrained and loaded by transformers.BertModel (the fixture
    tool recorded its outputs); our loader agrees, and saving again writes the same tensors and config."""
    model = BERT.from_pretrained(TINY / "saved_by_numpy")
    hidden = model.forward(*inputs())
    np.testing.assert_allclose(hidden, EXPECTED["saved_hidden"], atol=2e-5)
    np.testing.assert_allclose(model.pooler(hidden), EXPECTED["saved_pooled"], atol=2e-5)
    model.save_pretrained(tmp_path)
    committed = load_safetensors(TINY / "saved_by_numpy" / "model.safetensors")
    written = load_safetensors(tmp_path / "model.safetensors")
    assert sorted(written) == sorted(committed)
    for name in committed:
        np.testing.assert_array_equal(written[name], committed[name], err_msg=name)
    assert json.loads((tmp_path / "config.json").read_text()) == json.loads(
        (TINY / "saved_by_numpy" / "config.json").read_text())


def test_loaded_weights_are_writable_copies(tiny):
    """Trainable: an optimiser updates parameters in place."""
    for name, p in tiny.named_parameters():
        assert p.data.flags.writeable and p.data.dtype == np.float32, name


def test_layernorm_gamma_beta_names_load(tmp_path):
    tensors = load_safetensors(TINY / "model" / "model.safetensors", copy=True)
    renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in tensors.items()}
    state = bert_state_dict(renamed, CONFIG["num_hidden_layers"])
    np.testing.assert_array_equal(state["ln_emb.weight"], tensors["embeddings.LayerNorm.weight"])


def copy_fixture(tmp_path, **config_changes):
    target = tmp_path / "model"
    shutil.copytree(TINY / "model", target)
    (target / "config.json").write_text(json.dumps(dict(CONFIG, **config_changes)))
    return target


@pytest.mark.parametrize("change, message", [
    (dict(model_type="roberta"), "model_type='roberta'"),
    (dict(hidden_act="swish"), "hidden_act='swish'"),
    (dict(position_embedding_type="relative_key"), "position_embedding_type='relative_key'"),
    (dict(is_decoder=True), "is_decoder"),
    (dict(num_attention_heads=5), "num_attention_heads=5 does not divide hidden_size=32"),
])
def test_unsupported_configs_are_refused_in_one_line(tmp_path, change, message):
    with pytest.raises(ValueError, match="unsupported BERT config") as excinfo:
        BERT.from_pretrained(copy_fixture(tmp_path, **change))
    assert message in str(excinfo.value) and "config.json" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    tensors = load_safetensors(TINY / "model" / "model.safetensors", copy=True)
    target = copy_fixture(tmp_path)
    save_safetensors(target / "model.safetensors",
                     {k: v for k, v in tensors.items() if k != "encoder.layer.1.output.dense.bias"})
    with pytest.raises(KeyError, match="encoder.layer.1.output.dense.bias"):
        BERT.from_pretrained(target)
    save_safetensors(target / "model.safetensors", dict(tensors, **{"encoder.layer.2.output.dense.bias": tensors[
        "encoder.layer.1.output.dense.bias"]}))
    with pytest.raises(ValueError, match=r"unexpected tensors \['encoder.layer.2.output.dense.bias'\]"):
        BERT.from_pretrained(target)


def test_pad_embedding_gets_no_gradient(tiny):
    tiny.zero_grad()
    ids, types, mask = inputs()
    tiny.backward(np.ones_like(tiny.forward(ids, types, mask)))
    assert (ids == 0).any() and not tiny.wte.weight.grad[0].any() and tiny.wte.weight.grad[ids[0, 0]].any()


def test_hf_activation_names_map_to_the_library(tiny):
    tanh = BERT(CONFIG, hidden_act="gelu_new", seed=0)
    assert tanh.encoder.h[0].mlp.act.approximate == "tanh"
    assert BERT(CONFIG, hidden_act="relu", seed=0).encoder.h[0].mlp.act.__class__.__name__ == "ReLU"


@settings(max_examples=15, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=3), extra=st.integers(0, 5), seed=st.integers(0, 99))
def test_padding_does_not_change_the_real_positions(tiny, lengths, extra, seed):
    """A padded batch gives every sentence the hidden states it has alone, at its real positions."""
    rng = np.random.default_rng(seed)
    T = max(lengths) + extra
    ids = np.zeros((len(lengths), T), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, CONFIG["vocab_size"], n)
        mask[row, :n] = 1
    batch = tiny.forward(ids, attention_mask=mask)
    for row, n in enumerate(lengths):
        alone = tiny.forward(ids[row:row + 1, :n])
        np.testing.assert_allclose(batch[row, :n], alone[0], atol=2e-5)


def test_bad_inputs_are_one_line_errors(tiny):
    ids = EXPECTED["ids"]
    with pytest.raises(ValueError, match="token_type_ids must be in"):
        tiny.forward(ids, token_type_ids=np.full_like(ids, 2))
    with pytest.raises(ValueError, match="attention_mask shape"):
        tiny.forward(ids, attention_mask=np.ones((3, 4)))
    with pytest.raises(ValueError, match="0 \\(padding\\) and 1"):
        tiny.forward(ids, attention_mask=np.full_like(ids, 2))
    with pytest.raises(ValueError, match="token ids must be in"):
        tiny.forward(ids + 1000)
    with pytest.raises(ValueError, match="exceeds the context window max_len=40"):
        tiny.forward(np.ones((1, 41), dtype=np.int64))


def test_float64_gradients_match_finite_differences(assert_gradients):
    """Every parameter (embeddings, post-LN blocks with exact GELU, padding) by central differences
    (pad_token_id=None: with it, the [PAD] row's gradient is held at 0 on purpose, as torch does)."""
    model = BERT(dict(CONFIG, hidden_size=8, num_attention_heads=2, intermediate_size=12, num_hidden_layers=1,
                      vocab_size=13, max_position_embeddings=6, hidden_dropout_prob=0.0, pad_token_id=None),
                 add_pooler=False,
                 dtype=np.float64, seed=0)
    ids = np.array([[1, 5, 7, 2, 0], [3, 3, 9, 0, 0]])
    kwargs = dict(token_type_ids=np.array([[0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]),
                  attention_mask=np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]]))
    errors = assert_gradients(model, [ids], kwargs=kwargs, expect=["wte.weight", "wtt.weight", "wpe.weight",
                                                                   "encoder.h.0.attn.c_attn.weight"])
    assert len(errors) == len(list(model.named_parameters()))
