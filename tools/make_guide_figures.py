"""Make the figures of docs/GUIDE.md (into docs/figures/) from the code itself.

    python tools/make_guide_figures.py            # a few minutes on 2 cores
    python tools/make_guide_figures.py --quick    # fewer training steps (for a smoke test)

Figures:
    sinusoidal.svg          the sinusoidal position table (positions x channels)
    causal_mask.svg         which key each query may see in a decoder
    scaling_unscaled.svg    softmax(q.k) for random d=256 vectors: almost one-hot
    scaling_scaled.svg      softmax(q.k / sqrt(d)) for the same vectors: spread out
    reverse_attention.svg   one head of a TransformerLM trained on the toy reverse task
    reverse_attention.html  all its heads and layers on a held-out example, interactive
    curves_healthy.svg      training curves of that run
    curves_lr_too_high.svg  the same run with a learning rate 100x too high
    curves_overfit.svg      modadd without weight decay: memorises, held-out loss rises
The training runs use transformer_np/train.py's Trainer, the one train_toy.py runs.
(docs/figures/grokking.svg comes from examples/grokking.py.)
"""
import argparse
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from transformer_np import viz  # noqa: E402
from transformer_np.layers import causal_mask, sinusoidal_table, softmax  # noqa: E402

FIG = os.path.join(ROOT, "docs", "figures")


# ------------------------------------------------------------------------------- toy training runs
# The same Trainer that train_toy.py runs (transformer_np/train.py), on its toy tasks.

def toy_run(out_dir, **overrides):
    """Train one toy run; returns the Trainer (its .metrics hold every evaluation, .model the model).
    A run that diverges keeps the metrics it had."""
    from transformer_np import train
    values = train.defaults_for(overrides.get("task", "reverse"), overrides.get("arch"))
    values.update(early_stop=False, out=out_dir)
    values.update(overrides)
    trainer = train.Trainer(train.TrainConfig(**values))
    try:
        trainer.run()
    except train.Diverged as e:
        print(f"(diverged, as expected for this run: {e})", file=sys.stderr)
    return trainer


# ------------------------------------------------------------------------------------------- figures

def static_figures():
    viz.write_text(os.path.join(FIG, "sinusoidal.svg"), viz.matrix_svg(
        sinusoidal_table(64, 64), title="Sinusoidal positions: PE[pos, 2i] = sin(pos / 10000^(2i/d)), "
        "PE[pos, 2i+1] = cos(...)", xlabel="channel i of the position vector (d_model = 64)",
        ylabel="position in the sequence", value_label="PE[pos, i]"))

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
    import tempfile
    steps = 150 if quick else 600
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        healthy = toy_run(os.path.join(tmp, "healthy"), task="reverse", steps=steps, eval_every=max(5, steps // 40),
                          warmup=steps // 20)
        viz.write_curves_svg(os.path.join(FIG, "curves_healthy.svg"), healthy.metrics,
                             title=f"Healthy: reverse, lr {healthy.cfg.lr:g} with warm-up and cosine decay")
        summary["healthy_final"] = healthy.metrics[-1]

        # The attention of that model on a held-out example: all heads (HTML) and the reversal head (SVG).
        viz.attention_html_for_trainer(healthy, os.path.join(FIG, "reverse_attention.html"),
                                       title="TransformerLM trained on reverse (train_toy.py --task reverse), "
                                             "a held-out example")
        ids = healthy.heldout["inputs"][0]
        labels = [viz.readable(healthy.task.render([int(i)])) for i in ids]
        model = healthy.model.eval()
        with viz.capture_attention(model) as cap:
            model.forward(ids[None])
        layers = cap.by_layer()
        sep = healthy.heldout["prompt"].shape[1] - 1          # position of the separator before the answer
        best = max(((l, h) for l in range(len(layers)) for h in range(layers[l].shape[0])),
                   key=lambda lh: _mirror_score(layers[lh[0]][lh[1]], sep))
        viz.write_attention_svg(os.path.join(FIG, "reverse_attention.svg"), layers[best[0]][best[1]], labels,
                                title=f"Reverse task, layer {best[0]} head {best[1]}")
        summary["reverse_head"] = best

        high = toy_run(os.path.join(tmp, "high"), task="reverse", steps=steps, eval_every=max(5, steps // 40),
                       warmup=steps // 20, lr=0.3)
        viz.write_curves_svg(os.path.join(FIG, "curves_lr_too_high.svg"), high.metrics,
                             title="Unhealthy: the same run with lr 0.3 (100x too high)")
        summary["lr_too_high_final"] = high.metrics[-1] if high.metrics else None

        over = toy_run(os.path.join(tmp, "over"), task="modadd", steps=steps, eval_every=max(5, steps // 40),
                       weight_decay=0.0, warmup=steps // 20)
        viz.write_curves_svg(os.path.join(FIG, "curves_overfit.svg"), over.metrics,
                             title="Unhealthy: modadd without weight decay, half the pairs held out: memorised")
        summary["overfit_final"] = over.metrics[-1]
    return summary


def _mirror_score(a, sep):
    """Mean weight that a query after the separator (at `sep`) puts on the source token it must copy
    next: query sep + j predicts the j-th source token from the end, at position sep - 1 - j."""
    t = a.shape[0]
    score = [a[q, 2 * sep - 1 - q] for q in range(sep, t) if 0 <= 2 * sep - 1 - q < t]
    return float(np.mean(score)) if score else 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--static-only", action="store_true", help="only the figures that need no training")
    args = ap.parse_args(argv)
    os.makedirs(FIG, exist_ok=True)
    static_figures()
    summary = {} if args.static_only else trained_figures(args.quick)
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
