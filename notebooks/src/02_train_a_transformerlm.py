# %% [markdown]
# # 2. Train a TransformerLM
#
# In this notebook we train small decoder-only Transformers with the library's own training loop,
# `transformer_np.train.Trainer` (the one behind `python train_toy.py`), every gradient computed by a
# handwritten backward pass:
#
# 1. a toy task, **reversing a sequence**, where the loss counts only the answer (the *loss mask*);
# 2. **tiny Shakespeare**, a character-level language model, with samples at checkpoints;
# 3. what **healthy and unhealthy** training curves look like.
#
# The cells run top to bottom in plain Python too. With `TNP_NOTEBOOK_FAST=1` in the environment they
# train for a few steps only (that is how the tests run them); the outputs stored here come from the
# full run.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))         # the checkout's root, when run from notebooks/
import numpy as np

from transformer_np import viz
from transformer_np.train import Diverged, TrainConfig, Trainer, defaults_for
from transformer_np.viz.notebook import fast_mode, shakespeare_path, show, table

FAST = fast_mode()
RUNS = Path("runs")                                  # checkpoints and metrics.jsonl go here (git-ignored)

# %% [markdown]
# ## 2.1 The reverse task and its loss mask
#
# A toy task draws problems: a source of random symbols and its answer. Token 0 is the separator, the
# symbols are 1..n. A decoder-only model sees the problem as one sequence, `0 source 0 answer`, and at
# every position predicts the next token. The source is random, so predicting *it* is hopeless and
# would only add noise to the loss: the **loss mask** (the `weights`) is 1 exactly where the target is
# an answer token and 0 elsewhere.

# %% stable
from transformer_np.tasks import make_task

task = make_task("reverse", length=6, n_symbols=12)
batch = task.batch(np.random.default_rng(0), 3, "lm")
for name in ("prompt", "answer", "inputs", "targets", "weights"):
    print(f"{name:8s}", batch[name][0].tolist())

# %% [markdown]
# Position t of `inputs` predicts position t of `targets` (the same sequence shifted by one). The
# picture shows the three examples of the batch: each row is one example's targets, coloured by its
# weight. Only the answer half is scored.

# %% stable
labels = [[str(t) for t in row] for row in batch["targets"]]
show(viz.matrix_svg(batch["weights"], title="The loss mask: 1 where the target is an answer token",
                    xlabel="target position t (the cell: its weight)", ylabel="example (its targets)", diverging=False,
                    digits=0, col_labels=[f"t{i}" for i in range(batch["weights"].shape[1])],
                    row_labels=[" ".join(l[:7]) + " \u2026" for l in labels], value_label="weight"))

# %% [markdown]
# Now train. `defaults_for("reverse")` gives the settings `train_toy.py` uses (AdamW, warm-up then
# cosine decay, gradient clipping at norm 1); we shorten the sequence a little. Training stops early
# once every held-out answer is right.

# %%
config = TrainConfig(**dict(defaults_for("reverse"), length=6, n_symbols=12, steps=20 if FAST else 800,
                            eval_every=10, eval_size=128 if FAST else 256,
                            out=str(RUNS / "nb02-reverse")))
reverse = Trainer(config)
print(f"{reverse.model.num_parameters():,} parameters")


def log(trainer, metrics):
    m = metrics[-1]
    print(f"step {m['step']:4d}  train loss {m['train_loss']:.3f}  held-out loss {m['heldout_loss']:.3f}  "
          f"sequence accuracy {m['sequence_accuracy']:.3f}")


summary = reverse.run(on_eval=log)
print(summary["stopped"])

# %%
show(viz.curves_svg(reverse.metrics, title="Reverse: loss and accuracy against step"))

# %% [markdown]
# The held-out problems and the model's greedy answers:

# %%
for i in range(4):
    prompt = task.render(reverse.heldout["prompt"][i])
    answer = task.render(reverse.predictions[i])
    right = task.render(reverse.heldout["answer"][i])
    print(f"{prompt:24s} -> {answer:18s} {'ok' if answer == right else 'wrong, want ' + right}")

# %% [markdown]
# ## 2.2 Tiny Shakespeare, one character at a time
#
# The same Trainer on text: `task="text"` cuts the file into windows of `block_size` characters; every
# position is scored (no mask: every next character is worth predicting). The first 90% of the text
# trains, the last 10% is held out. At each evaluation we let the model write 150 characters, so you
# can watch it go from noise to words to something shaped like a play.

# %%
SHAKESPEARE = shakespeare_path()
if SHAKESPEARE is None:
    print("tinyshakespeare.txt not found (looked in ../shared/data/ next to the checkout and $TNP_SHAKESPEARE):"
          " the Shakespeare cells skip")
else:
    text_config = TrainConfig(**dict(defaults_for("text"), data=str(SHAKESPEARE), block_size=32, d_model=64,
                                     n_layers=2, n_heads=4, d_ff=256, batch_size=32, lr=3e-3, warmup=30,
                                     steps=10 if FAST else 600, eval_every=5 if FAST else 150,
                                     eval_size=16 if FAST else 128, out=str(RUNS / "nb02-shakespeare")))
    shakespeare = Trainer(text_config)
    print(f"{shakespeare.task.vocab_size} characters, {len(shakespeare.task.train_ids):,} training characters, "
          f"{shakespeare.model.num_parameters():,} parameters")


def sample(trainer, start="\n", n=150, seed=0):
    """Let the model write n characters after `start` (temperature 0.8, top-k 20: see notebook 01).
    The context window is only block_size characters: sliding_window keeps the last ones."""
    prompt = np.array([trainer.task.encode(start)])
    out = trainer.model.generate(prompt, n, temperature=0.8, top_k=20, seed=seed, sliding_window=True)
    return trainer.task.decode(out[0])


def log_with_sample(trainer, metrics):
    m = metrics[-1]
    print(f"--- step {m['step']}: train loss {m['train_loss']:.3f}, held-out loss {m['heldout_loss']:.3f}")
    print(sample(trainer).strip())


if SHAKESPEARE is not None:
    shakespeare.run(on_eval=log_with_sample)

# %%
if SHAKESPEARE is not None:
    show(viz.curves_svg(shakespeare.metrics, title="Tiny Shakespeare, characters: loss against step"))

# %% [markdown]
# A loss of ln 65 = 4.17 is guessing uniformly among the 65 characters; a table of which character
# follows which (a bigram model) reaches about 2.5 (notebook 06 measures it). Every step below that is
# the model using context: spelling words, closing lines, putting names before speeches. This small
# run gets to about 2.1 in 600 steps; notebook 06 builds the way down one idea at a time.

# %% [markdown]
# ## 2.3 Healthy and unhealthy curves
#
# Three runs of the reverse task that differ only in the learning rate. Healthy (3e-3): the loss falls
# fast and train and held-out curves lie on each other (the model learns the rule, not the examples).
# Too high (0.3, 100x): while the warm-up keeps the rate small the model learns, then as the rate
# climbs to 0.3 the updates throw the weights away from what they found: the loss jumps back to the
# level of guessing (ln 12 = 2.5) and accuracy collapses, recovering only a little as the cosine
# schedule lowers the rate again. (Higher still, the run can die with a NaN; `Trainer` then stops
# with a clear error and keeps the last good checkpoint.) Too low (3e-5): everything is right but
# slow; the curve is still falling, far above where it should be, when the steps run out.

# %%
def reverse_run(name, lr, steps):
    cfg = TrainConfig(**dict(defaults_for("reverse"), length=6, n_symbols=12, steps=steps, lr=lr,
                             eval_every=max(5, steps // 20), eval_size=128, early_stop=False,
                             out=str(RUNS / f"nb02-{name}")))
    trainer = Trainer(cfg)
    try:
        trainer.run()
    except Diverged as e:
        print(f"{name}: {e}")
    return trainer


steps = 20 if FAST else 400
runs = {"healthy (lr 3e-3)": reverse_run("healthy", 3e-3, steps),
        "too high (lr 0.3)": reverse_run("high", 0.3, steps),
        "too low (lr 3e-5)": reverse_run("low", 3e-5, steps)}
rows = [[name, t.metrics[-1]["step"], t.metrics[-1]["heldout_loss"], t.metrics[-1]["sequence_accuracy"]]
        for name, t in runs.items() if t.metrics]
show(table(rows, ["run", "last evaluation at step", "held-out loss", "sequence accuracy"]))

# %%
for name, t in runs.items():
    if t.metrics:
        show(viz.curves_svg(t.metrics, title=name, width=760, height=300))

# %% [markdown]
# What to look for in your own runs:
#
# * **Loss flat at ln(vocabulary size) from the start**: nothing is learned. Learning rate far too high
#   (or zero), a bug in the data (targets not shifted?), or a mask that scores nothing.
# * **Spikes that undo progress**: learning rate somewhat too high; lower it, lengthen the warm-up,
#   clip gradients.
# * **Train loss falls, held-out loss rises**: memorising (overfitting). More data, weight decay,
#   dropout, a smaller model, or stop early. (Memorising can also come first and understanding
#   much later: `python examples/grokking.py` shows it:
#   [its curves](../docs/figures/grokking.svg).)
# * **Both still falling at the end**: train longer or raise the learning rate.

# %% [markdown]
# ## Exercises
#
# 1. Change `n_heads` in the reverse config to 1 (`n_heads=1`) and rerun 2.1. What happens to the
#    number of parameters, and to the steps needed?
#
# <details><summary>Answer</summary>
#
# The parameter count does not change at all: heads slice the d_model channels, they add no weights.
# One head of 64 channels still learns reversal, which needs only one "look at the mirror position"
# pattern: measured here, it reached 100% held-out sequences at the same evaluation, step 100, as the
# 4-head model. Tasks that need several things looked up at once (sorting, text) suffer more.
# </details>
#
# 2. Set every weight of the loss mask to 1 (train on the random source too: in
#    `transformer_np/tasks.py::ToyTask.make_batch`, or by overwriting `batch["weights"]` in a custom
#    loop). What happens to the training loss, and to sequence accuracy?
#
# <details><summary>Answer</summary>
#
# The loss can no longer go to 0: six of the thirteen scored targets are random source symbols, each
# costing at least ln 12 = 2.5 nats, so the average stays above 6 x 2.5 / 13 = 1.15 even when every
# answer is right. Accuracy still climbs (the answer part is learnable), but most of the gradient is
# now spent on the unlearnable part.
# </details>
#
# 3. Sample the Shakespeare model with temperature 0 (greedy) instead of 0.8. What do you see?
#
# <details><summary>Answer</summary>
#
# Repetition: greedy decoding picks the single most likely character every time and soon falls into a
# loop ("the the the", or a line repeated). Sampling with a moderate temperature keeps variety; see
# notebook 01 for the knobs side by side.
# </details>
