"""Make the figures of docs/GUIDE.md (into docs/figures/) from the code itself.

    python tools/make_guide_figures.py            # a few minutes on 2 cores
    python tools/make_guide_figures.py --quick    # fewer training steps (for a smoke test)

Figures:
    sinusoidal.svg          the sinusoidal position table (positions x channels)
    causal_mask.svg         which key each query may see in a decoder
    scaling_unscaled.svg    softmax(q.k) for random d=256 vectors: almost one-hot
    scaling_scaled.svg      softmax(q.k / sqrt(d)) for the same vectors: spread out
    reverse_attention.svg   one head of a small TransformerLM trained to reverse a sequence
    reverse_attention.html  all its heads and layers, interactive
    curves_healthy.svg      training curves of that run
    curves_lr_too_high.svg  the same run with a learning rate 30x too high
    curves_overfit.svg      the same model on a tiny training set: memorises, held-out loss rises
(docs/figures/grokking.svg comes from examples/grokking.py.)
"""
import argparse
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from transformer_np import AdamW, CrossEntropyLoss, TransformerLM, viz  # noqa: E402
from transformer_np.layers import causal_mask, sinusoidal_table, softmax  # noqa: E402
from transformer_np.optim import clip_grad_norm, decay_groups, warmup_cosine  # noqa: E402

FIG = os.path.join(ROOT, "docs", "figures")


# -------------------------------------------------------------------------------- the reverse task
# Sequence: BOS x_1 .. x_n SEP x_n .. x_1 with n symbols from a small alphabet. The model reads it left
# to right and must produce the reversed half; the loss mask scores only the positions after SEP.

N_SYMBOLS, N = 10, 6
BOS, SEP = N_SYMBOLS, N_SYMBOLS + 1
VOCAB = N_SYMBOLS + 2
NAMES = [str(i) for i in range(N_SYMBOLS)] + ["<s>", "|"]


def reverse_batch(rng, size):
    x = rng.integers(0, N_SYMBOLS, size=(size, N))
    seq = np.concatenate([np.full((size, 1), BOS), x, np.full((size, 1), SEP), x[:, ::-1]], axis=1)
    inputs, targets = seq[:, :-1], seq[:, 1:]
    mask = np.zeros(targets.shape)
    mask[:, N:] = 1.0                       # predict x_n .. x_1, the tokens after SEP
    return inputs, targets, mask


def train_reverse(steps, lr, train_size=None, seed=0, eval_every=20, batch=64):
    """Train a 2-layer TransformerLM on the reverse task; returns (model, metrics). With train_size, the
    training set is that many fixed sequences (to show overfitting); otherwise fresh samples each step."""
    rng = np.random.default_rng(seed)
    model = TransformerLM(VOCAB, d_model=48, n_heads=2, n_layers=2, d_ff=96, max_len=2 * N + 2, seed=seed)
    opt = AdamW(decay_groups(model.named_parameters(), 0.01 if train_size is None else 0.0), lr=lr,
                betas=(0.9, 0.98))
    loss_fn = CrossEntropyLoss()
    held = reverse_batch(np.random.default_rng(10_000 + seed), 512)
    fixed = reverse_batch(rng, train_size) if train_size else None
    metrics = []
    for step in range(1, steps + 1):
        if fixed is not None:
            pick = rng.integers(0, train_size, size=min(batch, train_size))
            x, y, w = (a[pick] for a in fixed)
        else:
            x, y, w = reverse_batch(rng, batch)
        opt.lr = warmup_cosine(step - 1, lr, max(1, steps // 20), steps, lr * 0.1)
        model.train()
        opt.zero_grad()
        logits = model.forward(x)
        loss = loss_fn.forward(logits, y, w)
        model.backward(loss_fn.backward())
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()
        if step % eval_every == 0 or step == 1:
            model.eval()
            rec = {"step": step, "train_loss": loss, "train_acc": _acc(logits, y, w)}
            if fixed is not None:                          # the whole (tiny) training set
                fl = model.forward(fixed[0])
                rec["train_loss"] = loss_fn.forward(fl, fixed[1], fixed[2])
                rec["train_acc"] = _acc(fl, fixed[1], fixed[2])
            hl = model.forward(held[0])
            rec.update(heldout_loss=loss_fn.forward(hl, held[1], held[2]), heldout_acc=_acc(hl, held[1], held[2]),
                       lr=opt.lr)
            metrics.append(rec)
    return model, metrics


def _acc(logits, y, w):
    return float(((logits.argmax(-1) == y) * w).sum() / w.sum())


# ------------------------------------------------------------------------------------------- figures

def static_figures():
    viz.write_text(os.path.join(FIG, "sinusoidal.svg"), viz.matrix_svg(
        sinusoidal_table(64, 64), title="Sinusoidal positions: PE[pos, 2i] = sin(pos / 10000^(2i/d)), "
        "PE[pos, 2i+1] = cos(...)", xlabel="channel (d_model = 64)", ylabel="position"))

    tokens = ["<s>", "the", "\u2423cat", "\u2423sat", "\u2423on", "\u2423it"]
    mask = causal_mask(len(tokens), len(tokens)).astype(float)
    viz.write_attention_svg(os.path.join(FIG, "causal_mask.svg"), mask, tokens,
                            title="Causal mask: query i may attend to keys 0..i")

    rng = np.random.default_rng(0)
    d, T = 256, 8
    q, k = rng.normal(size=(T, d)), rng.normal(size=(T, d))
    labels = [f"t{i}" for i in range(T)]
    viz.write_attention_svg(os.path.join(FIG, "scaling_unscaled.svg"), softmax(q @ k.T), labels,
                            title=f"softmax(q\u00b7k), d = {d}: nearly one-hot")
    viz.write_attention_svg(os.path.join(FIG, "scaling_scaled.svg"), softmax(q @ k.T / np.sqrt(d)), labels,
                            title=f"softmax(q\u00b7k / \u221a{d}): spread out")


def trained_figures(quick=False):
    steps = 150 if quick else 600
    summary = {}
    model, healthy = train_reverse(steps, lr=3e-3)
    viz.write_curves_svg(os.path.join(FIG, "curves_healthy.svg"), healthy,
                         title="Healthy: reverse task, lr 3e-3 with warm-up + cosine")
    summary["healthy_final"] = healthy[-1]

    x, _, _ = reverse_batch(np.random.default_rng(7), 1)
    ids = x[0]
    labels = [NAMES[i] for i in ids]
    viz.attention_html_for_lm(model, ids, labels, os.path.join(FIG, "reverse_attention.html"),
                              title="A 2-layer TransformerLM trained to reverse: " + " ".join(labels))
    with viz.capture_attention(model.eval()) as cap:
        model.forward(ids[None])
    layers = cap.by_layer()
    # The head that looks at the mirror position most: the reversal head.
    best = max(((l, h) for l in range(len(layers)) for h in range(layers[l].shape[0])),
               key=lambda lh: _mirror_score(layers[lh[0]][lh[1]]))
    viz.write_attention_svg(os.path.join(FIG, "reverse_attention.svg"), layers[best[0]][best[1]], labels,
                            title=f"Reverse task, layer {best[0]} head {best[1]}")
    summary["reverse_head"] = best

    _, high = train_reverse(steps, lr=1e-1)
    viz.write_curves_svg(os.path.join(FIG, "curves_lr_too_high.svg"), high,
                         title="Unhealthy: the same run with lr 1e-1 (30x too high)")
    summary["lr_too_high_final"] = high[-1]

    _, over = train_reverse(steps, lr=3e-3, train_size=48)
    viz.write_curves_svg(os.path.join(FIG, "curves_overfit.svg"), over,
                         title="Unhealthy: 48 training sequences, memorised; held-out loss rises")
    summary["overfit_final"] = over[-1]
    return summary


def _mirror_score(a):
    """Mean weight a query after SEP puts on the token it must copy next (its mirror before SEP)."""
    t = a.shape[0]
    sep = N + 1                                    # position of SEP in the input
    score = [a[q, 2 * sep - q - 1] for q in range(sep, t) if 0 <= 2 * sep - q - 1 < t]
    return float(np.mean(score)) if score else 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(FIG, exist_ok=True)
    static_figures()
    summary = trained_figures(args.quick)
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
