"""GPT-2: parity with Hugging Face transformers on small random checkpoints (tests/fixtures/gpt2_tiny, made
by tools/make_gpt2_fixtures.py), loading every layout, gradients, generation, save/load round trip."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from transformer_np import GPT2, CrossEntropyLoss, TransformerLM
from transformer_np.init import skip_init
from transformer_np.models.gpt2 import PRESETS, config_to_kwargs, count_parameters, read_checkpoint
from transformer_np.optim import AdamW

FIXTURES = Path(__file__).parent / "fixtures" / "gpt2_tiny"
LAYOUTS = {"hf_layout": "", "hub_layout": "", "f16_layout": "_f16", "bf16_layout": "_bf16"}


@pytest.fixture(scope="module")
def ref():
    return np.load(FIXTURES / "reference.npz")


@pytest.fixture(scope="module")
def meta():
    return json.loads((FIXTURES / "meta.json").read_text())


@pytest.fixture(scope="module")
def model():
    return GPT2.from_pretrained(FIXTURES / "hf_layout")


# ------------------------------------------------------------------------------------------ parity

@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_logits_and_greedy_tokens_match_transformers(layout, ref):
    suffix = LAYOUTS[layout]
    m = GPT2.from_pretrained(FIXTURES / layout)
    ids = ref["input_ids"]
    logits = m.forward(ids)
    assert logits.dtype == np.float32 and logits.shape == ref["logits" + suffix].shape
    np.testing.assert_allclose(logits, ref["logits" + suffix], rtol=0, atol=1e-4)
    greedy = ref["greedy_ids" + suffix]
    out = m.generate(ids, greedy.shape[1] - ids.shape[1], temperature=0)
    np.testing.assert_array_equal(out, greedy)


def test_layouts_with_and_without_prefix_load_the_same_weights():
    with_prefix = read_checkpoint(FIXTURES / "hf_layout" / "model.safetensors")
    without = read_checkpoint(FIXTURES / "hub_layout" / "model.safetensors")
    assert all(k.startswith("transformer.") for k in with_prefix)
    assert any(k.endswith(".attn.bias") for k in without)          # the hub file's mask buffers...
    a = dict(GPT2.from_pretrained(FIXTURES / "hf_layout").named_parameters())
    b = dict(GPT2.from_pretrained(FIXTURES / "hub_layout").named_parameters())
    assert list(a) == list(b)                                       # ...are skipped, not loaded
    for name in a:
        np.testing.assert_array_equal(a[name].data, b[name].data)


def test_loss_and_gradients_match_pytorch_autograd(ref):
    m = GPT2.from_pretrained(FIXTURES / "hub_layout").train()
    ids = ref["input_ids"]
    logits = m.forward(ids)
    loss_fn = CrossEntropyLoss()
    loss = loss_fn.forward(logits[:, :-1], ids[:, 1:])             # HF: labels = inputs, shifted inside
    assert abs(loss - float(ref["loss"])) < 1e-5
    dlogits = np.zeros_like(logits)
    dlogits[:, :-1] = loss_fn.backward()
    m.backward(dlogits)
    names = [k[len("grad/"):] for k in ref.files if k.startswith("grad/")]
    params = dict(m.named_parameters())
    assert sorted(names) == sorted(params)
    for name in names:
        expected, got = ref["grad/" + name], params[name].grad
        assert got.dtype == np.float32
        scale = np.abs(expected).max()
        assert np.abs(got - expected).max() <= 1e-4 * scale + 1e-7, name


# ----------------------------------------------------------------------------------- the parameters

def test_named_parameters_are_huggingface_names_without_prefix(model):
    tensors = read_checkpoint(FIXTURES / "hf_layout" / "model.safetensors")
    hf = {k[len("transformer."):]: v.shape for k, v in tensors.items()}
    ours = {name: p.shape for name, p in model.named_parameters()}
    assert ours == hf
    assert list(ours)[:4] == ["wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias"]
    assert list(ours)[-2:] == ["ln_f.weight", "ln_f.bias"]


def test_124m_names_and_shapes_without_allocating():
    with skip_init():                                  # np.empty weights: no random draws, pages untouched
        m = GPT2("gpt2")
    shapes = {name: p.shape for name, p in m.named_parameters()}
    assert shapes["wte.weight"] == (50257, 768) and shapes["wpe.weight"] == (1024, 768)
    assert shapes["h.0.attn.c_attn.weight"] == (768, 2304) and shapes["h.0.attn.c_attn.bias"] == (2304,)
    assert shapes["h.0.attn.c_proj.weight"] == (768, 768)
    assert shapes["h.0.mlp.c_fc.weight"] == (768, 3072) and shapes["h.11.mlp.c_proj.weight"] == (3072, 768)
    assert shapes["ln_f.bias"] == (768,) and "lm_head.weight" not in shapes      # tied head
    assert m.num_parameters() == count_parameters("gpt2") == 124_439_808
    assert isinstance(m, TransformerLM)


@pytest.mark.parametrize("name,count", [("gpt2", 124_439_808), ("gpt2-medium", 354_823_168),
                                        ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200)])
def test_parameter_count_formula_for_the_presets(name, count):
    assert count_parameters(name) == count
    assert set(PRESETS) == {"gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"}


def test_parameter_count_formula_matches_a_built_model(model, meta):
    assert count_parameters(meta["config"]) == model.num_parameters()
    assert count_parameters(dict(meta["config"], n_inner=40)) == GPT2(meta["config"], n_inner=40).num_parameters()


def test_config_mapping_gives_python_numbers():
    kw = config_to_kwargs({"layer_norm_epsilon": np.float64(1e-5), "n_embd": np.int64(64), "n_head": 4,
                           "n_layer": 1, "vocab_size": 100, "n_positions": 16, "activation_function": "gelu_new"})
    assert type(kw["ln_eps"]) is float and type(kw["d_model"]) is int and kw["d_ff"] == 256
    assert kw["activation"] == "gelu" and kw["pre_ln"] and kw["positional"] == "learned"
    assert config_to_kwargs({"activation_function": "gelu"})["activation"] == "gelu_exact"
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx"):
        config_to_kwargs({"scale_attn_by_inverse_layer_idx": True})
    with pytest.raises(ValueError, match="activation_function"):
        config_to_kwargs({"activation_function": "swish"})


# ------------------------------------------------------------------------------ loading and saving

def test_weights_are_memory_mapped_and_still_trainable(tmp_path, ref):
    shutil.copytree(FIXTURES / "hf_layout", tmp_path / "m")
    before = (tmp_path / "m" / "model.safetensors").read_bytes()
    m = GPT2.from_pretrained(tmp_path / "m")
    w = m.h[0].attn.c_attn.weight.data
    assert not w.flags.owndata and w.flags.writeable               # a view of the map, copy-on-write
    assert not m.training                                          # from_pretrained returns eval mode
    m.train()
    logits = m.forward(ref["input_ids"])
    m.backward(np.ones_like(logits) * 1e-3)
    AdamW(m.parameters(), lr=1e-2).step()
    assert not np.allclose(m.forward(ref["input_ids"]), logits)    # the weights moved...
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before   # ...the file did not


def test_save_pretrained_round_trip(model, ref, tmp_path):
    model.save_pretrained(tmp_path / "saved")
    assert {p.name for p in (tmp_path / "saved").iterdir()} >= {"config.json", "model.safetensors"}
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["n_embd"] == 32 and config["tie_word_embeddings"]
    names = read_checkpoint(tmp_path / "saved" / "model.safetensors")
    assert "transformer.h.0.attn.c_attn.weight" in names and "lm_head.weight" not in names
    again = GPT2.from_pretrained(tmp_path / "saved")
    np.testing.assert_array_equal(again.forward(ref["input_ids"]), model.forward(ref["input_ids"]))
    assert again.gpt2_config["eos_token_id"] == model.eos_token_id


def test_save_pretrained_writes_the_tokenizer(tmp_path):
    from transformer_np.tokenizer import BPETokenizer
    tok = BPETokenizer.train("hello world, hello numpy " * 20, 270)
    m = GPT2(dict(vocab_size=tok.vocab_size, n_positions=16, n_embd=16, n_layer=1, n_head=2), seed=0)
    m.save_pretrained(tmp_path / "t", tokenizer=tok)
    assert (tmp_path / "t" / "vocab.json").is_file() and (tmp_path / "t" / "merges.txt").is_file()
    assert BPETokenizer.from_pretrained(tmp_path / "t").encode("hello numpy") == tok.encode("hello numpy")


def test_missing_directory_and_unknown_name_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a directory nor a known model"):
        GPT2.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        GPT2.from_pretrained(tmp_path / "empty")


# ------------------------------------------------------------------------------------- generation

def test_kv_cache_generation_equals_full_recomputation(model, ref):
    ids = ref["input_ids"][:, :5]
    out = model.generate(ids, 10, temperature=0)
    assert out.shape == (2, 15)
    seq = ids
    for _ in range(10):                                            # no cache: rerun the whole prefix
        nxt = model.forward(seq)[:, -1].argmax(-1)
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
    np.testing.assert_array_equal(out, seq)
    caches = model.new_caches(2, 15)
    step_logits = [model.forward(ids, caches, last_only=True)[:, -1]]
    for t in range(5, 14):
        step_logits.append(model.forward(seq[:, t:t + 1], caches)[:, -1])
    full = model.forward(seq[:, :14])[:, 4:]
    np.testing.assert_allclose(np.stack(step_logits, 1), full, atol=1e-5)
    assert step_logits[0].dtype == np.float32


def first_tokens(model, n=400, **kw):
    """Sample the first new token of n copies of one prompt (one batched call)."""
    ids = np.tile(np.array([[1, 2, 3, 4]]), (n, 1))
    return model.generate(ids, 1, **kw)[:, -1]


def test_seed_repeats_and_different_seeds_differ(model):
    a = model.generate(np.array([[1, 2, 3]]), 12, temperature=1.0, seed=7)
    b = model.generate(np.array([[1, 2, 3]]), 12, temperature=1.0, seed=7)
    c = model.generate(np.array([[1, 2, 3]]), 12, temperature=1.0, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_temperature_top_k_top_p_shape_the_distribution(model):
    logits = model.forward(np.array([[1, 2, 3, 4]]))[0, -1].astype(np.float64)
    order = np.argsort(-logits)
    greedy = first_tokens(model, 4, temperature=0)
    assert (greedy == order[0]).all()
    assert set(first_tokens(model, temperature=1.0, top_k=1, seed=0)) == {order[0]}
    assert set(first_tokens(model, temperature=1.0, top_k=3, seed=0)) <= set(order[:3])
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    nucleus = order[:np.searchsorted(np.cumsum(probs[order]), 0.5) + 1]
    assert set(first_tokens(model, temperature=1.0, top_p=0.5, seed=0)) <= set(nucleus)
    cold = first_tokens(model, temperature=0.3, seed=0)
    hot = first_tokens(model, temperature=3.0, seed=0)
    assert len(set(hot)) > len(set(cold))                         # higher temperature: flatter distribution
    assert np.mean(cold == order[0]) > np.mean(hot == order[0])
    # At temperature 1 the empirical frequency of the most likely token matches its probability.
    plain = first_tokens(model, 2000, temperature=1.0, seed=1)
    assert abs(np.mean(plain == order[0]) - probs[order[0]]) < 0.05


def test_stop_at_eos(model):
    eos = model.eos_token_id
    out = model.generate(np.array([[5, 6]]), 40, temperature=2.0, seed=3, stop_at_eos=True)
    if out.shape[1] < 42:
        assert out[0, -1] == eos and eos not in out[0, 2:-1]


def test_prompt_longer_than_the_context_window_is_a_clear_error(model):
    window = model.max_len
    with pytest.raises(ValueError, match="context window"):
        model.generate(np.zeros((1, window + 1), dtype=np.int64), 1)
    with pytest.raises(ValueError, match="context window"):
        model.generate(np.zeros((1, window - 2), dtype=np.int64), 5)
    with pytest.raises(ValueError, match="context window"):
        model.forward(np.zeros((1, window + 1), dtype=np.int64))


def test_eval_mode_turns_off_every_dropout(meta, ref):
    m = GPT2(dict(meta["config"], resid_pdrop=0.5), seed=0)      # released GPT-2 configs say 0.1
    ids = ref["input_ids"]
    m.train()
    assert not np.array_equal(m.forward(ids), m.forward(ids))      # dropout active in training
    m.eval()
    np.testing.assert_array_equal(m.forward(ids), m.forward(ids))  # and off in every block in eval


def test_generation_forgets_the_prefill_activations_and_keeps_the_tokens(ref):
    m = GPT2.from_pretrained(FIXTURES / "hf_layout")
    ids = ref["input_ids"]                                         # 12 tokens
    out = m.generate(ids, 6, temperature=0)
    np.testing.assert_array_equal(out, ref["greedy_ids"][:, :18])
    # The prefill released what every block saved for backward; the decode steps that followed keep
    # only one position each.
    for block in m.h:
        assert block.mlp.c_fc.x.shape[1] == 1
        assert block.attn.attention.attn_weights.shape[2] == 1     # (B, H, T_q=1, T_k)
    # A forward for training keeps them (backward needs them) and matches the cached run's logits.
    logits = m.forward(ids)
    assert m.h[0].mlp.c_fc.x.shape[1] == ids.shape[1]
    m.zero_grad()
    m.backward(np.ones_like(logits))
    assert np.abs(m.h[0].mlp.c_fc.weight.grad).sum() > 0

