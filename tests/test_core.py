"""Parameter and Module: parameter discovery by dotted name, zero_grad, train/eval, state dicts."""
import numpy as np
import pytest

from transformer_np.core import Module, Parameter, check_float_dtype, check_input
from transformer_np.layers import (Dropout, Embedding, FeedForward, LayerNorm, Linear, MultiHeadAttention,
                                   Residual, Sequential)


class Stack(Module):
    """A module holding a list of sub-modules, as a GPT-2 model holds its blocks in `h`."""

    def __init__(self):
        self.wte = Embedding(7, 4, rng=0)
        self.h = [Linear(4, 4, rng=1), Linear(4, 4, bias=False, rng=2)]
        self.ln_f = LayerNorm(4)


class Tied(Module):
    """The same Parameter reachable under two names (a tied embedding / output head)."""

    def __init__(self):
        self.emb = Embedding(5, 3, rng=0)
        self.head = Linear(3, 5, bias=False, rng=1)
        self.head.weight = self.emb.weight


# ------------------------------------------------------------------------------------------ Parameter

def test_parameter_grad_is_allocated_lazily_as_zeros_of_the_same_shape_and_dtype():
    p = Parameter(np.ones((2, 3), dtype=np.float32))
    assert p._grad is None
    g = p.grad
    assert g.shape == (2, 3) and g.dtype == np.float32 and not g.any()
    assert p.grad is g                       # allocated once, then the same array


def test_check_float_dtype_rejects_integer_dtypes_with_type_error():
    with pytest.raises(TypeError, match="int64"):
        check_float_dtype(np.int64)


def test_check_input_rejects_a_python_list():
    with pytest.raises(TypeError, match="numpy array"):
        check_input([1.0, 2.0], np.dtype(np.float32))


def test_check_input_rejects_a_different_float_dtype_and_names_both():
    with pytest.raises(TypeError, match="float64.*float32"):
        check_input(np.zeros(3), np.dtype(np.float32))


# ------------------------------------------------------------------------------ named_parameters

def test_feedforward_parameters_have_dotted_names_in_assignment_order():
    names = [n for n, _ in FeedForward(4, 8, rng=0).named_parameters()]
    assert names == ["c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"]


def test_a_list_attribute_is_named_by_index():
    names = [n for n, _ in Stack().named_parameters()]
    assert names == ["wte.weight", "h.0.weight", "h.0.bias", "h.1.weight", "ln_f.weight", "ln_f.bias"]


def test_prefix_is_prepended_to_every_name():
    names = [n for n, _ in Linear(2, 3, rng=0).named_parameters(prefix="lm_head")]
    assert names == ["lm_head.weight", "lm_head.bias"]


def test_private_attributes_are_not_walked():
    # Residual keeps its pipeline in `_pipeline`; the wrapped layer must appear once, as `layer`.
    names = [n for n, _ in Residual(Linear(3, 3, rng=0)).named_parameters()]
    assert names == ["layer.weight", "layer.bias"]


def test_a_shared_parameter_appears_once_under_its_first_name():
    model = Tied()
    named = list(model.named_parameters())
    assert [n for n, _ in named] == ["emb.weight"]
    assert model.num_parameters() == 15


def test_multi_head_attention_parameter_names_follow_gpt2():
    self_names = [n for n, _ in MultiHeadAttention(8, 2, rng=0).named_parameters()]
    cross_names = [n for n, _ in MultiHeadAttention(8, 2, cross=True, rng=0).named_parameters()]
    assert self_names == ["c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"]
    assert cross_names == ["c_q.weight", "c_q.bias", "c_kv.weight", "c_kv.bias", "c_proj.weight", "c_proj.bias"]


def test_num_parameters_counts_every_entry():
    # Embedding 7*4 + Linear 4*4+4 + Linear 4*4 + LayerNorm 4+4
    assert Stack().num_parameters() == 28 + 20 + 16 + 8


def test_modules_yields_each_submodule_once():
    model = Tied()
    mods = list(model.modules())
    assert mods[0] is model
    assert len(mods) == len({id(m) for m in mods}) == 3


# ---------------------------------------------------------------------------------- release_activations

def test_release_activations_drops_saved_inputs_and_keeps_parameters_and_buffers():
    from transformer_np.layers import SinusoidalPositionalEncoding
    ff, pe = FeedForward(4, 8, rng=0), SinusoidalPositionalEncoding(10, 4)
    x = np.ones((1, 3, 4), dtype=np.float32)
    ff.forward(pe.forward(x))
    weights = {n: p.data.copy() for n, p in ff.named_parameters()}
    assert ff.c_fc.x is not None and ff.act.x is not None
    ff.release_activations()
    pe.release_activations()
    for module in ff.modules():
        assert not [n for n, v in vars(module).items() if isinstance(v, np.ndarray)], module
    for n, p in ff.named_parameters():
        np.testing.assert_array_equal(p.data, weights[n])
    assert pe.table.shape == (10, 4)                               # a buffer, not an activation
    with pytest.raises(AttributeError, match="run forward first"):  # nothing left to differentiate through
        ff.backward(np.ones((1, 3, 4), dtype=np.float32))
    np.testing.assert_array_equal(ff.forward(x), ff.forward(x))    # and a new forward works as before


# ---------------------------------------------------------------------------------------- zero_grad

def test_zero_grad_resets_every_parameter_gradient():
    model = Stack()
    for p in model.parameters():
        p.grad += 1.0
    model.zero_grad()
    assert all(p.grad.shape == p.data.shape and not p.grad.any() for p in model.parameters())


# ---------------------------------------------------------------------------------------- train/eval

def test_eval_reaches_dropout_nested_inside_containers():
    inner = FeedForward(4, 8, dropout=0.5, rng=0)
    model = Sequential(Residual(inner))
    assert model.eval() is model
    assert inner.dropout.training is False
    assert model.train() is model
    assert inner.dropout.training is True


def test_eval_makes_nested_dropout_deterministic():
    inner = FeedForward(4, 8, dropout=0.5, rng=0)
    model = Sequential(Residual(inner)).eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(model(x), model(x))


# ----------------------------------------------------------------------------------- state dicts

def test_state_dict_maps_names_to_the_parameter_arrays_themselves():
    model = Stack()
    state = model.state_dict()
    assert list(state) == [n for n, _ in model.named_parameters()]
    assert state["h.0.weight"] is model.h[0].weight.data


def test_load_state_dict_copies_values_and_casts_to_the_parameter_dtype():
    src, dst = Stack(), Stack()
    rng = np.random.default_rng(0)
    arrays = {n: rng.standard_normal(a.shape) for n, a in src.state_dict().items()}   # float64
    dst.load_state_dict(arrays)
    for name, p in dst.named_parameters():
        assert p.data.dtype == np.float32
        np.testing.assert_array_equal(p.data, arrays[name].astype(np.float32))


def test_load_state_dict_shape_mismatch_names_the_tensor():
    model = Stack()
    arrays = dict(model.state_dict())
    arrays["h.1.weight"] = np.zeros((4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"h\.1\.weight.*\(4, 5\).*\(4, 4\)"):
        model.load_state_dict(arrays)


def test_load_state_dict_strict_reports_missing_and_unexpected_names():
    model = Stack()
    arrays = dict(model.state_dict())
    del arrays["ln_f.bias"]
    arrays["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"ln_f\.bias.*extra"):
        model.load_state_dict(arrays)


def test_load_state_dict_non_strict_loads_what_is_present():
    model = Stack()
    before = model.ln_f.bias.data.copy()
    model.load_state_dict({"ln_f.weight": np.full(4, 2.0)}, strict=False)
    np.testing.assert_array_equal(model.ln_f.weight.data, np.full(4, 2.0, dtype=np.float32))
    np.testing.assert_array_equal(model.ln_f.bias.data, before)


def test_dropout_module_without_parameters_has_empty_state():
    assert Dropout(0.1).state_dict() == {}
