#!/usr/bin/env python
"""The whole GPT in one NumPy file, forward and backward, to read top to bottom.

    python gpt.py                                     # train a baby GPT on tiny Shakespeare, then sample
    python gpt.py --model shakespeare-char -p "ROMEO:" -n 40 --temperature 0 --seed 0
    python gpt.py -p "How can entropy be reversed?"   # OpenAI's GPT-2 124M (downloaded once)

Data -> parameters -> forward/backward pairs -> the model -> AdamW -> training -> sampling -> checkpoints.
Every number the model computes is computed here; the library (transformer_np) computes the same numbers
faster and more generally, and tests/test_reference.py checks that the two agree. The parameters' dtype
is the compute dtype: float32 to run, float64 to check gradients."""
import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import transformer_np.io
from transformer_np.io import KNOWN_MODELS, DownloadError, load_safetensors, resolve_model_dir
from transformer_np.tokenizer import BPETokenizer, CharTokenizer

# ------------------------------------------------------------------------------------------------- data

def read_text(path):
    """A text file as (train ids, held-out ids, tokenizer): one id per character (the alphabet: the sorted
    characters), the first 90% to train on, the last 10% held out to measure how well the model generalises."""
    text = Path(path).read_text(encoding="utf-8")
    if len(text) < 1000:
        raise ValueError(f"{path}: {len(text)} characters; training needs at least 1000")
    tokenizer = CharTokenizer.from_text(text)
    ids, n = np.array(tokenizer.encode(text)), int(0.9 * len(text))
    return ids[:n], ids[n:], tokenizer

def get_batch(ids, block, batch, rng):
    """`batch` random windows of `block` tokens (B, T) and their targets, the same windows one later."""
    starts = rng.integers(0, len(ids) - block, size=batch)[:, None] + np.arange(block)   # (B, T)
    return ids[starts], ids[starts + 1]

# ------------------------------------------------------------------------------------------- parameters

def init(config, seed):
    """GPT-2's parameters, float32, named as in Hugging Face's checkpoints. Weights ~ N(0, 0.02), the two
    projections into the residual stream N(0, 0.02 / sqrt(2 L)) (each block adds two terms to it),
    biases 0, layer-norm gains 1. Linear weights are stored (in, out), as GPT-2's Conv1D: y = x @ W + b."""
    V, P, C, L = config["vocab_size"], config["n_positions"], config["n_embd"], config["n_layer"]
    rng, proj = np.random.default_rng(seed), 0.02 / math.sqrt(2 * L)
    normal = lambda *shape, std=0.02: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    norm = lambda: (np.ones(C, np.float32), np.zeros(C, np.float32))  # noqa: E731
    params = {"wte.weight": normal(V, C), "wpe.weight": normal(P, C, std=0.01)}
    for i in range(L):
        for name, (w, b) in {"ln_1": norm(), "attn.c_attn": (normal(C, 3 * C), np.zeros(3 * C, np.float32)),
                             "attn.c_proj": (normal(C, C, std=proj), np.zeros(C, np.float32)), "ln_2": norm(),
                             "mlp.c_fc": (normal(C, 4 * C), np.zeros(4 * C, np.float32)),
                             "mlp.c_proj": (normal(4 * C, C, std=proj), np.zeros(C, np.float32))}.items():
            params[f"h.{i}.{name}.weight"], params[f"h.{i}.{name}.bias"] = w, b
    params["ln_f.weight"], params["ln_f.bias"] = norm()
    return params

# --------------------------------------------------------------------------- layers: forward, backward
# Each backward turns dLoss/d(output) into dLoss/d(inputs and parameters), from what its forward kept.

def embedding_forward(wte, wpe, ids):
    """x[b, t] = wte[ids[b, t]] + wpe[t]        ids (B, T) -> x (B, T, C)"""
    return wte[ids] + wpe[:ids.shape[1]]

def embedding_backward(dx, ids, wte_shape, wpe_shape):
    """dwte[v] = sum of dx[b, t] over the positions holding token v;  dwpe[t] = sum_b dx[b, t]"""
    dwte, dwpe = np.zeros(wte_shape, dx.dtype), np.zeros(wpe_shape, dx.dtype)
    np.add.at(dwte, ids, dx)                 # unbuffered: a token seen twice gets both gradients added
    dwpe[:ids.shape[1]] = dx.sum(axis=0)
    return dwte, dwpe

def layernorm_forward(x, w, b, eps):
    """Normalise each position's C features, then scale and shift (biased variance; eps inside the root):
        mean = sum_c x / C    rstd = 1 / sqrt(sum_c (x - mean)^2 / C + eps)
        xhat = (x - mean) rstd    y = xhat * w + b                 x, y (B, T, C); w, b (C,)
    Keeps xhat and rstd (B, T, 1) for backward."""
    xc = x - x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    xhat = xc * rstd
    return xhat * w + b, (xhat, rstd)

def layernorm_backward(dy, kept, w):
    """dw = sum_bt dy xhat    db = sum_bt dy    g = dy w
    dx = rstd (g - mean_c g - xhat mean_c(g xhat))   (mean and rstd depend on every x_c: the two means)"""
    xhat, rstd = kept
    g = dy * w
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=(0, 1)), dy.sum(axis=(0, 1))

def linear_forward(x, w, b):
    """y = x @ W + b        x (B, T, C_in), W (C_in, C_out), b (C_out,) or None -> y (B, T, C_out)"""
    B, T, C = x.shape
    # As one (B*T, C_in) @ (C_in, C_out) product: NumPy runs a 3-D x @ W as B small products, one per row.
    y = x.reshape(B * T, C) @ w
    return (y if b is None else y + b).reshape(B, T, -1)

def linear_backward(dy, x, w):
    """dx = dy @ W^T    dW = x^T @ dy (summed over all B*T positions)    db = sum_bt dy"""
    x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])       # (B*T, C_in), (B*T, C_out)
    return (dy2 @ w.T).reshape(x.shape), x2.T @ dy2, dy2.sum(axis=0)

def attention_forward(qkv, n_head):
    """Causal multi-head self-attention. [Q | K | V] = qkv (B, T, 3C), split into H heads of d = C / H:
        S = Q K^T / sqrt(d)   (B, H, T, T), -inf where key s > query t (no looking ahead)
        A = softmax(S) along s        out = A V (B, H, T, d) -> the heads side by side (B, T, C)
    1/sqrt(d): q . k of unit-variance vectors has variance d; unscaled, the softmax saturates.
    Keeps Q, K, V and A for backward."""
    B, T, C3 = qkv.shape
    q, k, v = qkv.reshape(B, T, 3, n_head, C3 // (3 * n_head)).transpose(2, 0, 3, 1, 4)  # (B, H, T, d) each
    scores = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))     # Python float: float32 stays
    scores = np.where(np.tri(T, dtype=bool), scores, -np.inf)             # row t keeps columns <= t
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))               # minus the max: no overflow
    A = e / e.sum(axis=-1, keepdims=True)                                   # (B, H, T, T)
    return (A @ v).transpose(0, 2, 1, 3).reshape(B, T, C3 // 3), (q, k, v, A)

def attention_backward(dout, kept):
    """dV = A^T dOut    dA = dOut V^T    dS = A * (dA - sum_s dA A)   (softmax backward; masked A = 0)
    dQ = dS K / sqrt(d)    dK = dS^T Q / sqrt(d)        dout (B, T, C) -> d[Q | K | V] (B, T, 3C)"""
    q, k, v, A = kept
    B, H, T, d = q.shape
    dout = dout.reshape(B, T, H, d).transpose(0, 2, 1, 3)                 # (B, H, T, d)
    dv = A.swapaxes(-1, -2) @ dout
    dA = dout @ v.swapaxes(-1, -2)                                          # (B, H, T, T)
    dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True))
    dq = (dS @ k) * (1.0 / math.sqrt(d))
    dk = (dS.swapaxes(-1, -2) @ q) * (1.0 / math.sqrt(d))
    return np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(B, T, 3 * H * d)

GELU_C = math.sqrt(2.0 / math.pi)

def gelu_forward(x):
    """GPT-2's GELU, the tanh form: y = x/2 (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3).
    (The exact form x/2 (1 + erf(x / sqrt 2)) differs by up to ~5e-4: enough to change GPT-2's text.)"""
    u = GELU_C * (x + 0.044715 * x * x * x)            # x*x*x: float32 x**3 calls a general pow, far slower
    return 0.5 * x * (1.0 + np.tanh(u))

def gelu_backward(dy, x):
    """dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) du/dx,   du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)"""
    th = np.tanh(GELU_C * (x + 0.044715 * x * x * x))
    return dy * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_C * (1.0 + 3 * 0.044715 * x * x))

def residual_forward(x, fx):
    """y = x + f(x): the block adds to the stream instead of replacing it."""
    return x + fx

def residual_backward(dy):
    """dx = dy and df(x) = dy: the gradient reaches the block's input by both roads (they are added later)."""
    return dy, dy

def crossentropy_forward(logits, targets):
    """p = softmax(logits) over the V tokens; loss = mean over the B*T positions of -log p[target].
    logits (B, T, V), targets (B, T) -> a float; keeps p (B, T, V)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # log-sum-exp: no overflow
    loss = -np.take_along_axis(log_p, targets[..., None], axis=-1).mean()
    return float(loss), np.exp(log_p)

def crossentropy_backward(p, targets):
    """dlogits = (p - onehot(target)) / (B*T)"""
    B, T = targets.shape
    dlogits = p.copy()
    dlogits[np.arange(B)[:, None], np.arange(T), targets] -= 1.0
    return dlogits * (1.0 / (B * T))

# ----------------------------------------------------------------------------------------------- model

def forward(params, config, ids, targets=None):
    """ids (B, T) -> (logits (B, T, V), mean cross-entropy or None without targets, what backward needs).
        x = wte[ids] + wpe[t]
        each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x)),  mlp = c_proj(gelu(c_fc(.)))
        logits = ln_f(x) @ wte^T          (the output head is the token embedding, transposed)"""
    eps, n_head = config["layer_norm_epsilon"], config["n_head"]
    kept = {"ids": ids, "blocks": []}
    x = embedding_forward(params["wte.weight"], params["wpe.weight"], ids)          # (B, T, C)
    for i in range(config["n_layer"]):
        p = {name[len(f"h.{i}."):]: w for name, w in params.items() if name.startswith(f"h.{i}.")}
        h1, ln_1 = layernorm_forward(x, p["ln_1.weight"], p["ln_1.bias"], eps)
        qkv = linear_forward(h1, p["attn.c_attn.weight"], p["attn.c_attn.bias"])    # (B, T, 3C)
        a, attn = attention_forward(qkv, n_head)                                     # (B, T, C)
        x = residual_forward(x, linear_forward(a, p["attn.c_proj.weight"], p["attn.c_proj.bias"]))
        h2, ln_2 = layernorm_forward(x, p["ln_2.weight"], p["ln_2.bias"], eps)
        f = linear_forward(h2, p["mlp.c_fc.weight"], p["mlp.c_fc.bias"])            # (B, T, 4C)
        g = gelu_forward(f)
        x = residual_forward(x, linear_forward(g, p["mlp.c_proj.weight"], p["mlp.c_proj.bias"]))
        kept["blocks"].append(dict(h1=h1, ln_1=ln_1, a=a, attn=attn, h2=h2, ln_2=ln_2, f=f, g=g))
    kept["xf"], kept["ln_f"] = layernorm_forward(x, params["ln_f.weight"], params["ln_f.bias"], eps)
    logits = linear_forward(kept["xf"], params["wte.weight"].T, None)               # (B, T, V)
    if targets is None:
        return logits, None, kept
    loss, kept["p"] = crossentropy_forward(logits, targets)
    kept["targets"] = targets
    return logits, loss, kept

def backward(params, config, kept):
    """The gradient of forward's loss with respect to every parameter: the forward road in reverse."""
    if "targets" not in kept:
        raise ValueError("backward needs the loss: call forward with targets")
    grads = {}

    def add(name, dw, db=None):           # a weight used twice (wte) gets both gradients
        grads[name + ".weight"] = grads.get(name + ".weight", 0) + dw
        if db is not None:
            grads[name + ".bias"] = db

    dlogits = crossentropy_backward(kept["p"], kept["targets"])
    dxf, dwte_t, _ = linear_backward(dlogits, kept["xf"], params["wte.weight"].T)
    add("wte", dwte_t.T)
    dx, dw, db = layernorm_backward(dxf, kept["ln_f"], params["ln_f.weight"])
    add("ln_f", dw, db)
    for i in reversed(range(config["n_layer"])):
        k, h = kept["blocks"][i], f"h.{i}."
        dx, dbranch = residual_backward(dx)                                        # x + mlp(ln_2(x))
        dg, dw, db = linear_backward(dbranch, k["g"], params[h + "mlp.c_proj.weight"])
        add(h + "mlp.c_proj", dw, db)
        dh2, dw, db = linear_backward(gelu_backward(dg, k["f"]), k["h2"], params[h + "mlp.c_fc.weight"])
        add(h + "mlp.c_fc", dw, db)
        dln, dw, db = layernorm_backward(dh2, k["ln_2"], params[h + "ln_2.weight"])
        add(h + "ln_2", dw, db)
        dx, dbranch = residual_backward(dx + dln)                                  # x + attn(ln_1(x))
        da, dw, db = linear_backward(dbranch, k["a"], params[h + "attn.c_proj.weight"])
        add(h + "attn.c_proj", dw, db)
        dh1, dw, db = linear_backward(attention_backward(da, k["attn"]), k["h1"],
                                      params[h + "attn.c_attn.weight"])
        add(h + "attn.c_attn", dw, db)
        dln, dw, db = layernorm_backward(dh1, k["ln_1"], params[h + "ln_1.weight"])
        add(h + "ln_1", dw, db)
        dx = dx + dln
    dwte, dwpe = embedding_backward(dx, kept["ids"], params["wte.weight"].shape, params["wpe.weight"].shape)
    add("wte", dwte)
    add("wpe", dwpe)
    return {name: grads[name] for name in params}

# ----------------------------------------------------------------------------------------------- AdamW

def learning_rate(step, steps, max_lr, warmup, min_lr):
    """Linear warm-up to max_lr (Adam's first moment estimates are poor), then a cosine decay to min_lr."""
    if step < warmup:
        return max_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))

def adamw_step(params, grads, moments, lr, t, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1):
    """One AdamW update of every parameter, at step t = 1, 2, ... (moments: name -> (m, v), updated):
        m = b1 m + (1 - b1) g    v = b2 v + (1 - b2) g^2    (running mean of g and of g^2)
        w = w - lr (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd w)   (decay: matrices only)
    The 1 - b^t terms undo the moments' start at zero; the decay acts on w directly, not through m, v."""
    b1, b2 = betas
    for name, w in params.items():
        m, v = moments.get(name, (0.0, 0.0))
        g = grads[name]
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        moments[name] = (m, v)
        decay = weight_decay if w.ndim >= 2 else 0.0
        params[name] = w - lr * (m / (1 - b1 ** t) / (np.sqrt(v / (1 - b2 ** t)) + eps) + decay * w)

def clip_gradients(grads, max_norm):
    """Scale all gradients by min(1, max_norm / ||g||) (||g||: over all of them); a rare huge step is tamed."""
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    scale = min(1.0, max_norm / (norm + 1e-6))
    return {name: g * scale for name, g in grads.items()}

# -------------------------------------------------------------------------------------------- training

BABY = dict(n_positions=64, n_embd=128, n_layer=4, n_head=4, layer_norm_epsilon=1e-5)   # nanoGPT's CPU GPT
TRAIN = dict(batch=16, lr=2e-3, warmup=100, min_lr=2e-4, eval_every=250, eval_batches=4)

def evaluate(params, config, ids, batches, batch):
    """Mean loss over fixed random windows of `ids` (the same ones every time: comparable numbers)."""
    rng = np.random.default_rng(1234)
    return float(np.mean([forward(params, config, *get_batch(ids, config["n_positions"], batch, rng))[1]
                          for _ in range(batches)]))

def train(path, steps, seed, log=print):
    """Train BABY on a text file's characters; return (params, config, tokenizer, summary)."""
    train_ids, val_ids, tokenizer = read_text(path)
    config = dict(BABY, vocab_size=tokenizer.vocab_size, char_vocab=tokenizer.chars)
    params, moments, rng, start = init(config, seed), {}, np.random.default_rng(seed), time.perf_counter()
    for step in range(steps):
        x, y = get_batch(train_ids, config["n_positions"], TRAIN["batch"], rng)
        _, loss, kept = forward(params, config, x, y)
        grads = clip_gradients(backward(params, config, kept), 1.0)
        lr = learning_rate(step, steps, TRAIN["lr"], TRAIN["warmup"], TRAIN["min_lr"])
        adamw_step(params, grads, moments, lr, step + 1)
        if (step + 1) % TRAIN["eval_every"] == 0 or step + 1 == steps:
            val = evaluate(params, config, val_ids, TRAIN["eval_batches"], 64)
            log(f"step {step + 1:5d}  train {loss:.3f}  held-out {val:.3f}  {time.perf_counter() - start:.0f} s")
    return params, config, tokenizer, dict(train_loss=round(loss, 4), val_loss=round(val, 4), steps=steps,
                                           seconds=round(time.perf_counter() - start, 1))

# -------------------------------------------------------------------------------------------- sampling

def generate(params, config, ids, n, temperature=1.0, top_k=None, seed=None):
    """ids (B, T) -> (B, T + n): n tokens appended, each drawn from softmax(logits / temperature) of the
    last position, among the top_k most likely when given; temperature 0 takes the most likely (greedy).
    Past the context window the oldest tokens are cropped."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        # The whole window is recomputed for every new token (O(T^2) attention per token). The library's
        # KV cache (TransformerLM.iter_generate) is the fast form of this loop: it keeps every position's
        # keys and values, so each step computes only the newest position.
        logits = forward(params, config, ids[:, -config["n_positions"]:])[0][:, -1]   # (B, V)
        if temperature == 0:
            next_ids = logits.argmax(axis=-1)
        else:
            logits = logits / temperature          # < 1 sharpens, > 1 flattens (argmax would not change)
            if top_k is not None and top_k < logits.shape[-1]:
                kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
                logits = np.where(logits < kth, -np.inf, logits)
            cumulative = np.cumsum(np.exp(logits - logits.max(axis=-1, keepdims=True)), axis=-1)   # (B, V)
            u = rng.random((len(ids), 1)) * cumulative[:, -1:]   # inverse CDF: the first token past u
            next_ids = (cumulative > u).argmax(axis=-1)
        ids = np.concatenate([ids, next_ids[:, None]], axis=1)
    return ids

# ------------------------------------------------------------------------------------------ checkpoints

def load(name_or_dir):
    """(params, config) of a Hugging Face GPT-2 directory (config.json + model.safetensors), a released
    GPT-2 name ("gpt2", "gpt2-medium", ...: downloaded once), or a model the package ships
    ("shakespeare-char"). float32; the config keeps config.json's names, and the directory (`model_dir`)."""
    shipped = Path(transformer_np.__file__).resolve().parent / "pretrained" / str(name_or_dir)
    if not (Path(name_or_dir).is_dir() or shipped.is_dir() or str(name_or_dir) in KNOWN_MODELS):
        raise FileNotFoundError(f"{name_or_dir}: not a directory, shakespeare-char or {', '.join(KNOWN_MODELS)}")
    directory = resolve_model_dir(shipped if (shipped / "config.json").is_file() else name_or_dir)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if config.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError(f"{directory}: activation {config['activation_function']!r}; gpt.py computes gelu_new")
    if config.get("n_inner") not in (None, 4 * config["n_embd"]):
        raise ValueError(f"{directory}: n_inner={config['n_inner']}; gpt.py's MLP is 4 * n_embd wide")
    config = dict(config, layer_norm_epsilon=float(config.get("layer_norm_epsilon", 1e-5)), model_dir=str(directory))
    params = {}
    for name, tensor in load_safetensors(directory / "model.safetensors").items():
        name = name.removeprefix("transformer.")
        if not name.endswith((".attn.bias", ".attn.masked_bias")) and name != "lm_head.weight":
            params[name] = np.array(tensor, dtype=np.float32)     # (the hub file's mask buffers: not weights)
    missing = sorted(set(init(dict(config, vocab_size=1, n_positions=1, n_embd=1), 0)) - set(params))
    if missing:
        raise ValueError(f"{directory / 'model.safetensors'}: no tensor {missing[0]!r}")
    return params, config

def tokenizer_of(config):
    """A character model's alphabet (config.json's "char_vocab"), else the directory's (or GPT-2's) BPE."""
    if "char_vocab" in config:
        return CharTokenizer(config["char_vocab"])
    directory = Path(config["model_dir"])
    return BPETokenizer.from_pretrained(directory if (directory / "vocab.json").is_file() else "gpt2")

# ------------------------------------------------------------------------------------------------- CLI

def parse_args(argv):
    p = argparse.ArgumentParser(description="A GPT in one NumPy file: train a baby GPT, or continue a prompt.")
    p.print_usage = lambda file=None: None          # a flag error is one line: "gpt.py: error: ..."
    p.add_argument("--data", help="text file to train on (default: ../shared/data/tinyshakespeare.txt)")
    p.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--model", help="continue a prompt with a GPT-2 directory or name, or shakespeare-char")
    p.add_argument("-p", "--prompt", help="text to continue (default model with -p alone: gpt2)")
    p.add_argument("-n", type=int, default=200, help="tokens to generate (default 200)")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    p.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    p.add_argument("--json", action="store_true", help="training: end with a JSON line of the results")
    a = p.parse_args(argv)
    for flag, value, low in (("--steps", a.steps, 1), ("-n", a.n, 0), ("--top-k", a.top_k, 1), ("--seed", a.seed, 0)):
        if value is not None and value < low:
            p.error(f"{flag} must be >= {low}, got {value}")
    if not a.temperature >= 0 or a.temperature == math.inf:
        p.error(f"--temperature must be a finite number >= 0, got {a.temperature}")
    return a

def main(argv=None):
    a = parse_args(argv)
    try:
        if a.model is None and a.prompt is None:
            data = a.data or Path(__file__).resolve().parent.parent / "shared" / "data" / "tinyshakespeare.txt"
            params, config, tokenizer, summary = train(data, a.steps, a.seed)
            prompt = "\n"
        else:
            params, config = load(a.model or "gpt2")
            tokenizer, prompt = tokenizer_of(config), a.prompt or "\n"
        out = generate(params, config, np.array([tokenizer.encode(prompt)]), a.n, a.temperature, a.top_k, a.seed)
        print(tokenizer.decode(out[0].tolist()))
        if a.model is None and a.prompt is None and a.json:
            print(json.dumps(summary))
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:                 # a missing file, a bad prompt or checkpoint
        print(f"gpt.py: error: {exc}", file=sys.stderr)
        return 2
    except DownloadError as exc:                         # the network, not the user
        print(f"gpt.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
