"""The Module protocol, checked for every layer: dtype preservation, dtype rejection, accumulating grads.

NumPy 2 promotes float32 * (NumPy float64 scalar) to float64; a layer that leaks one such scalar silently
turns a float32 model into a float64 one. Every layer must return float32 for float32 input.
"""
import numpy as np
import pytest

from transformer_np.layers import (GELU, Add, Branch, Dropout, Embedding, FeedForward, Identity, LayerNorm,
                                   LearnedPositionalEmbedding, Linear, MultiHeadAttention, ReLU, Residual,
                                   ScaledDotProductAttention, Sequential, SinusoidalPositionalEncoding, Softmax,
                                   TiedOutputHead, causal_mask)

B, T, C = 2, 4, 8


def _x(dtype, rng, shape=(B, T, C)):
    return rng.standard_normal(shape).astype(dtype)


# name -> (build(dtype) -> module, inputs(dtype, rng) -> list, kwargs)
CASES = {
    "Linear": (lambda d: Linear(C, 5, dtype=d, rng=0), lambda d, r: [_x(d, r)], {}),
    "Embedding": (lambda d: Embedding(11, C, dtype=d, rng=0),
                  lambda d, r: [r.integers(0, 11, size=(B, T))], {}),
    "LearnedPositionalEmbedding": (lambda d: LearnedPositionalEmbedding(6, C, dtype=d, rng=0),
                                   lambda d, r: [_x(d, r)], {"start": 1}),
    "SinusoidalPositionalEncoding": (lambda d: SinusoidalPositionalEncoding(6, C, dtype=d),
                                     lambda d, r: [_x(d, r)], {"start": 2}),
    "LayerNorm": (lambda d: LayerNorm(C, dtype=d), lambda d, r: [_x(d, r)], {}),
    "ReLU": (lambda d: ReLU(), lambda d, r: [_x(d, r)], {}),
    "GELU(tanh)": (lambda d: GELU("tanh"), lambda d, r: [_x(d, r)], {}),
    "GELU(none)": (lambda d: GELU("none"), lambda d, r: [_x(d, r)], {}),
    "Softmax": (lambda d: Softmax(), lambda d, r: [_x(d, r)], {}),
    "Dropout": (lambda d: Dropout(0.3, rng=0), lambda d, r: [_x(d, r)], {}),
    "ScaledDotProductAttention": (lambda d: ScaledDotProductAttention(),
                                  lambda d, r: [_x(d, r, (B, 2, T, 3)) for _ in range(3)],
                                  {"mask": causal_mask(T, T)}),
    "MultiHeadAttention": (lambda d: MultiHeadAttention(C, 2, dtype=d, rng=0), lambda d, r: [_x(d, r)],
                           {"causal": True, "key_padding_mask": np.array([[0, 0, 0, 1], [0, 0, 0, 0]], bool)}),
    "MultiHeadAttention(cross)": (lambda d: MultiHeadAttention(C, 4, cross=True, dtype=d, rng=0),
                                  lambda d, r: [_x(d, r), _x(d, r, (B, 3, C))], {}),
    "FeedForward(gelu)": (lambda d: FeedForward(C, 12, dropout=0.2, dtype=d, rng=0), lambda d, r: [_x(d, r)], {}),
    "FeedForward(relu)": (lambda d: FeedForward(C, 12, "relu", dtype=d, rng=0), lambda d, r: [_x(d, r)], {}),
    "FeedForward(gelu_exact)": (lambda d: FeedForward(C, 12, "gelu_exact", dtype=d, rng=0),
                                lambda d, r: [_x(d, r)], {}),
    "Sequential": (lambda d: Sequential(Linear(C, 6, dtype=d, rng=0), GELU(), LayerNorm(6, dtype=d)),
                   lambda d, r: [_x(d, r)], {}),
    "Branch": (lambda d: Branch(Linear(C, 3, dtype=d, rng=0), Identity()), lambda d, r: [_x(d, r)], {}),
    "Residual": (lambda d: Residual(Linear(C, C, dtype=d, rng=0)), lambda d, r: [_x(d, r)], {}),
    "Identity": (lambda d: Identity(), lambda d, r: [_x(d, r)], {}),
    "Add": (lambda d: Add(), lambda d, r: [_x(d, r), _x(d, r)], {}),
    "TiedOutputHead": (lambda d: TiedOutputHead(Embedding(11, C, dtype=d, rng=0)), lambda d, r: [_x(d, r)], {}),
}

# Layers that own a dtype and must refuse input of another float type: name -> index of the input to swap.
TYPED = {"Linear": 0, "LearnedPositionalEmbedding": 0, "SinusoidalPositionalEncoding": 0, "LayerNorm": 0,
         "MultiHeadAttention": 0, "MultiHeadAttention(cross)": 1, "FeedForward(gelu)": 0, "Sequential": 0,
         "Residual": 0, "TiedOutputHead": 0}

WITH_PARAMS = [name for name, (build, _, _) in CASES.items() if build(np.float64).parameters()]


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _run(name, dtype, seed=0):
    build, make_inputs, kwargs = CASES[name]
    rng = np.random.default_rng(seed)
    module = build(dtype)
    outputs = _as_tuple(module.forward(*make_inputs(dtype, rng), **kwargs))
    upstream = tuple(rng.standard_normal(o.shape).astype(dtype) for o in outputs)
    grads = module.backward(upstream if len(upstream) > 1 else upstream[0])
    return module, outputs, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CASES)
def test_outputs_input_grads_and_param_grads_keep_the_compute_dtype(name, dtype):
    module, outputs, grads = _run(name, dtype)
    assert [o.dtype for o in outputs] == [np.dtype(dtype)] * len(outputs)
    input_grads = [g for g in _as_tuple(grads) if g is not None]       # Embedding: ids have no gradient
    assert [g.dtype for g in input_grads] == [np.dtype(dtype)] * len(input_grads)
    assert {n: p.grad.dtype for n, p in module.named_parameters()} == \
           {n: np.dtype(dtype) for n, _ in module.named_parameters()}


@pytest.mark.parametrize("name", TYPED)
def test_float64_input_into_a_float32_layer_raises_type_error(name):
    build, make_inputs, kwargs = CASES[name]
    inputs = make_inputs(np.float32, np.random.default_rng(0))
    inputs[TYPED[name]] = inputs[TYPED[name]].astype(np.float64)
    with pytest.raises(TypeError, match="float64"):
        build(np.float32).forward(*inputs, **kwargs)


@pytest.mark.parametrize("name", WITH_PARAMS)
def test_backward_accumulates_into_grad(name):
    """Calling backward twice on one forward gives exactly twice the parameter gradients."""
    build, make_inputs, kwargs = CASES[name]
    rng = np.random.default_rng(0)
    module = build(np.float64)
    outputs = _as_tuple(module.forward(*make_inputs(np.float64, rng), **kwargs))
    upstream = tuple(rng.standard_normal(o.shape) for o in outputs)
    upstream = upstream if len(upstream) > 1 else upstream[0]
    module.backward(upstream)
    once = {n: p.grad.copy() for n, p in module.named_parameters()}
    assert any(g.any() for g in once.values())
    module.backward(upstream)
    for n, p in module.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[n], rtol=1e-12, atol=0, err_msg=n)


@pytest.mark.parametrize("name", WITH_PARAMS)
def test_zero_grad_after_backward_clears_gradients(name):
    module, _, _ = _run(name, np.float64)
    module.zero_grad()
    assert all(not p.grad.any() for p in module.parameters())
