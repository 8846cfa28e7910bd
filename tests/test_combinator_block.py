"""A pre-LN decoder block built from Trax-style combinators computes exactly what DecoderBlock computes
(outputs, the input's gradient and every parameter's gradient, float64), and the combinators draw as data flow.

    Sequential(Residual(Sequential(LayerNorm, CausalAttention(MultiHeadAttention))),
               Residual(Sequential(LayerNorm, FeedForward)))

The library's DecoderBlock keeps its own ResidualSublayer wiring (it also does post-LN, dropout, KV caches and
cross-attention, and decoding a token calls it once per layer); this test keeps the two equal."""
import re

import numpy as np
import pytest

from transformer_np.blocks import DecoderBlock
from transformer_np.layers import (Add, Branch, CausalAttention, FeedForward, Identity, LayerNorm, Linear,
                                   MultiHeadAttention, ReLU, Residual, Sequential)
from transformer_np.viz.dataflow import dataflow_svg, layout

D_MODEL, N_HEADS, D_FF = 16, 4, 48


def combinator_block(reference):
    """Fresh layers holding the reference block's weights, wired with combinators. Returns (block, pairs of
    (combinator-side layer, DecoderBlock layer))."""
    f64 = np.float64
    ln_1, ln_2 = LayerNorm(D_MODEL, dtype=f64), LayerNorm(D_MODEL, dtype=f64)
    attn = MultiHeadAttention(D_MODEL, N_HEADS, dtype=f64, rng=1)
    ffn = FeedForward(D_MODEL, D_FF, dtype=f64, rng=2)
    pairs = [(ln_1, reference.ln_1), (attn, reference.attn), (ln_2, reference.ln_2), (ffn, reference.mlp)]
    for ours, theirs in pairs:
        ours.load_state_dict(theirs.state_dict())
    block = Sequential(Residual(Sequential(ln_1, CausalAttention(attn))),
                       Residual(Sequential(ln_2, ffn)))
    return block, pairs


@pytest.mark.parametrize("batch, time", [(1, 1), (2, 7)])
def test_combinator_block_equals_decoder_block_outputs_and_every_gradient(batch, time):
    rng = np.random.default_rng(batch * 10 + time)
    reference = DecoderBlock(D_MODEL, N_HEADS, D_FF, dtype=np.float64, rng=0)
    for _, p in reference.named_parameters():                 # O(1) weights: every path matters
        p.data[...] = rng.standard_normal(p.data.shape) * 0.5
    block, pairs = combinator_block(reference)
    x = rng.standard_normal((batch, time, D_MODEL))
    dout = rng.standard_normal((batch, time, D_MODEL))           # random upstream gradient, not all ones

    y_ref, y = reference.forward(x), block.forward(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    reference.zero_grad()
    block.zero_grad()
    np.testing.assert_allclose(block.backward(dout), reference.backward(dout), rtol=1e-12, atol=1e-12)
    compared = 0
    for ours, theirs in pairs:
        for (name, p), (name_ref, p_ref) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == name_ref
            np.testing.assert_allclose(p.grad, p_ref.grad, rtol=1e-12, atol=1e-12, err_msg=name)
            compared += 1
    assert compared == len(list(reference.parameters())) == 12     # 2 norms x 2, qkv + proj x 2, mlp x 4


def test_causal_attention_hides_the_future():
    attn = CausalAttention(MultiHeadAttention(D_MODEL, N_HEADS, dtype=np.float64, rng=0))
    x = np.random.default_rng(0).standard_normal((1, 5, D_MODEL))
    changed = x.copy()
    changed[0, 3:] += 1.0                                       # only positions 3 and 4 change
    np.testing.assert_array_equal(attn.forward(x)[0, :3], attn.forward(changed)[0, :3])


# ------------------------------------------------------------------------------------- pictures

def test_branch_of_three_takes_one_input_and_gives_three_outputs():
    branch = Branch(Linear(4, 4, rng=0), ReLU(), Identity())
    placed = layout(branch)
    assert len(placed.ins) == 1 and len(placed.outs) == 3
    svg = dataflow_svg(branch)
    assert [re.search(f">{name}<", svg) is not None for name in ("x", "y1", "y2", "y3", "y4")] == \
        [True, True, True, True, False]
    outs = branch.forward(np.ones((1, 4), dtype=np.float32))
    assert isinstance(outs, tuple) and len(outs) == 3            # what the picture says


def test_residual_is_drawn_as_branch_of_identity_and_f_then_add():
    svg = dataflow_svg(Residual(FeedForward(8, 16, rng=0)))
    labels = re.findall(r'font-size="12"[^>]*>([A-Za-z]+)<', svg)
    assert labels == ["Residual", "Branch", "Identity", "FeedForward", "Add"]
    add = layout(Add())
    assert len(add.ins) == 2 and len(add.outs) == 1               # Add: two inputs, one output


def test_sequential_joins_each_output_to_the_next_input():
    svg = dataflow_svg(Sequential(Linear(4, 8, rng=0), ReLU(), Linear(8, 4, rng=1)), title="Serial")
    assert svg.startswith("<?xml") and svg.count("marker-end") == 4   # into 3 boxes, and out to y


def test_post_ln_block_is_the_norms_moved_after_each_residual():
    rng = np.random.default_rng(5)
    reference = DecoderBlock(D_MODEL, N_HEADS, D_FF, pre_ln=False, dtype=np.float64, rng=0)
    block = Sequential(Residual(CausalAttention(reference.attn)), reference.ln_1,
                       Residual(reference.mlp), reference.ln_2)                # notebook 3, exercise 5
    x, dout = rng.standard_normal((2, 6, D_MODEL)), rng.standard_normal((2, 6, D_MODEL))
    np.testing.assert_allclose(block.forward(x), reference.forward(x), rtol=1e-12, atol=1e-12)
    block_dx = block.backward(dout)
    reference.forward(x)
    np.testing.assert_allclose(block_dx, reference.backward(dout), rtol=1e-12, atol=1e-12)
