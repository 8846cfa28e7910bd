"""Grokking on modular addition: the network memorises first and generalises much later.

Task: given the tokens `a b =` (a, b in 0..p-1, `=` is token p), predict (a + b) mod p at the last
position. A fraction of all p*p pairs is the training set, the rest is held out. With full-batch AdamW
and strong weight decay, a one-layer TransformerLM fits the training set within a hundred steps
(training accuracy 100%, held-out accuracy at or below chance, 1/p), and only thousands of steps later
does held-out accuracy climb to ~100%: weight decay slowly trades the memorising solution for a smaller one
that computes the sum (Power et al. 2022, "Grokking"; Nanda et al. 2023 for the mechanism).

    python examples/grokking.py           # p = 59, 40% of pairs: 2-4 minutes on 2 idle cores, <= 10 busy
    python examples/grokking.py --p 97 --frac 0.3 --lr 1e-3 --weight-decay 1 --max-steps 20000 --time-limit 3600

Writes docs/figures/grokking.svg (loss and accuracy vs step: on a log step axis, where the memorising
phase is visible, and again on a linear one, where the held-out climb is), the metrics as JSON lines
and the summary as JSON next to it, and prints the summary with the two step counts:
    train_100_step   first step at which training accuracy is 100%
    heldout_95_step  first step at which held-out accuracy is >= 95%

    python examples/grokking.py --replot  # redraw the figure from the saved metrics, without training
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# Small matrices: one BLAS thread is faster than two fighting over a busy machine (set before numpy loads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from transformer_np import AdamW, CrossEntropyLoss, TransformerLM  # noqa: E402
from transformer_np.optim import decay_groups  # noqa: E402
from transformer_np.viz import curves_svg, load_metrics, write_text  # noqa: E402
from transformer_np.viz.svg import svg_document, text  # noqa: E402


def modular_addition_data(p, frac, seed, symmetric_split=True):
    """All pairs (a, b) as inputs `a b =` (token p is `=`), targets (a + b) mod p; a random `frac` of
    them for training, the rest held out. Returns (x_train, y_train, x_held, y_held).

    symmetric_split: (a, b) and (b, a) go to the same side. Otherwise a model that has only memorised
    its training pairs, but treats its two inputs alike, already answers the held-out (b, a) of every
    training (a, b): held-out accuracy would sit at about `frac` before any real generalisation,
    instead of at chance (1/p)."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    x = np.stack([a, b, np.full_like(a, p)], axis=1).astype(np.int64)      # (p*p, 3)
    y = (a + b) % p
    rng = np.random.default_rng(seed)
    if symmetric_split:
        key = np.minimum(a, b) * p + np.maximum(a, b)                       # one id per unordered pair
        unordered = np.unique(key)
        chosen = rng.permutation(unordered)[: int(round(frac * len(unordered)))]
        in_train = np.isin(key, chosen)
        tr, ho = rng.permutation(np.flatnonzero(in_train)), np.flatnonzero(~in_train)
    else:
        perm = rng.permutation(len(x))
        n_train = int(round(frac * len(x)))
        tr, ho = perm[:n_train], perm[n_train:]
    return x[tr], y[tr], x[ho], y[ho]


def last_position_targets(y):
    """Targets and loss mask for (N, 3) inputs: only the last position (after `=`) is scored."""
    targets = np.zeros((len(y), 3), dtype=np.int64)
    targets[:, -1] = y
    weights = np.zeros((len(y), 3))
    weights[:, -1] = 1.0
    return targets, weights


def evaluate(model, x, y, batch=4096):
    """(loss, accuracy) on the answer position, without keeping anything for backward."""
    total_loss, correct = 0.0, 0
    for i in range(0, len(x), batch):
        logits = model.forward(x[i:i + batch], last_only=True)[:, -1].astype(np.float64)   # (n, V)
        logits -= logits.max(axis=-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        yb = y[i:i + batch]
        total_loss += float(-log_probs[np.arange(len(yb)), yb].sum())
        correct += int((log_probs.argmax(axis=-1) == yb).sum())
    return total_loss / len(x), correct / len(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--p", type=int, default=59, help="the modulus (a prime)")
    ap.add_argument("--frac", type=float, default=0.4, help="fraction of all pairs used for training")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--d-ff", type=int, default=256)
    ap.add_argument("--n-layers", type=int, default=1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=2.0)
    ap.add_argument("--max-steps", type=int, default=6000)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--extra-steps", type=float, default=0.25,
                    help="after held-out accuracy reaches 99%%, keep training this fraction of the steps so far")
    ap.add_argument("--time-limit", type=float, default=840.0, help="stop after this many seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ordered-split", action="store_true",
                    help="split ordered pairs at random ((a, b) and (b, a) may fall on different sides)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs",
                                                  "figures", "grokking.svg"))
    ap.add_argument("--replot", action="store_true",
                    help="only redraw --out from the metrics and summary saved next to it by an earlier run")
    args = ap.parse_args(argv)
    stem = os.path.splitext(args.out)[0]
    if args.replot:
        summary = json.load(open(stem + ".summary.json"))
        write_text(args.out, grokking_svg(load_metrics(stem + ".jsonl"), summary["train_100_step"],
                                          summary["heldout_95_step"], _title(argparse.Namespace(**summary))))
        print(json.dumps({"svg": os.path.relpath(args.out)}))
        return summary

    x_tr, y_tr, x_ho, y_ho = modular_addition_data(args.p, args.frac, args.seed,
                                                   symmetric_split=not args.ordered_split)
    targets, weights = last_position_targets(y_tr)
    model = TransformerLM(vocab_size=args.p + 1, d_model=args.d_model, n_heads=args.n_heads,
                          n_layers=args.n_layers, d_ff=args.d_ff, max_len=3, seed=args.seed,
                          activation="relu")
    # Strong decoupled weight decay on the matrices (not on biases and LayerNorm gains) drives grokking.
    opt = AdamW(decay_groups(model.named_parameters(), args.weight_decay), lr=args.lr, betas=(0.9, 0.98))
    loss_fn = CrossEntropyLoss()

    metrics, train_100, heldout_95, heldout_99 = [], None, None, None
    metrics_path = stem + ".jsonl"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    start = time.time()
    stop_at = args.max_steps
    step = 0
    for step in range(1, args.max_steps + 1):
        model.train()
        opt.zero_grad()
        logits = model.forward(x_tr)                                   # (N, 3, V): full batch
        loss = loss_fn.forward(logits, targets, weights)               # only the answer position counts
        train_acc = float((logits[:, -1].argmax(axis=-1) == y_tr).mean())
        model.backward(loss_fn.backward())
        opt.step()
        # Accuracy of the weights *before* this step's update (what the forward pass saw).
        if train_100 is None and train_acc == 1.0:
            train_100 = step
        if step % args.eval_every == 0 or step == 1 or step == stop_at:
            model.eval()
            held_loss, held_acc = evaluate(model, x_ho, y_ho)
            metrics.append({"step": step, "train_loss": loss, "train_acc": train_acc,
                            "heldout_loss": held_loss, "heldout_acc": held_acc,
                            "time": round(time.time() - start, 2)})
            if heldout_95 is None and held_acc >= 0.95:
                heldout_95 = step
            if heldout_99 is None and held_acc >= 0.99:
                heldout_99 = step
                stop_at = min(stop_at, step + int(args.extra_steps * step))
            if step % (args.eval_every * 50) == 0:
                print(json.dumps(metrics[-1]), flush=True)
                write_text(args.out, curves_svg(metrics, log_x=True, title=_title(args)))
        if step >= stop_at or time.time() - start > args.time_limit:
            break

    elapsed = time.time() - start
    with open(metrics_path, "w") as f:
        for m in metrics:
            f.write(json.dumps(m) + "\n")
    write_text(args.out, grokking_svg(metrics, train_100, heldout_95, _title(args)))
    summary = {"p": args.p, "frac": args.frac, "n_train": len(x_tr), "n_heldout": len(x_ho),
               "d_model": args.d_model, "n_heads": args.n_heads, "d_ff": args.d_ff, "n_layers": args.n_layers,
               "lr": args.lr, "weight_decay": args.weight_decay, "seed": args.seed,
               "split": "ordered" if args.ordered_split else "symmetric",
               "train_100_step": train_100, "heldout_95_step": heldout_95, "heldout_99_step": heldout_99,
               "steps": step, "final": metrics[-1] if metrics else None, "seconds": round(elapsed, 1),
               "svg": os.path.relpath(args.out)}
    with open(stem + ".summary.json", "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))
    return summary


def grokking_svg(metrics, train_100, heldout_95, title):
    """Two rows of curves: log steps (the memorising phase, the first hundred steps, gets room) over
    linear steps (the held-out climb, late in the run, gets room). Dashed lines mark the two moments;
    their labels sit in the caption under the title, clear of the curves."""
    marks = [("", s) for s in (train_100, heldout_95) if s is not None]
    width, row_h, head = 960, 360, 58
    rows = [curves_svg(metrics, log_x=log_x, marks=marks, width=width, height=row_h)
            for log_x in (True, False)]
    body = [text(width / 2, 24, title, 15, font_weight="bold")]
    said = [f"training accuracy 100% at step {train_100}" if train_100 else "training accuracy never 100%",
            f"held-out accuracy 95% at step {heldout_95}" if heldout_95 else "held-out accuracy never 95%"]
    body.append(text(width / 2, 44, "dashed lines: " + "; ".join(said) + ". Top: log steps. Bottom: linear steps.",
                     12, fill="#333"))
    for i, svg in enumerate(rows):
        inner = svg.split("?>", 1)[1].replace('id="clip-', f'id="clip{i}-').replace("url(#clip-", f"url(#clip{i}-")
        inner = inner.replace("<svg ", f'<svg x="0" y="{head + i * row_h}" ', 1)
        body.append(inner)
    return svg_document(width, head + 2 * row_h, "\n".join(body) + "\n", title=title)


def _title(args):
    return (f"Grokking: (a + b) mod {args.p}, {args.frac:.0%} of pairs for training, "
            f"{args.n_layers}-layer TransformerLM, AdamW wd={args.weight_decay:g}")


if __name__ == "__main__":
    main()
