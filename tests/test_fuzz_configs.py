"""Bad-input campaign against config.json and state dicts: wrong types, ranges, huge values, missing fields.

Every mutant of a real tiny checkpoint's config.json ends in one ValueError line (ConfigError for the config,
StateDictError when it no longer fits the weights) naming the file, or in a model that runs: never a
TypeError, ZeroDivisionError, KeyError or AttributeError traceback, and never a minute of allocation.
A value the field's specification refuses (`"n_head": 0`, `"tie_word_embeddings": "false"`) must be refused.
"""
from __future__ import annotations

import json
import math
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer_np import BERT, GPT2, Llama, TransformerLM
from transformer_np.core import StateDictError
from transformer_np.io.safetensors import load_safetensors, save_safetensors
from transformer_np.models.auto import load_lm
from transformer_np.models.bert import bert_parameter_count
from transformer_np.models.config_fields import ConfigError, available_memory_bytes, check_memory
from transformer_np.models.lm import parameter_count
from transformer_np.models.sentence import SentenceEncoder

FIXTURES = Path(__file__).parent / "fixtures"
IDS = np.array([[1, 5, 7, 2, 9]])


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# What each kind of field accepts: the specification the loaders are held to.
ACCEPTS = {
    "size": lambda v: is_int(v) and 1 <= v < 2**63,
    "optional_size": lambda v: v is None or (is_int(v) and 1 <= v < 2**63),
    "eps": lambda v: is_number(v) and 0 < v <= 1,
    "base": lambda v: is_number(v) and 0 < v < math.inf,
    "probability": lambda v: is_number(v) and 0 <= v < 1,
    "id": lambda v: v is None or (is_int(v) and 0 <= v < 2**63),
    "ids": lambda v: ACCEPTS["id"](v) or (isinstance(v, list) and (not v or ACCEPTS["id"](v[0]))),
    "bool": lambda v: isinstance(v, bool),
    "true": lambda v: v is True,
    "false": lambda v: v is False,
    "gelu_new": lambda v: v in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu", "relu"),
    "silu": lambda v: v == "silu",
    "bert_act": lambda v: v in ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu"),
    "positional": lambda v: v in ("learned", "sinusoidal", "rope"),
    "norm": lambda v: v in ("layernorm", "rmsnorm"),
    "ffn": lambda v: v in ("mlp", "swiglu"),
    "lm_act": lambda v: v in ("gelu", "gelu_exact", "relu", "silu"),
    "mapping": lambda v: v is None or isinstance(v, dict),
}
# Fields whose value does not change the computation in eval mode: a valid value must give the same logits.
NEUTRAL = {"resid_pdrop", "eos_token_id", "bos_token_id", "hidden_dropout_prob", "pad_token_id", "dropout"}

GPT2_FIELDS = dict(vocab_size="size", n_positions="size", n_embd="size", n_layer="size", n_head="size",
                   n_inner="optional_size", activation_function="gelu_new", layer_norm_epsilon="eps",
                   resid_pdrop="probability", eos_token_id="id", bos_token_id="id", tie_word_embeddings="true",
                   scale_attn_weights="true", add_cross_attention="false", scale_attn_by_inverse_layer_idx="false")
LLAMA_FIELDS = dict(vocab_size="size", hidden_size="size", intermediate_size="size", num_hidden_layers="size",
                    num_attention_heads="size", num_key_value_heads="optional_size", head_dim="optional_size",
                    hidden_act="silu", max_position_embeddings="size", rms_norm_eps="eps", tie_word_embeddings="bool",
                    attention_bias="false", mlp_bias="false", eos_token_id="ids", bos_token_id="ids",
                    rope_parameters="mapping", rope_scaling="mapping")
BERT_FIELDS = dict(vocab_size="size", hidden_size="size", num_hidden_layers="size", num_attention_heads="size",
                   intermediate_size="size", hidden_act="bert_act", hidden_dropout_prob="probability",
                   max_position_embeddings="size", type_vocab_size="size", layer_norm_eps="eps",
                   pad_token_id="id", is_decoder="false", add_cross_attention="false")
RUN_FIELDS = dict(vocab_size="size", d_model="size", n_heads="size", n_layers="size", d_ff="size", max_len="size",
                  dropout="probability", pre_ln="bool", activation="lm_act", ln_eps="eps", positional="positional",
                  eos_token_id="id", norm="norm", ffn="ffn", n_kv_heads="optional_size", bias="bool",
                  tie_head="bool", rope_base="base", separate_qkv="bool")


def make_trainer_run(directory):
    """A run in the trainer's older format: our parameter names, "model_config" = TransformerLM's arguments."""
    model_config = dict(vocab_size=12, d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=16)
    model = TransformerLM(**model_config, seed=0)
    directory.mkdir()
    save_safetensors(directory / "model.safetensors", model.state_dict())
    (directory / "config.json").write_text(json.dumps(
        {"model": "TransformerLM", "model_config": model_config, "task": {"task": "text", "chars": "abcdefghijkl"}}))
    return directory


def load_run(directory):
    return load_lm(directory)[0]


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    """name -> (directory with a pristine copy, loader, fields, config key path, reference logits)."""
    root = tmp_path_factory.mktemp("families")
    out = {}
    for name, source, loader, fields, nested in [
            ("gpt2", FIXTURES / "gpt2_tiny" / "hf_layout", GPT2.from_pretrained, GPT2_FIELDS, None),
            ("llama", FIXTURES / "llama_tiny" / "untied", Llama.from_pretrained, LLAMA_FIELDS, None),
            ("bert", FIXTURES / "bert_tiny" / "model", BERT.from_pretrained, BERT_FIELDS, None),
            ("run", None, load_run, RUN_FIELDS, "model_config")]:
        directory = root / name
        if source is None:
            make_trainer_run(directory)
        else:
            shutil.copytree(source, directory)
        model = loader(directory)
        out[name] = (directory, loader, fields, nested, (directory / "config.json").read_text(), logits(model))
    return out


def logits(model):
    return model.forward(IDS) if not isinstance(model, BERT) else model.forward(IDS % model.vocab_size)


def try_config(family, field, value, delete=False):
    """Write the mutated config, load; return ('error', message) or ('ok', model). Anything else fails."""
    directory, loader, fields, nested, pristine, _ = family
    config = json.loads(pristine)
    target = config[nested] if nested else config
    if delete:
        target.pop(field, None)
    else:
        target[field] = value
    (directory / "config.json").write_text(json.dumps(config))
    try:
        return "ok", loader(directory)
    except (ConfigError, StateDictError, ValueError, FileNotFoundError) as exc:
        message = str(exc)
        assert "\n" not in message and str(directory) in message, message
        return "error", message
    finally:
        (directory / "config.json").write_text(pristine)


def check_mutant(family, field, value):
    kind, result = try_config(family, field, value)
    spec = family[2][field]
    if not ACCEPTS[spec](value):
        assert kind == "error", f"{field}={value!r} was accepted"
        assert field in result, result
        return kind
    if kind == "ok":
        out = logits(result)
        assert np.isfinite(out).all()
        if field in NEUTRAL:
            np.testing.assert_array_equal(out, family[5])
    return kind


BAD_VALUES = [0, -1, True, False, "2", "false", "true", 2.5, 2.0, None, [], {}, [2], 10**40, -(10**40), 1e300,
              float("nan"), float("inf"), "", "gelu_new"]
SCRIPTED = [(family, field, value) for family, fields in
            [("gpt2", GPT2_FIELDS), ("llama", LLAMA_FIELDS), ("bert", BERT_FIELDS), ("run", RUN_FIELDS)]
            for field in fields for value in BAD_VALUES]


@pytest.mark.parametrize("family_name", ["gpt2", "llama", "bert", "run"])
def test_scripted_field_values_end_in_the_one_error_or_a_working_model(families, family_name):
    """Every field of every family x 20 typical bad values (wrong type, out of range, huge, NaN)."""
    outcomes = [check_mutant(families[family_name], field, value)
                for name, field, value in SCRIPTED if name == family_name]
    assert outcomes.count("error") >= len(outcomes) // 2          # most of these values are refused


@pytest.mark.parametrize("family_name", ["gpt2", "llama", "bert", "run"])
def test_a_missing_field_takes_its_default_or_is_the_one_error(families, family_name):
    family = families[family_name]
    for field in family[2]:
        kind, result = try_config(family, field, None, delete=True)
        if kind == "ok":
            assert np.isfinite(logits(result)).all()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.integers(-3, 70) | st.floats()
    | st.text(max_size=8) | st.sampled_from(["gelu_new", "silu", "gelu", "relu", "rope", "rmsnorm", "swiglu"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_field_values_end_in_the_one_error_or_a_working_model(families, data):
    family = families[data.draw(st.sampled_from(sorted(families)))]
    field = data.draw(st.sampled_from(sorted(family[2])))
    check_mutant(family, field, data.draw(JSON_VALUES))


def test_a_4301_digit_integer_names_the_file(families):
    directory, loader, _, _, pristine, _ = families["gpt2"]
    (directory / "config.json").write_text(pristine.replace('"n_layer": 2', '"n_layer": ' + "9" * 4301))
    try:
        with pytest.raises(ConfigError, match=r"config\.json: not valid JSON \(Exceeds the limit"):
            loader(directory)
    finally:
        (directory / "config.json").write_text(pristine)


def test_a_config_that_is_not_an_object_or_not_utf8_is_one_error(families):
    directory, loader, _, _, pristine, _ = families["llama"]
    for text in (b"[]", b"\xff\xfe{}", b"{" * 100_000, b""):
        (directory / "config.json").write_bytes(text)
        with pytest.raises(ConfigError, match="config.json: "):
            loader(directory)
    (directory / "config.json").write_text(pristine)


# ------------------------------------------------------------------------------------ fail fast

def test_a_hundred_thousand_layers_fail_in_well_under_a_second(families):
    start = time.perf_counter()
    kind, message = try_config(families["gpt2"], "n_layer", 100_000)
    assert kind == "error" and time.perf_counter() - start < 1.0
    assert message.endswith("n_layer is 100000 but the weights hold 2 layers (no tensor h.99999.*)")


def test_a_model_larger_than_memory_is_refused_with_the_numbers(families):
    available = available_memory_bytes()
    if available is None:
        pytest.skip("no /proc/meminfo MemAvailable on this system")
    start = time.perf_counter()
    kind, message = try_config(families["gpt2"], "n_positions", available // 4 // 32 + 1)
    assert kind == "error" and time.perf_counter() - start < 1.0
    assert "n_positions" not in message and "parameters need" in message and "available (MemAvailable)" in message


def test_ten_million_rotary_positions_cost_nothing_until_used(families):
    tracemalloc.start()
    try:
        kind, model = try_config(families["llama"], "max_position_embeddings", 10**7)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kind == "ok" and model.max_len == 10**7
    assert peak < 20e6 and model.rotary.cos.shape[0] <= 256
    np.testing.assert_array_equal(logits(model), families["llama"][5])   # the same rotation for positions < 64


def test_a_grown_rotary_table_equals_a_full_one():
    from transformer_np.layers.rotary import RotaryEmbedding, rotary_angles
    rotary = RotaryEmbedding(8, 5000)
    x = np.ones((1, 1, 700, 8), np.float32)
    rotary.forward(x, start=4000)
    assert len(rotary.cos) == 4700                                        # grown to the last position used
    np.testing.assert_array_equal(rotary.cos, np.cos(rotary_angles(8, 5000)[:4700]).astype(np.float32))
    np.testing.assert_array_equal(rotary.sin, np.sin(rotary_angles(8, 5000)[:4700]).astype(np.float32))


def test_check_memory_names_the_numbers():
    with pytest.raises(ConfigError, match=r"^src: the weights need 12 GB of memory but only 1.5 GB is available"):
        check_memory(12 * 10**9, "the weights", "src", available=15 * 10**8)
    check_memory(10**9, "the weights", "src", available=10**9)           # exactly enough is enough


def test_available_memory_is_read_from_proc_meminfo():
    if not Path("/proc/meminfo").is_file():
        pytest.skip("no /proc/meminfo")
    line = next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemAvailable:"))
    assert abs(available_memory_bytes() - int(line.split()[1]) * 1024) < 2**30   # (it moves between reads)


@settings(max_examples=25, deadline=None)
@given(heads=st.sampled_from([1, 2, 4]), kv=st.sampled_from([None, 1, 2]), layers=st.integers(1, 3),
       positional=st.sampled_from(["learned", "sinusoidal", "rope"]), norm=st.sampled_from(["layernorm", "rmsnorm"]),
       ffn=st.sampled_from(["mlp", "swiglu"]), bias=st.booleans(), tie=st.booleans(), pre_ln=st.booleans(),
       separate=st.booleans())
def test_parameter_count_from_sizes_equals_the_built_model(heads, kv, layers, positional, norm, ffn, bias, tie,
                                                           pre_ln, separate):
    kv = None if kv is None or heads % kv else kv
    config = dict(vocab_size=11, d_model=8, n_heads=heads, n_layers=layers, d_ff=12, max_len=9, positional=positional,
                  norm=norm, ffn=ffn, bias=bias, tie_head=tie, pre_ln=pre_ln, n_kv_heads=kv,
                  separate_qkv=separate or kv is not None)
    assert parameter_count(config) == TransformerLM(**config, seed=0).num_parameters()


def test_bert_parameter_count_equals_the_built_model():
    config = json.loads((FIXTURES / "bert_tiny" / "model" / "config.json").read_text())
    assert bert_parameter_count(config) == BERT(config).num_parameters() == 20_640
    assert bert_parameter_count(config, add_pooler=False) == BERT(config, add_pooler=False).num_parameters()


# ---------------------------------------------------------------------------------- state dicts

def test_state_dict_mismatch_names_the_first_missing_unexpected_and_misshapen_tensor():
    model = TransformerLM(vocab_size=5, d_model=4, n_heads=1, n_layers=2, d_ff=8, max_len=6, seed=0)
    before = model.wte.weight.data.copy()
    state = {name: value + 1 for name, value in model.state_dict().items()}
    del state["h.0.ln_1.weight"], state["ln_f.bias"]
    state["h.0.extra"] = np.zeros(1)
    state["wpe.weight"] = np.zeros((7, 4), np.float32)
    with pytest.raises(StateDictError) as error:
        model.load_state_dict(state, source="ckpt.safetensors")
    assert str(error.value) == ("ckpt.safetensors: state dict does not fit the model: missing tensor "
                                "'h.0.ln_1.weight' (+1 more); unexpected tensor 'h.0.extra'; tensor 'wpe.weight': "
                                "shape (7, 4) does not match the model's (6, 4)")
    assert isinstance(error.value, KeyError) and isinstance(error.value, ValueError)
    np.testing.assert_array_equal(model.wte.weight.data, before)       # nothing was half-loaded


@pytest.mark.parametrize("family_name, loader, rename", [
    ("gpt2", GPT2.from_pretrained, ("h.1.mlp.c_fc.weight", "h.1.mlp.c_fc.weights")),
    ("llama", Llama.from_pretrained, ("model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.upproj.weight")),
    ("bert", BERT.from_pretrained, ("encoder.layer.1.output.dense.bias", "encoder.layer.1.output.dense.b"))])
def test_a_renamed_or_misshapen_tensor_in_a_checkpoint_is_one_line(families, tmp_path, family_name, loader, rename):
    directory = tmp_path / family_name
    shutil.copytree(families[family_name][0], directory)
    tensors = {name: np.array(value) for name, value in load_safetensors(directory / "model.safetensors").items()}
    prefix = "transformer." if "transformer.wte.weight" in tensors else ""
    old, new = prefix + rename[0], prefix + rename[1]
    tensors[new] = tensors.pop(old)
    save_safetensors(directory / "model.safetensors", tensors)
    with pytest.raises(StateDictError) as error:
        loader(directory)
    message = str(error.value)
    assert "\n" not in message and str(directory) in message and old.split(".", 1)[-1][-12:] in message
    tensors[old] = tensors.pop(new)[..., :-1]                            # back under its name, one column short
    save_safetensors(directory / "model.safetensors", tensors)
    with pytest.raises(StateDictError, match="shape") as error:
        loader(directory)
    assert "\n" not in str(error.value)


# -------------------------------------------------------------------------- sentence-transformers

@pytest.mark.parametrize("file, content, named", [
    ("sentence_bert_config.json", {"max_seq_length": 128, "do_lower_case": "false"}, "do_lower_case"),
    ("sentence_bert_config.json", {"max_seq_length": "128"}, "max_seq_length"),
    ("sentence_bert_config.json", {"max_seq_length": 0}, "max_seq_length"),
    ("1_Pooling/config.json", {"pooling_mode_mean_tokens": "true"}, "pooling_mode_mean_tokens"),
    ("modules.json", {"type": "x"}, "modules.json"),
    ("modules.json", [{"type": 3, "path": ""}], "unsupported module 3")])
def test_sentence_transformer_settings_are_type_checked(tmp_path, file, content, named):
    shutil.copytree(FIXTURES / "bert_tiny" / "model", tmp_path / "st")
    (tmp_path / "st" / "1_Pooling").mkdir()
    modules = [{"type": "sentence_transformers.models.Transformer", "path": ""},
               {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}]
    (tmp_path / "st" / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "st" / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    (tmp_path / "st" / file).write_text(json.dumps(content))
    with pytest.raises(ConfigError) as error:
        SentenceEncoder.from_pretrained(tmp_path / "st")
    assert named in str(error.value) and str(tmp_path / "st") in str(error.value)
