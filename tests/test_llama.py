"""Llama = TransformerLM in its Llama configuration, against transformers' LlamaForCausalLM.

The fixtures (tests/fixtures/llama_tiny, made by tools/make_llama_fixtures.py): two random tiny models with
grouped-query attention, one untied (F32, 4 query heads / 2 key-value heads), one tied (BF16, sharded,
4 / 1 heads, rope_theta 500000), and transformers' logits, greedy continuations, loss and gradients.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transformer_np import CrossEntropyLoss, Llama, TransformerLM
from transformer_np.models.auto import load_lm
from transformer_np.models.llama import hf_name, is_linear_weight, our_name, read_weights
from transformer_np.io.safetensors import load_safetensors, save_safetensors

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "llama_tiny"
MODELS = ("untied", "tied_bf16_sharded")
REF = dict(np.load(FIXTURES / "reference.npz"))
META = json.loads((FIXTURES / "meta.json").read_text())


@pytest.fixture(scope="module", params=MODELS)
def loaded(request):
    return request.param, Llama.from_pretrained(FIXTURES / request.param)


def test_configuration_is_the_llama_block_of_the_same_library(loaded):
    name, model = loaded
    assert type(model).__mro__[1] is TransformerLM
    k = model.config
    assert (k["norm"], k["ffn"], k["positional"], k["bias"], k["separate_qkv"]) == ("rmsnorm", "swiglu", "rope",
                                                                                  False, True)
    assert k["n_kv_heads"] == META["models"][name]["num_key_value_heads"] < k["n_heads"]
    assert k["tie_head"] == META["models"][name]["tie_word_embeddings"]
    assert k["rope_base"] == META["models"][name]["rope_theta"]
    assert model.wpe is None and model.h[0].attn.rotary is model.rotary


def test_logits_match_transformers(loaded):
    name, model = loaded
    logits = model(REF["input_ids"])
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, REF[f"{name}/logits"], atol=1e-4, rtol=0)


def test_greedy_continuation_matches_transformers(loaded):
    name, model = loaded
    greedy = model.generate(REF["input_ids"], META["max_new_tokens"], temperature=0)
    np.testing.assert_array_equal(greedy, REF[f"{name}/greedy_ids"])


def test_kv_cached_decoding_equals_full_recomputation(loaded):
    _, model = loaded
    ids = REF["input_ids"]
    full = model(ids)
    caches = model.new_caches(ids.shape[0], ids.shape[1])
    assert caches[0].keys.shape[1] == model.n_kv_heads                   # the cache holds the kv heads only
    steps = [model(ids[:, :3], caches)] + [model(ids[:, t:t + 1], caches) for t in range(3, ids.shape[1])]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=2e-5, rtol=0)


def test_loss_and_every_parameter_gradient_match_torch_autograd(loaded):
    name, model = loaded
    ids = REF["input_ids"]
    model.train()
    try:
        model.zero_grad()
        loss_fn = CrossEntropyLoss()
        # transformers' loss: next-token cross-entropy averaged over the B * (T - 1) predicted positions.
        targets = np.roll(ids, -1, axis=1)
        weights = np.ones(ids.shape)
        weights[:, -1] = 0
        loss = loss_fn(model(ids), targets, weights)
        model.backward(loss_fn.backward())
    finally:
        model.eval()
    assert abs(loss - REF[f"{name}/loss"]) <= 1e-5 * abs(REF[f"{name}/loss"])
    ours = dict(model.named_parameters())
    theirs = {key[len(f"{name}/grad/"):]: value for key, value in REF.items() if key.startswith(f"{name}/grad/")}
    assert sorted(our_name(n) for n in theirs) == sorted(ours)           # every parameter, and nothing else
    worst = {}
    for hf, grad in theirs.items():
        mine = ours[our_name(hf)].grad
        mine = mine.T if is_linear_weight(hf) else mine
        worst[hf] = np.abs(mine - grad).max() / np.abs(grad).max()
    assert max(worst.values()) <= 2e-3, sorted(worst.items(), key=lambda kv: -kv[1])[:3]


def test_bf16_shards_are_read_and_widened_to_float32():
    directory = FIXTURES / "tied_bf16_sharded"
    index = json.loads((directory / "model.safetensors.index.json").read_text())["weight_map"]
    assert len(set(index.values())) == 2
    tensors = read_weights(directory)
    assert set(tensors) == set(index) and all(t.dtype == np.float32 for t in tensors.values())
    assert "lm_head.weight" not in tensors                              # tied: the embedding serves as head


def test_names_translate_both_ways():
    pairs = {"model.embed_tokens.weight": "wte.weight", "model.norm.weight": "ln_f.weight",
             "model.layers.11.self_attn.k_proj.weight": "h.11.attn.k_proj.weight",
             "model.layers.0.input_layernorm.weight": "h.0.ln_1.weight",
             "model.layers.0.post_attention_layernorm.weight": "h.0.ln_2.weight",
             "model.layers.3.mlp.down_proj.weight": "h.3.mlp.down_proj.weight", "lm_head.weight": "lm_head.weight"}
    for theirs, ours in pairs.items():
        assert our_name(theirs) == ours and hf_name(ours) == theirs


@pytest.mark.parametrize("name", MODELS)
def test_save_pretrained_writes_the_hugging_face_layout_and_reloads_identically(tmp_path, name):
    model = Llama.from_pretrained(FIXTURES / name)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "llama" and config["architectures"] == ["LlamaForCausalLM"]
    assert config["dtype"] == "float32" and config["rope_parameters"]["rope_theta"] == model.config["rope_base"]
    tensors = load_safetensors(tmp_path / "model.safetensors")
    q = tensors["model.layers.0.self_attn.k_proj.weight"]
    assert q.shape == (model.n_kv_heads * model.head_dim, model.config["d_model"])   # torch's (out, in)
    assert ("lm_head.weight" in tensors) == (not model.config["tie_head"])
    np.testing.assert_array_equal(Llama.from_pretrained(tmp_path)(REF["input_ids"]), model(REF["input_ids"]))


def test_a_llama_style_transformer_lm_trains_and_saves_as_llama(tmp_path):
    model = TransformerLM(vocab_size=300, d_model=16, n_heads=4, n_layers=1, d_ff=24, max_len=16, seed=0,
                          n_kv_heads=2, tie_head=False, norm="rmsnorm", ffn="swiglu", positional="rope", bias=False,
                          separate_qkv=True)
    from transformer_np.models.llama import save_llama
    save_llama(model, tmp_path)
    ids = np.arange(8)[None]
    np.testing.assert_array_equal(Llama.from_pretrained(tmp_path)(ids), model(ids))
    gpt2_style = TransformerLM(vocab_size=300, d_model=16, n_heads=4, n_layers=1, d_ff=24, max_len=16)
    with pytest.raises(ValueError, match="not a Llama-style TransformerLM"):
        save_llama(gpt2_style, tmp_path / "no")


@pytest.mark.parametrize("change, message", [
    ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, "rope type 'llama3'"),
    ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}, "rope type 'yarn'"),
    ({"sliding_window": 4096}, "sliding_window=4096"),
    ({"attention_bias": True}, "attention_bias=true"),
    ({"mlp_bias": True}, "mlp_bias=true"),
    ({"hidden_act": "gelu"}, "hidden_act='gelu'"),
    ({"head_dim": 16}, "head_dim=16"),
    ({"model_type": "mistral"}, "model_type='mistral'"),
])
def test_unsupported_configs_are_refused_in_one_line(tmp_path, change, message):
    directory = tmp_path / "m"
    shutil.copytree(FIXTURES / "untied", directory)
    config = json.loads((directory / "config.json").read_text())
    config.update(change)
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="unsupported Llama config") as error:
        Llama.from_pretrained(directory)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_head_or_shard_is_one_clear_error(tmp_path):
    untied = tmp_path / "untied"
    shutil.copytree(FIXTURES / "untied", untied)
    tensors = load_safetensors(untied / "model.safetensors")
    del tensors["lm_head.weight"]
    save_safetensors(untied / "model.safetensors", tensors)
    with pytest.raises(ValueError, match="no lm_head.weight"):
        Llama.from_pretrained(untied)
    sharded = tmp_path / "sharded"
    shutil.copytree(FIXTURES / "tied_bf16_sharded", sharded)
    (sharded / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="shard model-00002-of-00002.safetensors is missing"):
        Llama.from_pretrained(sharded)


def test_a_name_is_found_in_the_hugging_face_cache_never_downloaded(tmp_path, monkeypatch):
    """Llama.from_pretrained("org/name") reads the snapshot that refs/main names in $HF_HUB_CACHE
    (huggingface_hub's layout: blobs + symlinked snapshots) with the same logits as the directory; a
    name that is not there is one clear error, not a download."""
    repo = tmp_path / "hub" / "models--tiny-org--tiny-llama"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "blobs").mkdir()
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    for file in (FIXTURES / "untied").iterdir():
        (repo / "blobs" / file.name).write_bytes(file.read_bytes())
        (repo / "snapshots" / "abc123" / file.name).symlink_to(f"../../blobs/{file.name}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    by_name = Llama.from_pretrained("tiny-org/tiny-llama")
    assert by_name.model_dir == repo / "snapshots" / "abc123"
    ids = np.array([[1, 5, 9, 2]])
    np.testing.assert_array_equal(by_name.forward(ids), Llama.from_pretrained(FIXTURES / "untied").forward(ids))
    with pytest.raises(FileNotFoundError, match="not downloaded"):
        Llama.from_pretrained("tiny-org/absent")


def test_load_lm_dispatches_llama_with_its_tokenizer_json():
    model, tokenizer = load_lm(FIXTURES / "untied")
    assert isinstance(model, Llama) and tokenizer.vocab_size == model.vocab_size
    assert tokenizer.encode("<|endoftext|>", allowed_special="all") == [0]


def test_gpt2_infer_runs_a_llama_checkpoint_end_to_end():
    model, tokenizer = load_lm(FIXTURES / "untied")
    prompt = "ROMEO:\nO, she"
    ids = tokenizer.encode(prompt)
    expected = tokenizer.decode(model.generate(ids, 6, temperature=0)[len(ids):].tolist())
    result = subprocess.run([sys.executable, "gpt2_infer.py", "--model", str(FIXTURES / "untied"), "-p", prompt,
                             "-n", "6", "--temperature", "0", "--no-stop"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == prompt + expected + "\n"


@pytest.mark.parametrize("V,C,H,H_kv,F,L,tied", [(280, 32, 4, 2, 40, 2, False), (97, 24, 6, 3, 64, 3, True),
                                                 (11, 8, 2, 1, 8, 1, False)])
def test_parameter_count_formula_of_the_guide(V, C, H, H_kv, F, L, tied):
    # docs/GUIDE.md section 12: per block 2 C^2 + 2 C (H_kv d_k) + 3 C F + 2 C; plus V C, C, and V C untied.
    model = Llama(dict(vocab_size=V, hidden_size=C, num_attention_heads=H, num_key_value_heads=H_kv,
                       intermediate_size=F, num_hidden_layers=L, tie_word_embeddings=tied, max_position_embeddings=8))
    block = 2 * C * C + 2 * C * (H_kv * C // H) + 3 * C * F + 2 * C
    assert model.num_parameters() == V * C + L * block + C + (0 if tied else V * C)


def test_left_padded_batch_generates_what_each_prompt_generates_alone(loaded):
    # Rotary positions per row: each padded row counts its positions from its first real token.
    _, model = loaded
    prompts = [REF["input_ids"][0, :7], REF["input_ids"][1, :4]]
    width = max(len(p) for p in prompts)
    ids = np.zeros((2, width), dtype=np.int64)
    mask = np.zeros((2, width), dtype=np.int64)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):], mask[row, width - len(prompt):] = prompt, 1
    batched = model.generate(ids, 5, temperature=0, attention_mask=mask)
    for row, prompt in enumerate(prompts):
        alone = model.generate(prompt[None], 5, temperature=0)
        np.testing.assert_array_equal(batched[row, width:], alone[0, len(prompt):])


def test_smollm_135m_config_builds_with_transformers_parameter_count():
    # SmolLM-135M's config.json sizes (9 heads sharing 3 key/value heads, tied); transformers counts
    # 134,515,008 parameters for LlamaForCausalLM with this config.
    from transformer_np.init import skip_init
    config = dict(model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536,
                  num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, head_dim=64,
                  max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                  hidden_act="silu", bos_token_id=0, eos_token_id=0)
    with skip_init():                                     # sizes only: no random draws
        model = Llama(config)
    assert model.num_parameters() == 134_515_008
    assert model.h[0].attn.k_proj.weight.shape == (576, 192) and model.config["ln_eps"] == 1e-5
