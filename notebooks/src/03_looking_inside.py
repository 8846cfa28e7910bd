# %% [markdown]
# # 3. Looking inside a TransformerLM
#
# What is in the model, what happens to the numbers on the way from token ids to next-token scores,
# what a trained model's attention heads look at, why generation keeps a key/value cache, and how a block
# is put together from smaller layers.
#
# 1. the model's parts, shapes and parameter counts, and its architecture diagram;
# 2. **one forward pass step by step** on a tiny model, with the real numbers: every step computed by
#    hand with NumPy and checked against the library's layer;
# 3. the attention heads of a trained model, and bertviz's *neuron view* (where each score comes from);
# 4. the key/value cache, which is Trax's *predict mode*;
# 5. GPT-2 -> Llama;
# 6. the combinators `Sequential` (Trax's `Serial`), `Branch` and `Residual` as pictures, and a decoder
#    block built from them.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))         # the checkout's root, when run from notebooks/
import numpy as np

from transformer_np import TransformerLM, viz
from transformer_np.layers import causal_mask
from transformer_np.viz.notebook import fast_mode, show, table

FAST = fast_mode()
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 3.1 What is in the model
#
# A TransformerLM the size of the toy runs in notebook 2: a vocabulary of 13 tokens, d_model 64,
# 4 heads, 2 layers, an MLP of 256, a context of 16 positions. Parameter names follow GPT-2's, so a
# GPT-2 checkpoint loads into the same class by name.

# %% stable
model = TransformerLM(vocab_size=13, d_model=64, n_heads=4, n_layers=2, d_ff=256, max_len=16, seed=0)
if hasattr(model, "summary_text"):
    print(model)                                     # the summary table: parts, shapes, parameter counts
else:                                                # older checkouts: list the parameters ourselves
    for name, p in model.named_parameters():
        print(f"{name:28s} {str(p.shape):12s} {p.size:>8,}")
print(f"total: {model.num_parameters():,} parameters")

# %% [markdown]
# The same model as a diagram, drawn by `viz.lm_diagram_svg` from the model's configuration, with the
# tensor shape on every arrow for a batch of B sequences of 16 tokens. (The embedding matrix `wte` is
# used twice: to look up the tokens at the top, and, transposed, as the output head at the bottom.)

# %% stable
show(viz.lm_diagram_svg(model, seq_len=16))

# %% [markdown]
# One of those blocks opened up (`viz.decoder_block_svg`): each sub-layer reads a LayerNorm of the residual
# stream and adds its output back to it.

# %% stable
show(viz.decoder_block_svg(d_model=64, n_heads=4, d_ff=256, seq_len=16))

# %% [markdown]
# ## 3.2 One forward pass, step by step
#
# To see actual numbers we need a model small enough to print: d_model 8, 2 heads of 4 channels, one
# layer, an MLP of 16, and a vocabulary of the 14 characters of a two-sentence text, on which it is
# trained for 300 steps (a few seconds), so that its numbers mean something. Every step below is
# computed with plain NumPy from the parameters, and compared with the library's own layer.

# %% stable-layout
from transformer_np import AdamW, CrossEntropyLoss

text = "the cat sat on the mat. the dog sat on the log. "
chars = sorted(set(text))
encoded = np.array([chars.index(c) for c in text * 2])
windows = np.stack([encoded[i:i + 9] for i in range(len(text))])    # every 9-character window
tiny = TransformerLM(vocab_size=len(chars), d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=8, seed=1)
loss_fn, opt = CrossEntropyLoss(), AdamW(tiny.parameters(), lr=2e-2)
for step in range(300):                                          # the training loop of notebook 2, bare
    loss = loss_fn.forward(tiny.forward(windows[:, :-1]), windows[:, 1:])
    tiny.zero_grad()
    tiny.backward(loss_fn.backward())
    opt.step()
print(f"training loss after 300 steps: {loss:.2f} (ln {len(chars)} = {np.log(len(chars)):.2f} would be guessing)")
tiny.eval()
block = tiny.h[0]
ids = np.array([[chars.index(c) for c in "the cat"]])          # (B=1, T=7)
tokens = [c if c != " " else "\u2423" for c in "the cat"]
print("vocabulary:", chars)
print("ids:", ids[0].tolist())
C, H, d_k = 8, 2, 4


def matrix(values, title, rows=tokens, cols=None, digits=2):
    """A small array as a picture with its numbers in the cells."""
    values = np.asarray(values)
    cols = cols or [f"c{j}" for j in range(values.shape[1])]
    return viz.matrix_svg(values, title=title, row_labels=rows, col_labels=cols, digits=digits)


# %% [markdown]
# **Embeddings and positions.** Each id picks its row of `wte` (14 x 8: 8 numbers per character),
# and each position adds its row of `wpe`. The result is the start of the *residual stream*, one vector
# per position, that every block reads from and adds to.

# %% stable-layout
tok_emb = tiny.wte.weight.data[ids[0]]                        # (T, C)
pos_emb = tiny.wpe.weight.data[: ids.shape[1]]                # (T, C)
x = tok_emb + pos_emb
show(matrix(tok_emb, "token embeddings wte[ids]   (T=7, C=8)"))
show(matrix(x, "x = wte[ids] + wpe[0..6]: the residual stream enters block 0"))

# %% [markdown]
# **LayerNorm** (pre-LN: before the attention). Each row is shifted to mean 0 and scaled to variance 1,
# then multiplied by the learned gain `w` and shifted by the learned `b`.

# %% stable-layout
mean = x.mean(axis=-1, keepdims=True)
var = x.var(axis=-1, keepdims=True)                           # biased variance, as GPT-2
ln1 = (x - mean) / np.sqrt(var + 1e-5) * block.ln_1.weight.data + block.ln_1.bias.data
assert np.allclose(ln1, block.ln_1.forward(x[None])[0], atol=1e-6)
normalised = (x - mean) / np.sqrt(var + 1e-5)
print("before the gain and shift: row means", np.abs(normalised.mean(axis=-1)).max().round(6),
      " row variances", normalised.var(axis=-1).round(3))
show(matrix(ln1, "LN(x) = (x - mean) / std * w + b"))

# %% [markdown]
# **Queries, keys and values.** One matrix product with `c_attn` (8 x 24) gives `[Q | K | V]` for all
# heads at once; head h owns channels `h*4 .. h*4+3` of each. Here are head 0's, 4 numbers per token.

# %% stable-layout
qkv = ln1 @ block.attn.c_attn.weight.data + block.attn.c_attn.bias.data      # (T, 3C)
Q, K, V = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
q0, k0, v0 = Q[:, :d_k], K[:, :d_k], V[:, :d_k]                              # head 0: (T, d_k)
head_cols = [f"d{j}" for j in range(d_k)]
for name, m in (("queries Q (head 0)", q0), ("keys K (head 0)", k0), ("values V (head 0)", v0)):
    show(matrix(m, name, cols=head_cols))

# %% [markdown]
# **Scores.** How well each query matches each key: `Q K^T / sqrt(d_k)`, a T x T table (rows: the
# token asking, columns: the token asked). Dividing by sqrt(4) = 2 keeps the scores' spread independent
# of the head size (GUIDE section 3 explains why that matters).

# %% stable-layout
scores = q0 @ k0.T / np.sqrt(d_k)
show(matrix(scores, "scores = Q K\u1d40 / \u221ad_k   (head 0)", cols=tokens))

# %% [markdown]
# **The causal mask.** A language model predicts the next token, so position t must not look at
# positions after t. The mask keeps the lower triangle; the forbidden scores become -infinity (the
# library uses the most negative float32, so that an all-masked row stays finite).

# %% stable-layout
mask = causal_mask(7, 7)
masked = np.where(mask, scores, -np.inf)
show(table([[tokens[i]] + [("\u2212\u221e" if not mask[i, j] else round(float(masked[i, j]), 2))
                           for j in range(7)] for i in range(7)], ["query \\ key"] + tokens))

# %% [markdown]
# **Softmax.** Each row becomes weights that are positive and add up to 1: `exp(s) / sum(exp(s))`;
# `exp(-inf) = 0`, so the future gets exactly nothing. The first token can only look at itself.

# %% stable-layout
weights = np.exp(masked - masked.max(axis=-1, keepdims=True))
weights /= weights.sum(axis=-1, keepdims=True)
show(viz.heatmap_svg(weights, tokens, title="attention weights, head 0 (each row sums to 1)"))

# %% [markdown]
# **The weighted sum.** Each position's output is the average of the value vectors, weighted by its
# row: `out = A V`, (T, T) @ (T, d_k) -> (T, d_k).

# %% stable-layout
head0 = weights @ v0
show(matrix(head0, "head 0 output = A V", cols=head_cols))

# %% [markdown]
# **All heads, merged.** Head 1 does the same on its own 4 channels. The heads' outputs are laid side
# by side (back to T x 8) and mixed by `c_proj`. The result equals the library's `MultiHeadAttention`.

# %% stable-layout
def one_head(h):
    q, k, v = (M[:, h * d_k:(h + 1) * d_k] for M in (Q, K, V))
    s = np.where(mask, q @ k.T / np.sqrt(d_k), -np.inf)
    a = np.exp(s - s.max(axis=-1, keepdims=True))
    return (a / a.sum(axis=-1, keepdims=True)) @ v


merged = np.concatenate([one_head(h) for h in range(H)], axis=-1)             # (T, C)
attn_out = merged @ block.attn.c_proj.weight.data + block.attn.c_proj.bias.data
assert np.allclose(attn_out, block.attn.forward(ln1[None].astype(np.float32), causal=True)[0], atol=1e-6)
show(matrix(attn_out, "attention output: concat(head 0, head 1) @ c_proj"))

# %% [markdown]
# **The residual stream.** The block does not replace x, it *adds* to it: `x = x + attention(LN(x))`.
# (Even in this small trained model the attention output is small next to x: each block only nudges
# the stream.)
# Then the same pattern with the MLP: LayerNorm, `Linear 8 -> 16`, GELU, `Linear 16 -> 8`, and add.
# The MLP works on each position separately; attention is the only place positions exchange anything.

# %% stable-layout
def gelu(z):                                                   # GPT-2's tanh form
    return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)))


x1 = x + attn_out
ln2 = (x1 - x1.mean(-1, keepdims=True)) / np.sqrt(x1.var(-1, keepdims=True) + 1e-5)
ln2 = ln2 * block.ln_2.weight.data + block.ln_2.bias.data
hidden = gelu(ln2 @ block.mlp.c_fc.weight.data + block.mlp.c_fc.bias.data)    # (T, 16)
x2 = x1 + hidden @ block.mlp.c_proj.weight.data + block.mlp.c_proj.bias.data
assert np.allclose(x2, block.forward(x[None].astype(np.float32))[0], atol=1e-5)
show(matrix(hidden, "MLP hidden layer after GELU   (T=7, d_ff=16)", cols=[f"h{j}" for j in range(16)], digits=1))
show(matrix(x2, "x after block 0 (= the library's DecoderBlock output)"))

# %% [markdown]
# **The logits.** A final LayerNorm, then the dot product of each position's vector with every token's
# embedding (the tied head): one score per vocabulary entry. The softmax of the last row is the model's
# guess for the character after "the cat": in its training text, a space.

# %% stable-layout
xf = (x2 - x2.mean(-1, keepdims=True)) / np.sqrt(x2.var(-1, keepdims=True) + 1e-5)
xf = xf * tiny.ln_f.weight.data + tiny.ln_f.bias.data
logits = xf @ tiny.wte.weight.data.T                                           # (T, V)
assert np.allclose(logits, tiny.forward(ids)[0], atol=1e-5)
probs = np.exp(logits[-1] - logits[-1].max())
probs /= probs.sum()
top = np.argsort(-probs)[:5]
show(table([[repr(chars[i]), float(logits[-1, i]), float(probs[i])] for i in top],
           ["next character", "logit", "probability"]))
print("the hand computation equals tiny.forward(ids) at every step")

# %% [markdown]
# ## 3.3 The attention heads of a trained model
#
# Now a model that has learned something: the reverse task of notebook 2 (it stops early, at 100% held-out accuracy, after about a hundred steps). Its
# input is `0 x1 .. x6 0 x6 .. x2`; after the second separator, each position must copy the next source
# token backwards. The grid shows every head of both layers on one held-out example (a row per layer, a
# column per head); one of them has learned to look at the *mirror position*, an anti-diagonal.

# %%
from transformer_np.train import TrainConfig, Trainer, defaults_for

config = TrainConfig(**dict(defaults_for("reverse"), length=6, n_symbols=12, steps=20 if FAST else 600,
                            eval_every=10 if FAST else 100, eval_size=128, out="runs/nb03-reverse"))
reverse = Trainer(config)
print(reverse.run())

# %%
trained = reverse.model.eval()
example = reverse.heldout["inputs"][0]
labels = [reverse.task.render([i]) for i in example]
with viz.capture_attention(trained) as cap:
    trained.forward(example[None])
layers = cap.by_layer()                                         # [(H, T, T) per layer]
show(viz.heads_grid_svg(layers, labels, title="reverse: every head of both layers, held-out example 0"))

# %% [markdown]
# **The neuron view** (after bertviz): for one head and one query, where do the scores come from? Each
# row is a key: its vector k, the products q x k dimension by dimension (their sum is the dot product
# q.k), the score divided by sqrt(d_k), and the softmax weight. The query below is the first answer
# position; we pick the head that attends most to its mirror.

# %%
sep = reverse.heldout["prompt"].shape[1] - 1                    # the separator before the answer
mirror = [(l, h, float(np.mean([layers[l][h][q, 2 * sep - 1 - q] for q in range(sep, len(example))])))
          for l in range(len(layers)) for h in range(layers[l].shape[0])]
l, h, score = max(mirror, key=lambda t: t[2])
print(f"layer {l} head {h}: mean weight on the mirror position {score:.2f}")
q_vectors, k_vectors = viz.query_key_vectors(trained)[l]
show(viz.neuron_view_svg(q_vectors[h], k_vectors[h], labels, query=sep + 1, weights=layers[l][h],
                         title=f"neuron view: layer {l}, head {h}, query {sep + 1}"))

# %% [markdown]
# The same pictures for all heads at once, interactive (hover a token, click a head, and the neuron
# view follows), are one call away. The page has a script, so GitHub does not run it: open the file in
# a browser.

# %%
page = viz.attention_html_for_lm(trained, example, labels, "runs/nb03-attention.html",
                                 title="reverse task, held-out example 0")
print("wrote", page)

# %% [markdown]
# ## 3.4 The key/value cache: Trax's *predict mode*
#
# Generating a token needs the attention of the newest position over all earlier ones. Earlier keys and
# values never change (position t never sees later tokens), so they are computed once and kept: after
# the prompt has been run once (the *prefill*), each step feeds only the newest token, one query
# against the cached keys. The cache is `KVCache`, one per block, filled by `MultiHeadAttention`.
#
# **This is what Trax calls predict mode.** Trax decodes with the model built again with `mode='predict'`
# and initialised with `predict_signature = ShapeDtype((1, 1))`: every call takes one token of one
# sequence (shape (1, 1)), and the attention layers keep the keys and values of the calls before. Here
# the same model that trained does it, and the state is in plain sight: `model.new_caches(...)` makes it,
# `model.forward(ids, caches=caches)` feeds tokens that continue it. Trax's first cell, in predict mode by
# hand, on the shipped `sort-4` (notebook 1): every token of the prompt and of the answer goes in alone.

# %% stable
sorter = TransformerLM.from_pretrained("sort-4")
prompt = [0, 3, 15, 14, 9, 0]
caches = sorter.new_caches(batch_size=1, length=len(prompt) + 4)     # the predict-mode state
for token in prompt:
    logits = sorter.forward(np.array([[token]]), caches=caches)      # ids (1, 1) -> logits (1, 1, 32)
answer = []
for _ in range(4):
    answer.append(int(logits[0, -1].argmax()))                       # greedy
    logits = sorter.forward(np.array([[answer[-1]]]), caches=caches)
print("one (1, 1) token per call:", answer)
print("model.generate:          ", sorter.generate(np.array([prompt]), 4, temperature=0)[0, len(prompt):].tolist())

# %% [markdown]
# `generate` does the same, except that it runs the whole prompt in one call (the prefill: each weight
# matrix is read once for all prompt tokens). The cached logits are those of a full recomputation, step
# by step:

# %% stable
prompt = np.array([[0, 3, 1, 4, 1, 5, 9, 0]])
caches = model.new_caches(batch_size=1, length=12)
logits = model.forward(prompt, caches, last_only=True)
print(f"after the prefill of {prompt.shape[1]} tokens: cache length {caches[0].length}, "
      f"keys stored (B, H, max_len, d_k) = {caches[0].keys.shape}")
sequence = prompt
for step in range(4):
    next_id = logits[:, -1].argmax(axis=-1)                      # greedy
    sequence = np.concatenate([sequence, next_id[:, None]], axis=1)
    logits = model.forward(next_id[:, None], caches)             # one new position
    full = model.forward(sequence)                               # the same, recomputed from scratch
    print(f"step {step}: fed 1 token, cache length {caches[0].length}, "
          f"cached logits equal the recomputed ones (to float32 rounding, 1e-5): "
          f"{np.allclose(logits[0, -1], full[0, -1], atol=1e-5)}")

# %% [markdown]
# The cached and the recomputed logits agree to float32 rounding, and the cached step does a fraction
# of the work: one position instead of the whole sequence. The saving grows with the length:

# %%
import time

long_model = TransformerLM(vocab_size=100, d_model=128, n_heads=4, n_layers=4, d_ff=512, max_len=256, seed=0)
ids_long = np.random.default_rng(0).integers(0, 100, (1, 200))
for label, fn in (("with the cache", lambda: long_model.generate(ids_long, 20, temperature=0)),
                  ("recomputing", lambda: [long_model.forward(np.concatenate(
                      [ids_long, np.zeros((1, n), np.int64)], 1)) for n in range(20)])):
    t0 = time.perf_counter()
    fn()
    print(f"20 new tokens after a 200-token prompt, {label}: {time.perf_counter() - t0:.2f} s")

# %% [markdown]
# ## 3.5 From GPT-2 to Llama: the same stack, a few parts swapped
#
# Llama, Mistral, Qwen and SmolLM are this decoder with RMSNorm for LayerNorm, rotary position
# embeddings (RoPE) for the learned `wpe` table, a SwiGLU feed-forward, grouped-query attention (fewer
# key/value heads than query heads), no biases and an untied output head. In the library they are
# constructor options of the same `TransformerLM` (GUIDE section 12 explains each change):

# %% stable
gpt2_style = TransformerLM(vocab_size=65, d_model=64, n_heads=4, n_layers=2, d_ff=256, max_len=64, seed=0)
llama_style = TransformerLM(vocab_size=65, d_model=64, n_heads=4, n_layers=2, d_ff=176, max_len=64, seed=0,
                            norm="rmsnorm", ffn="swiglu", positional="rope", n_kv_heads=2, bias=False,
                            tie_head=False)
for name, m in (("GPT-2 style", gpt2_style), ("Llama style", llama_style)):
    print(f"{name}: {sum(p.data.size for p in m.parameters()):,} parameters")
llama_style.summary(depth=3)

# %% [markdown]
# RoPE rotates each query and key by an angle proportional to its position, so the score q_i . k_j
# depends only on the distance i - j: the same pair of vectors placed at positions (5, 2) and (40, 37)
# scores the same. The KV cache of grouped-query attention keeps only the 2 key/value heads:

# %% stable
from transformer_np.layers import RotaryEmbedding

rope = RotaryEmbedding(head_dim=16, max_len=64)
q, k = np.random.default_rng(0).standard_normal((2, 1, 1, 1, 16)).astype(np.float32)
def score(i, j):
    return float((rope.forward(q, start=i) * rope.forward(k, start=j)).sum())
print(f"score at (5, 2): {score(5, 2):.4f}   at (40, 37): {score(40, 37):.4f}   at (5, 4): {score(5, 4):.4f}")
cache = llama_style.new_caches(batch_size=1, length=64)[0]
print("cached keys per block:", cache.keys.shape, "(batch, kv heads, positions, head dim)")

# %% [markdown]
# ## 3.6 Layers from layers: `Sequential`, `Branch`, `Residual`
#
# Trax builds its models by composing layers with *combinators* instead of writing a class per block.
# The library has the same three (`transformer_np/layers/combinators.py`). Data flows left to right
# below: a grey box is a layer, with its inputs on the left and its outputs on the right; a dashed frame
# is a combinator. `Sequential` (Trax's `Serial`) hands each layer's outputs to the next one:

# %% stable
from transformer_np.layers import (Add, Branch, CausalAttention, FeedForward, Identity, LayerNorm, Linear,
                                   MultiHeadAttention, ReLU, Residual, Sequential)

show(viz.dataflow_svg(Sequential(Linear(8, 32), ReLU(), Linear(32, 8)), title="Sequential: Linear, ReLU, Linear"))

# %% [markdown]
# `Branch` copies its **one** input to each of its layers and returns **all** their outputs: with three
# layers it takes one array and gives three. Its backward adds up the three gradients that come back,
# because x was used three times.

# %% stable
branch = Branch(Linear(8, 8), ReLU(), Identity())
show(viz.dataflow_svg(branch, title="Branch of three layers: one input, three outputs"))
outputs = branch.forward(np.ones((2, 8), dtype=np.float32))
print(f"Branch gives {len(outputs)} arrays:", [o.shape for o in outputs])

# %% [markdown]
# `Add` takes two inputs and gives one. `Residual(f)` is then not a new idea but a composition, exactly as
# Trax defines it: `Sequential(Branch(Identity(), f), Add())`, that is y = x + f(x). The picture draws it
# that way:

# %% stable
show(viz.dataflow_svg(Residual(FeedForward(8, 32)), title="Residual(f) = Sequential(Branch(Identity, f), Add)"))

# %% [markdown]
# **A decoder block from combinators.** GPT-2's pre-LN block is two residuals: x + attention(LN(x)),
# then x + feed-forward(LN(x)). `CausalAttention` is the `MultiHeadAttention` with its causal mask always
# on (Trax's layer of that name). We take the layers of a `DecoderBlock` and wire them with combinators;
# the two compute the same numbers, forward and backward (`tests/test_combinator_block.py` checks every
# gradient in float64).

# %% stable
from transformer_np.blocks import DecoderBlock

reference = DecoderBlock(d_model=16, n_heads=4, d_ff=64, rng=0)
composed = Sequential(
    Residual(Sequential(reference.ln_1, CausalAttention(reference.attn))),     # x + attention(LN(x))
    Residual(Sequential(reference.ln_2, reference.mlp)),                       # x + feed-forward(LN(x))
)
show(viz.dataflow_svg(composed, title="a pre-LN decoder block, from combinators"))
x = np.random.default_rng(0).standard_normal((2, 5, 16)).astype(np.float32)
dy = np.random.default_rng(1).standard_normal((2, 5, 16)).astype(np.float32)
y_block, dx_block = reference.forward(x), reference.backward(dy)
y_composed, dx_composed = composed.forward(x), composed.backward(dy)
print("outputs equal:", np.allclose(y_block, y_composed, atol=1e-6),
      "  input gradients equal:", np.allclose(dx_block, dx_composed, atol=1e-6))

# %% [markdown]
# The library's own `DecoderBlock` keeps its explicit wiring (`ResidualSublayer` in
# `transformer_np/blocks.py`): it also does post-LN, dropout, the KV cache and cross-attention, which
# would need options threaded through every combinator, and decoding one token calls every block once,
# where each extra layer of Python calls shows. The test above keeps the two equal.

# %% [markdown]
# ## Exercises
#
# 1. In 3.2, remove the division by sqrt(d_k) and look at the softmax weights. With d_k = 4 the change
#    is mild; why would it matter far more in GPT-2 (d_k = 64)?
#
# <details><summary>Answer</summary>
#
# The dot product of two random d_k-dimensional vectors has a standard deviation proportional to
# sqrt(d_k). Unscaled, GPT-2's scores are about 4 times (sqrt 64 / sqrt 4) more spread than here; the
# softmax of widely spread numbers is nearly one-hot, and a nearly one-hot softmax has a nearly zero
# gradient, so the attention weights stop learning.
# </details>
#
# 2. In 3.2, replace `mask` by all True (no causal mask). Which outputs change, and why is that a
#    problem for training a language model?
#
# <details><summary>Answer</summary>
#
# Every row except the last changes (the last row already sees everything). Without the mask position
# t can read token t+1, which is exactly what it is asked to predict: training loss drops to near zero
# by copying, and the model is useless for generation, where the future is not there yet.
# </details>
#
# 3. Train the reverse model with `n_layers=1` (3.3). Does a mirror head still appear?
#
# <details><summary>Answer</summary>
#
# It should: one layer is enough for reversal in principle, because the query at answer position t
# only needs to find the key at a fixed offset from itself (the positions are in the embeddings), and
# one head can do that. Check with the mirror score printed in 3.3. Sorting is harder for one layer:
# the model must compare every token with the others and then pick one.
# </details>
#
# 4. In 3.5, set `n_kv_heads=1` (multi-query attention). What happens to the parameter count and to the
#    cached keys' shape?
#
# <details><summary>Answer</summary>
#
# The key and value projections shrink from 2 heads to 1 (each from 64 x 32 to 64 x 16 per block), so
# the model loses 2 x 64 x 16 = 2,048 weights per block, and the cache holds (1, 1, 64, 16) keys: a
# quarter of what 4 full heads would need. Every query head then reads the same keys and values.
# </details>
#
# 5. In 3.6, build the *post-LN* block of the 2017 paper, LN(x + attention(x)) then LN(x + FFN(x)), from
#    the same combinators and layers. How many inputs and outputs does each of its parts have?
#
# <details><summary>Answer</summary>
#
# `Sequential(Residual(CausalAttention(attn)), ln_1, Residual(mlp), ln_2)`: the norm moves from inside
# each residual to after it. Every part takes one array and gives one, except inside each `Residual`,
# where `Branch` gives two (x and f(x)) and `Add` takes those two back to one. It equals `DecoderBlock`
# with `pre_ln=False`.
# </details>
