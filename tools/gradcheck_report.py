#!/usr/bin/env python
"""Gradient-check every layer in float64 at fixed representative shapes; print the worst relative error.

    python tools/gradcheck_report.py [--max-entries N] [--seed S]

For each layer: central differences (eps 1e-6) against the handwritten backward, w.r.t. every float input
and every parameter (up to N sampled entries each, default: all entries up to 200), with a random upstream
gradient. The table lists the worst relative error over all of the layer's tensors and which tensor it was.
Tolerance used by the test suite: 1e-6. CrossEntropyLoss is not a Module (backward() takes no upstream
gradient), so it is checked with a direct finite-difference loop over the logits.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from transformer_np.gradcheck import gradient_check, relative_error  # noqa: E402
from transformer_np.layers import (GELU, Add, Branch, Dropout, Embedding, FeedForward, Identity,  # noqa: E402
                                   LayerNorm, LearnedPositionalEmbedding, Linear, MultiHeadAttention, ReLU,
                                   Residual, ScaledDotProductAttention, Sequential, SinusoidalPositionalEncoding,
                                   Softmax, TiedOutputHead, causal_mask)
from transformer_np.losses import CrossEntropyLoss  # noqa: E402

TOL = 1e-6
B, T, S, C, H, V, D_FF = 2, 5, 4, 12, 3, 11, 24
F64 = np.float64


def randomise(module, rng, std=0.5):
    """O(1) weights (the tiny GPT-2 init makes attention uniform and hides score-path errors)."""
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape) * std
    return module


def reseeding(module, seed=0):
    """before_forward hook: every forward draws the same dropout masks."""
    drops = [m for m in module.modules() if isinstance(m, Dropout)]

    def hook():
        for i, d in enumerate(drops):
            d.rng = np.random.default_rng(seed + i)
    return hook


def cases(rng):
    x = rng.standard_normal((B, T, C))
    context = rng.standard_normal((B, S, C))
    pad_self = np.zeros((B, T), bool)
    pad_self[1, -2:] = True
    pad_cross = np.zeros((B, S), bool)
    pad_cross[0, -1] = True
    heads = [rng.standard_normal((B, H, T, C // H)) for _ in range(3)]
    dropout = Dropout(0.2)
    ff_drop = randomise(FeedForward(C, D_FF, "gelu", dropout=0.2, dtype=F64, rng=0), rng, 0.3)
    yield "Linear", randomise(Linear(C, 7, dtype=F64, rng=0), rng), [x], {}, None
    yield "Linear (no bias)", randomise(Linear(C, 7, bias=False, dtype=F64, rng=0), rng), [x], {}, None
    yield "Embedding", Embedding(V, C, dtype=F64, rng=0), [rng.integers(0, V, (B, T))], {}, None
    yield "TiedOutputHead", TiedOutputHead(randomise(Embedding(V, C, dtype=F64, rng=0), rng)), [x], {}, None
    yield "LearnedPositionalEmbedding", LearnedPositionalEmbedding(8, C, dtype=F64, rng=0), [x], {"start": 2}, None
    yield "SinusoidalPositionalEncoding", SinusoidalPositionalEncoding(8, C, dtype=F64), [x], {"start": 2}, None
    yield "LayerNorm", randomise(LayerNorm(C, dtype=F64), rng), [x], {}, None
    yield "ReLU", ReLU(), [x], {}, None
    yield "GELU (tanh)", GELU("tanh"), [x], {}, None
    yield "GELU (none, exact)", GELU("none"), [x], {}, None
    yield "Softmax", Softmax(), [x], {}, None
    yield "Dropout (p=0.2)", dropout, [x], {}, reseeding(dropout)
    yield "ScaledDotProductAttention", ScaledDotProductAttention(), heads, {"mask": causal_mask(T, T)}, None
    yield ("MultiHeadAttention (self, causal, padding)", randomise(MultiHeadAttention(C, H, dtype=F64, rng=0), rng),
           [x], {"causal": True, "key_padding_mask": pad_self}, None)
    yield ("MultiHeadAttention (cross, padding)", randomise(MultiHeadAttention(C, H, cross=True, dtype=F64, rng=0), rng),
           [x, context], {"key_padding_mask": pad_cross}, None)
    yield "FeedForward (gelu, dropout 0.2)", ff_drop, [x], {}, reseeding(ff_drop)
    yield "FeedForward (relu)", randomise(FeedForward(C, D_FF, "relu", dtype=F64, rng=0), rng, 0.3), [x], {}, None
    yield ("FeedForward (gelu_exact)", randomise(FeedForward(C, D_FF, "gelu_exact", dtype=F64, rng=0), rng, 0.3),
           [x], {}, None)
    yield ("Sequential (Linear, GELU, LayerNorm)",
           randomise(Sequential(Linear(C, 8, dtype=F64, rng=0), GELU(), LayerNorm(8, dtype=F64)), rng), [x], {}, None)
    yield "Branch (Linear, Identity)", randomise(Branch(Linear(C, C, dtype=F64, rng=0), Identity()), rng), [x], {}, None
    yield ("Residual (LayerNorm -> Linear)",
           randomise(Residual(Sequential(LayerNorm(C, dtype=F64), Linear(C, C, dtype=F64, rng=0))), rng), [x], {}, None)
    yield "Identity", Identity(), [x], {}, None
    yield "Add", Add(), [x, rng.standard_normal((B, T, C))], {}, None


def cross_entropy_error(rng, eps=1e-6):
    logits, targets = 2 * rng.standard_normal((B, T, V)), rng.integers(0, V, (B, T))
    weights = (rng.random((B, T)) < 0.7).astype(float)
    weights[0, 0] = 1.0
    loss = CrossEntropyLoss()
    loss(logits, targets, weights)
    analytic = loss.backward()
    numeric = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (CrossEntropyLoss()(plus, targets, weights) - CrossEntropyLoss()(minus, targets, weights)) / (2 * eps)
    return relative_error(analytic, numeric)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--max-entries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    rows = []
    for name, module, inputs, kwargs, hook in cases(rng):
        errors = gradient_check(module, inputs, kwargs, max_entries=args.max_entries, seed=args.seed,
                                before_forward=hook)
        worst = max(errors, key=errors.get)
        rows.append((name, errors[worst], worst, len(errors)))
    rows.append(("CrossEntropyLoss (weighted)", cross_entropy_error(rng), "logits", 1))

    print(f"float64, central differences eps=1e-6; B={B} T={T} S={S} C={C} H={H} V={V} d_ff={D_FF}")
    width = max(len(r[0]) for r in rows)
    print(f"| {'layer':<{width}} | worst rel. error | tensor          | tensors |")
    print(f"|{'-' * (width + 2)}|------------------|-----------------|---------|")
    for name, err, tensor, n in rows:
        print(f"| {name:<{width}} | {err:16.2e} | {tensor:<15} | {n:7d} |")
    worst = max(r[1] for r in rows)
    print(f"worst overall: {worst:.2e} ({'PASS' if worst <= TOL else 'FAIL'} at tolerance {TOL:g})")
    return 0 if worst <= TOL else 1


if __name__ == "__main__":
    sys.exit(main())
