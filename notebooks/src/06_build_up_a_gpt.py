# %% [markdown]
# # 6. Build up a GPT, one idea at a time
#
# In the spirit of Karpathy's "Let's build GPT": start from the simplest model of text that works, a
# bigram table, and add one idea per stage until we have a Transformer. Every stage is a small model
# assembled from the library's layers (`Embedding`, `MultiHeadAttention`, `FeedForward`, `DecoderBlock`,
# ...), trained the same way for the same number of steps on tiny Shakespeare, and judged by the same
# number: the loss on held-out text it never trained on (the last 10% of the file).
#
# | stage | what it adds |
# | --- | --- |
# | 1 bigram | a table: the next character's scores from the current character alone |
# | 2 average of the past | each position also gets the average of all earlier positions' vectors |
# | 3 one attention head | the average becomes a *learned* weighted average: attention |
# | 4 multi-head | 4 smaller heads in parallel, each free to look for something else |
# | 5 + MLP | a position-wise feed-forward network: time to think about what was gathered |
# | 6 + LayerNorm | the real Transformer block: pre-LN residual sub-layers (`DecoderBlock`) |
# | 7 a stack | 4 blocks in a row: the `TransformerLM` of notebooks 2 and 3 |
#
# Every stage must beat the one before it; the notebook checks that it does.

# %%
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))         # the checkout's root, when run from notebooks/
import numpy as np

from transformer_np import (AdamW, CrossEntropyLoss, Embedding, FeedForward, LearnedPositionalEmbedding, Linear,
                            Module, MultiHeadAttention, ScaledDotProductAttention, TransformerLM, viz)
from transformer_np.layers import causal_mask
from transformer_np.optim import clip_grad_norm, warmup_cosine
from transformer_np.tasks import Text
from transformer_np.viz.notebook import fast_mode, shakespeare_path, show, table

FAST = fast_mode()
STEPS = 5 if FAST else 1500          # the same for every stage
BLOCK, BATCH, C, LR = 32, 32, 64, 5e-3

SHAKESPEARE = shakespeare_path()
if SHAKESPEARE is None:
    print("tinyshakespeare.txt not found (../shared/data/ next to the checkout, or $TNP_SHAKESPEARE): "
          "using a few lines of text instead, so the cells still run")
    sample_text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40
    SHAKESPEARE = Path("runs/nb06-fallback.txt")
    SHAKESPEARE.parent.mkdir(exist_ok=True)
    SHAKESPEARE.write_text(sample_text, encoding="utf-8")
data = Text(SHAKESPEARE, block_size=BLOCK)
V = data.vocab_size
heldout = data.heldout("lm", 16 if FAST else 256)        # the same held-out windows for every stage
print(f"{V} characters; {len(data.train_ids):,} training and {len(data.heldout_ids):,} held-out characters")

# %% [markdown]
# One training loop for all stages: AdamW, a short warm-up then cosine decay, gradient clipping. A stage
# is any Module with `forward(ids) -> logits (B, T, V)` and `backward(dlogits)`.

# %%
def train(model, steps=STEPS, seed=0):
    """Train on random windows of the training text; return (held-out loss, seconds)."""
    rng = np.random.default_rng(seed)
    opt = AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    loss_fn = CrossEntropyLoss()
    t0 = time.perf_counter()
    for step in range(steps):
        opt.lr = warmup_cosine(step, LR, 20, steps, LR / 10)
        batch = data.batch(rng, BATCH)
        loss_fn.forward(model.forward(batch["inputs"]), batch["targets"])
        model.zero_grad()
        model.backward(loss_fn.backward())
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()
    model.eval()
    return loss_fn.forward(model.forward(heldout["inputs"]), heldout["targets"]), time.perf_counter() - t0


results = []


def report(name, model):
    loss, seconds = train(model)
    results.append((name, model.num_parameters(), loss, seconds))
    print(f"{name}: held-out loss {loss:.3f} ({model.num_parameters():,} parameters, {seconds:.0f} s)")
    return model


# %% [markdown]
# ## Stage 1: the bigram table
#
# The scores for the next character are one row of a V x V table, looked up by the current character:
# an `Embedding(V, V)` whose output *is* the logits. It learns how often each character follows each
# other one, and nothing else.

# %%
class Bigram(Module):
    def __init__(self, rng):
        self.table = Embedding(V, V, rng=rng)

    def forward(self, ids):
        return self.table.forward(ids)                        # (B, T) -> (B, T, V)

    def backward(self, dlogits):
        self.table.backward(dlogits)


bigram = report("1 bigram", Bigram(np.random.default_rng(0)))

# %% [markdown]
# ## Stage 2: the average of the past
#
# From here on each character becomes a vector `x = wte[id] + wpe[position]` (C = 64 numbers), and a
# Linear layer turns the final vector into the V scores. The new idea: let position t see the past, in
# the crudest way, the plain average of the vectors at positions 0..t. That average is attention with
# all scores equal: `ScaledDotProductAttention` with zero queries and keys gives uniform weights over the
# positions the causal mask allows. We *add* the (projected) average to the position's own vector,
# `x + Linear(average)`, rather than replace it: the current character is still the best single clue.
# That `x + ...` is the **residual stream**: every later stage adds to it.

# %%
class Embed(Module):
    """x = wte[ids] + wpe[positions]: the shared first step of stages 2-5."""

    def __init__(self, rng):
        self.wte = Embedding(V, C, rng=rng)
        self.wpe = LearnedPositionalEmbedding(BLOCK, C, rng=rng)

    def forward(self, ids):
        return self.wpe.forward(self.wte.forward(ids))       # (B, T, C)

    def backward(self, dx):
        self.wte.backward(self.wpe.backward(dx))


class AverageOfThePast(Module):
    """x -> the mean of x over positions 0..t, for every t (uniform causal attention)."""

    def __init__(self):
        self.attention = ScaledDotProductAttention()

    def forward(self, x):
        B, T, _ = x.shape
        zeros = np.zeros((B, 1, T, 1), dtype=x.dtype)         # q . k = 0 for every pair: equal weights
        return self.attention.forward(zeros, zeros, x[:, None], causal_mask(T, T))[:, 0]

    def backward(self, dy):
        return self.attention.backward(dy[:, None])[2][:, 0]  # only the values get a gradient


class Mixer(Module):
    """x = embed(ids);  x = x + mix(x);  [x = x + mlp(x)];  logits = head(x).  Stages 2-5."""

    def __init__(self, mix, rng, mlp=False):
        self.embed = Embed(rng)
        self.mix = mix
        self.mlp = FeedForward(C, 4 * C, rng=rng) if mlp else None
        self.head = Linear(C, V, rng=rng)

    def forward(self, ids):
        x = self.embed.forward(ids)
        x = x + self.mix.forward(x)
        if self.mlp is not None:
            x = x + self.mlp.forward(x)
        return self.head.forward(x)

    def backward(self, dlogits):
        dx = self.head.backward(dlogits)
        if self.mlp is not None:
            dx = dx + self.mlp.backward(dx)                   # the residual: both paths add up
        dx = dx + self.mix.backward(dx)
        self.embed.backward(dx)


class ProjectedAverage(Module):
    """Linear(average of the past): the average, through a learned C x C map."""

    def __init__(self, rng):
        self.average, self.proj = AverageOfThePast(), Linear(C, C, rng=rng)

    def forward(self, x):
        return self.proj.forward(self.average.forward(x))

    def backward(self, dy):
        return self.average.backward(self.proj.backward(dy))


rng = np.random.default_rng(0)
average = report("2 average of the past", Mixer(ProjectedAverage(rng), rng))

# %% [markdown]
# ## Stage 3: one attention head
#
# Instead of equal weights, let each position *choose* what to read: a query for what it is looking for,
# a key for what it offers, weights = softmax(q.k / sqrt(d_k)) over the past, and a value to pass on.
# That is one head of `MultiHeadAttention(C, n_heads=1)`. With its queries at zero it would be stage 2
# exactly; training finds something better.

# %%
class SelfAttention(Module):
    """Causal multi-head self-attention as a mixer."""

    def __init__(self, n_heads, rng):
        self.attn = MultiHeadAttention(C, n_heads, rng=rng)

    def forward(self, x):
        return self.attn.forward(x, causal=True)

    def backward(self, dy):
        return self.attn.backward(dy)


rng = np.random.default_rng(0)
one_head = report("3 one attention head", Mixer(SelfAttention(1, rng), rng))

# %% [markdown]
# ## Stage 4: multi-head attention
#
# Four heads of 16 channels instead of one of 64: the same number of parameters, but four separate
# weightings of the past (one can track the previous character, another the start of the word, ...).

# %%
rng = np.random.default_rng(0)
multi_head = report("4 multi-head (4 heads)", Mixer(SelfAttention(4, rng), rng))

# %% [markdown]
# ## Stage 5: + the MLP
#
# Attention moves information between positions; it does little computing with it (a weighted average
# is linear in the values). The feed-forward network, `Linear 64 -> 256, GELU, Linear 256 -> 64` at every
# position, does the computing, again added to the residual stream.

# %%
rng = np.random.default_rng(0)
with_mlp = report("5 + MLP", Mixer(SelfAttention(4, rng), rng, mlp=True))

# %% [markdown]
# ## Stage 6: + LayerNorm: the Transformer block
#
# The block as GPT-2 has it (`DecoderBlock`, pre-LN): each sub-layer reads a LayerNorm'd copy of the
# residual stream, `x = x + attn(LN(x))`, `x = x + mlp(LN(x))`, and a final LayerNorm before the head.
# Normalising what each sub-layer reads keeps its inputs in a good range whatever the stream's scale,
# which matters more the deeper the stack. A `TransformerLM` with one layer is exactly this (its head
# is tied to the embedding: no separate Linear).

# %%
block = report("6 + LayerNorm (1 block)", TransformerLM(V, C, 4, 1, 4 * C, BLOCK, seed=0))

# %% [markdown]
# ## Stage 7: a stack of blocks
#
# Four blocks in a row. A second layer can attend to what the first computed, not just to characters:
# this composition is where depth pays.

# %%
stack = report("7 a stack (4 blocks)", TransformerLM(V, C, 4, 4, 4 * C, BLOCK, seed=0))

# %% [markdown]
# ## The result

# %%
show(table([[name, f"{params:,}", loss, seconds] for name, params, loss, seconds in results],
           ["stage", "parameters", "held-out loss", "seconds"]))


def bars_svg(results):
    """Held-out loss per stage as horizontal bars (drawn with the library's SVG helpers)."""
    from transformer_np.viz.svg import box, svg_document, text
    losses = [r[2] for r in results]
    # Bars start just below the best loss, not at 0: the stages differ by tenths of a nat, which bars
    # from 0 would squeeze into their last few pixels. The axis line says where they start.
    base = np.floor(min(losses) * 10 - 1) / 10
    scale = 420 / (max(losses) - base)
    parts = [text(360, 24, f"held-out loss after {STEPS} steps (lower is better)", 14, font_weight="bold")]
    for i, (name, _, loss, _) in enumerate(results):
        y = 44 + i * 30
        parts.append(text(200, y + 16, name, 12, "end"))
        parts.append(box(210, y, scale * (loss - base), 22, fill="#0072B2", stroke="none", radius=2))
        parts.append(text(216 + scale * (loss - base), y + 16, f"{loss:.3f}", 12, "start"))
    axis_y = 44 + 30 * len(results)
    parts.append(f'<line x1="210" y1="40" x2="210" y2="{axis_y}" stroke="#444"/>')
    parts.append(text(210, axis_y + 16, f"bars start at {base:.1f}", 11, "middle", fill="#555"))
    return svg_document(720, 70 + 30 * len(results), "\n".join(parts) + "\n", title="build-up")


show(bars_svg(results))
losses = [loss for _, _, loss, _ in results]
if FAST:
    print("quick mode: too few steps for the comparison, not checked")
else:
    assert all(b < a for a, b in zip(losses, losses[1:])), "a stage did not beat the one before it"
    print("every stage beats the one before it")

# %% [markdown]
# What the stack writes (temperature 0.8, top-k 20), from a newline:

# %%
out = stack.generate(np.array([data.encode("\n")]), 400, temperature=0.8, top_k=20, seed=0,
                     sliding_window=True)       # past the 32-character window: crop the oldest, go on
print(data.decode(out[0]))

# %% [markdown]
# ## Exercises
#
# 1. Give stage 3 eight heads instead of one, and stage 4 one head (swap them). Which numbers change?
#
# <details><summary>Answer</summary>
#
# The parameter counts do not change (heads slice the 64 channels), so any difference in the loss
# comes from how the channels are used: several small heads can follow several patterns at once, and
# character-level text has several useful ones (the previous character, the start of the word, the
# start of the line). Expect the multi-head model to stay ahead whichever stage it is called.
# </details>
#
# 2. Remove the residual in stage 3 (`x = self.mix.forward(x)` instead of `x = x + ...`, and the same in
#    backward). What happens to the held-out loss, and why?
#
# <details><summary>Answer</summary>
#
# It gets worse: the position's own character now reaches the head only through the attention, mixed
# with the past, so the head must spend itself on attending to the current position. The residual
# keeps the token's own vector and lets attention *add* context. (Karpathy's lecture trains its
# one-head stage without a residual and reports about 2.4 against the bigram's 2.5.)
# </details>
#
# 3. Train the stack for 3 times as many steps. How low does the loss go, and what does it write?
#
# <details><summary>Answer</summary>
#
# Lower, and still falling: these models are far from converged at 1500 steps. (On a GPU, with a
# 6-layer, 384-wide model and a 256-character context, Karpathy's lecture reaches about 1.48.) The
# samples grow from plausible words to lines with speaker names and verse-like line breaks, still
# without meaning.
# </details>
