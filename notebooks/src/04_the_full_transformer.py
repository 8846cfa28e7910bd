# %% [markdown]
# # 4. The full Transformer: encoder, decoder, cross-attention
#
# The 2017 paper's model has two stacks: an **encoder** reads the whole source at once (no mask: every
# position sees every other), and a **decoder** writes the target one token at a time (causal
# self-attention over what it has written so far, plus **cross-attention** to the encoder's output).
# TransformerLM is the decoder alone; the encoder alone, with a pooled head, is a BERT-style classifier.
# The library builds all three from the same layers.
#
# 1. the encoder-decoder's diagram;
# 2. training it on the reverse task, and what its cross-attention reads;
# 3. Trax's `1 0 1 0` example: continue an alternating sequence;
# 4. the encoder-only classifier.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))         # the checkout's root, when run from notebooks/
import numpy as np

from transformer_np import viz
from transformer_np.train import TrainConfig, Trainer, defaults_for
from transformer_np.viz.notebook import fast_mode, show, table

FAST = fast_mode()


def train(task, arch=None, steps=None, **overrides):
    """A toy run with train_toy.py's defaults for the task (early stop at 100% held-out sequences)."""
    values = dict(defaults_for(task, arch), length=6, n_symbols=12, eval_size=128,
                  out=f"runs/nb04-{task}-{arch or 'default'}")
    values.update(overrides)
    if FAST:
        values.update(steps=20, eval_every=10)
    elif steps:
        values.update(steps=steps)
    trainer = Trainer(TrainConfig(**values))
    summary = trainer.run()
    print(f"{task} / {trainer.cfg.arch}: {summary['steps']} steps, held-out sequence accuracy "
          f"{summary['sequence_accuracy']:.3f}, {summary['parameters']:,} parameters")
    return trainer


# %% [markdown]
# ## 4.1 The architecture
#
# Left, the encoder: source embedding plus sinusoidal positions, then blocks of (self-attention without
# a mask, MLP). Right, the decoder: the same, but its self-attention is causal and between the two sits
# cross-attention, whose queries come from the decoder and whose keys and values come from the
# encoder's output, the *memory*. The same memory feeds every decoder block. Shapes for a batch of B
# sources of 6 tokens and targets of 6.

# %% stable
from transformer_np import Transformer

example = Transformer(src_vocab_size=13, tgt_vocab_size=13, d_model=64, n_heads=4, n_layers=2, d_ff=256,
                      max_len=8, pre_ln=True, activation="gelu", seed=0)
show(viz.encoder_decoder_diagram_svg(example, src_len=6, tgt_len=6))

# %% [markdown]
# ## 4.2 Reversal with an encoder-decoder
#
# The source is `x1 .. x6`; the decoder starts from the token 0 and must write `x6 .. x1`. Unlike the
# decoder-only model of notebook 2, no loss mask is needed: the decoder only ever writes answers.

# %%
reverse = train("reverse", "seq2seq", steps=1500, eval_every=100)

# %% [markdown]
# What does the decoder read? For each target position, cross-attention's weights over the source
# positions. Writing the first answer token (which is x6) it should look at the last source token, and
# so on backwards: an anti-diagonal. The first decoder layer does exactly that; the second, which
# reads a stream that already holds the answer, is more diffuse.

# %%
model = reverse.model.eval()
src, tgt_in = reverse.heldout["src"][0], reverse.heldout["tgt_in"][0]
render = reverse.task.render
src_labels = [render([i]) for i in src]
tgt_labels = [render([i]) for i in tgt_in]
with viz.capture_attention(model) as cap:
    model.forward(src[None], tgt_in[None])
cross = cap.by_layer("cross")                                   # [(H, T, S) per decoder layer]
for l, heads in enumerate(cross):
    show(viz.heatmap_svg(heads.mean(axis=0), tgt_labels, src_labels, cell=28,
                         title=f"cross-attention, decoder layer {l}, mean of the heads"))

# %%
answer = model.generate(src[None], len(src), start_id=0, temperature=0)[0, 1:]
first = cross[0].mean(axis=0)                                   # decoder layer 0, mean of the heads
print("source:", render(src), "   model writes:", render(answer))
for t in range(len(tgt_in)):
    s = int(first[t].argmax())
    print(f"writing answer token {t} ({render([answer[t]])}): layer 0 reads source position {s} "
          f"({src_labels[s]}) with weight {first[t, s]:.2f}")

# %% [markdown]
# The encoder's own self-attention sees the whole source in both directions (no triangle), and the
# decoder's self-attention is causal. All three kinds, for every layer and head, on one interactive
# page (open it in a browser):

# %%
page = viz.attention_html_for_seq2seq(model, src, tgt_in, src_labels, tgt_labels, "runs/nb04-seq2seq.html")
print("wrote", page)
enc_self = [a for name, a in zip([n for n, m, r in cap.layers if not m.cross and r], cap.by_layer("self"))
            if name.startswith("encoder.")]
show(viz.heatmap_svg(enc_self[0][0], src_labels, title="encoder layer 0, head 0: no mask", cell=28))

# %% [markdown]
# ## 4.3 Trax's `1 0 1 0` example
#
# The Trax TransformerLM introduction (this project's seed) continues the sequence `1 0 1 0 ...`. Our
# `alternate` task is that with random symbols: the prompt is `0 a b`, the answer continues
# `a b a b ...`. A decoder-only TransformerLM learns it in about a hundred steps; each answer position
# learns to look two positions back.

# %%
alternate = train("alternate", steps=500)
lm = alternate.model.eval()
task = alternate.task
for i in range(3):
    prompt = alternate.heldout["prompt"][i]
    out = lm.generate(prompt[None], task.length, temperature=0)[0]
    print(task.render(prompt), "->", task.render(out[len(prompt):]))
# Trax's own prompt, in the task's notation (values, with `|` for the separator token).
trax_prompt = task.prompt_ids("1 0")
print("Trax's example:", task.render(trax_prompt), "->",
      task.render(lm.generate(trax_prompt[None], task.length, temperature=0)[0][len(trax_prompt):]))
ids = alternate.heldout["inputs"][0]
with viz.capture_attention(lm) as cap:
    lm.forward(ids[None])
labels = [task.render([i]) for i in ids]
show(viz.heatmap_svg(cap.by_layer()[-1].mean(axis=0), labels, cell=26,
                     title="alternate: last layer, mean of the heads"))

# %% [markdown]
# ## 4.4 The encoder-only classifier (BERT-style)
#
# For a label per sequence, no decoder is needed: the encoder reads the sequence, the vectors of all
# positions are averaged (mean pooling), and a Linear layer gives one score per class
# (`EncoderClassifier`). The `classify` task asks: is the sequence sorted? Half the examples are.

# %%
classify = train("classify", steps=1000)
clf = classify.model.eval()
held = classify.heldout
logits = clf.forward(held["inputs"][:6])
for seq, label, guess in zip(held["inputs"][:6], held["targets"][:6], logits.argmax(axis=-1)):
    print(f"{classify.task.render(seq):24s} sorted: {bool(label)!s:5s}  model says: {bool(guess)}")

# %% [markdown]
# Its attention has no causal triangle: to decide "sorted", every position can compare itself with its
# neighbours on both sides.

# %%
ids = held["inputs"][0]
with viz.capture_attention(clf) as cap:
    clf.forward(ids[None])
labels = [classify.task.render([i]) for i in ids]
show(viz.heatmap_svg(cap.by_layer()[0].mean(axis=0), labels, cell=30,
                     title="classifier, encoder layer 0, mean of the heads"))
show(table([["encoder-decoder (reverse)", f"{reverse.model.num_parameters():,}", reverse.metrics[-1]["sequence_accuracy"]],
            ["decoder-only LM (alternate)", f"{lm.num_parameters():,}", alternate.metrics[-1]["sequence_accuracy"]],
            ["encoder-only classifier (sorted?)", f"{clf.num_parameters():,}", classify.metrics[-1]["sequence_accuracy"]]],
           ["model", "parameters", "held-out accuracy"]))

# %% [markdown]
# ## Exercises
#
# 1. Train the reverse task with `arch="lm"` (notebook 2's decoder-only model) and compare its parameter
#    count with the encoder-decoder's. Where do the extra parameters of the encoder-decoder go?
#
# <details><summary>Answer</summary>
#
# The encoder-decoder has two stacks (an encoder block per decoder block), and every decoder block has
# a cross-attention (c_q, c_kv, c_proj: 4 C^2 + 4 C) with its LayerNorm, plus an untied output layer
# (GUIDE section 7 has the formulas). For the same d_model and layers it has roughly twice the
# parameters; the decoder-only model does the same job by reading source and answer as one sequence.
# </details>
#
# 2. In 4.2, feed the model a source with two tokens swapped. Does the cross-attention picture move
#    with them?
#
# <details><summary>Answer</summary>
#
# No: cross-attention here looks up *positions* (answer token t reads source position 5 - t), not
# token values, so the pattern stays on the anti-diagonal and the output swaps accordingly. That is
# the rule of reversal; a sorting model's cross-attention would instead follow the values.
# </details>
#
# 3. Why can the classifier use attention without a mask, while the LM cannot?
#
# <details><summary>Answer</summary>
#
# The classifier predicts one label from the whole sequence, which is all given at once; nothing is
# to be predicted from the positions it reads. The LM predicts each next token from the ones before
# it, so a position must not see the token it is predicting: the causal mask enforces that.
# </details>
