"""Benchmark: time of one training step (forward + backward + AdamW) of the TransformerLM.

    python bench/train_step.py                      # d_model=128, 4 layers, 4 heads, d_ff=512, T=64, B=32,
                                                    # at 1 then 2 threads
    python bench/train_step.py --threads 1 --steps 30

Prints one JSON object. If torch is importable, the same architecture (pre-LN GPT block, tanh GELU,
tied embeddings, float32) is timed in PyTorch eager mode on the CPU with the same thread count, and the
ratio ours / torch of tokens per second is reported. gpt.py (the one-file plain twin of the same model) takes
its turn too: "ratio_gpt_py_over_numpy" is its step time over the library's, what the library's work buys.
NumPy's BLAS thread count is set through the
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS environment variables before NumPy is imported,
so with several thread counts (the default, `--threads 1,2`) each runs in its own child process and the
JSON has one entry per count under "results". The 1-minute load average before and after each run is
reported with it: a run with other jobs on the machine (load near or above the core count) mostly
measures them, especially with 2 threads, whose BLAS threads wait for each other.
This is a benchmark, not a test: numbers vary with the machine and its load.
"""
import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=512)
    p.add_argument("--vocab-size", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=64, help="T")
    p.add_argument("--batch-size", type=int, default=32, help="B")
    p.add_argument("--steps", type=int, default=20, help="timed steps (after warm-up)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=_thread_counts, default="1,2",
                   help="BLAS threads for NumPy and torch.set_num_threads for PyTorch; a comma list runs each "
                        "count in turn (on a shared machine a second thread mostly waits for a busy core)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    return p.parse_args(argv)


def _thread_counts(text):
    counts = [int(n) for n in str(text).split(",") if n.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be positive integers, got {text!r}")
    return counts


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and len(ARGS.threads) == 1:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads[0])

import numpy as np  # noqa: E402  (after the thread variables)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from transformer_np import AdamW, CrossEntropyLoss, TransformerLM  # noqa: E402
from transformer_np.optim import decay_groups  # noqa: E402


def time_steps(steps, n_warmup, n_steps):
    """Median seconds per step of each function in `steps`. They take turns step by step, so a change
    in the machine's load (it is shared) hits both sides alike."""
    for _ in range(n_warmup):
        for step in steps:
            step()
    times = [[] for _ in steps]
    for _ in range(n_steps):
        for step, record in zip(steps, times):
            t0 = time.perf_counter()
            step()
            record.append(time.perf_counter() - t0)
    return [sorted(t)[len(t) // 2] for t in times]


def bench_numpy(a):
    model = TransformerLM(vocab_size=a.vocab_size, d_model=a.d_model, n_heads=a.n_heads, n_layers=a.n_layers,
                          d_ff=a.d_ff, max_len=a.seq_len, dtype=np.float32, seed=0)
    opt = AdamW(decay_groups(model.named_parameters(), 0.1), lr=3e-4)
    loss_fn = CrossEntropyLoss()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, a.vocab_size, (a.batch_size, a.seq_len + 1))
    x, y = ids[:, :-1], ids[:, 1:]

    def step():
        opt.zero_grad()                 # in place, as the trainer does (model.zero_grad walks the module tree)
        logits = model.forward(x)
        loss_fn.forward(logits, y)
        model.backward(loss_fn.backward())
        opt.step()
        assert logits.dtype == np.float32
    return step


def bench_gpt_py(a):
    """gpt.py's step: forward, backward, AdamW (its MLP is 4 * d_model wide, so only that d_ff)."""
    import gpt
    config = dict(vocab_size=a.vocab_size, n_positions=a.seq_len, n_embd=a.d_model, n_layer=a.n_layers,
                  n_head=a.n_heads, layer_norm_epsilon=1e-5)
    params, moments, t = gpt.init(config, seed=0), {}, itertools.count(1)
    ids = np.random.default_rng(0).integers(0, a.vocab_size, (a.batch_size, a.seq_len + 1))
    x, y = ids[:, :-1], ids[:, 1:]

    def step():
        kept = gpt.forward(params, config, x, y)[2]
        gpt.adamw_step(params, gpt.backward(params, config, kept), moments, 3e-4, next(t))
        assert kept["xf"].dtype == np.float32
    return step


def bench_torch(a):
    import torch  # ImportError: no comparison
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(a.d_model), nn.LayerNorm(a.d_model)
            self.c_attn, self.c_proj = nn.Linear(a.d_model, 3 * a.d_model), nn.Linear(a.d_model, a.d_model)
            self.c_fc, self.mlp_proj = nn.Linear(a.d_model, a.d_ff), nn.Linear(a.d_ff, a.d_model)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, a.n_heads, C // a.n_heads).transpose(1, 2) for t in (q, k, v))
            # The explicit formula (as ours), not the fused scaled_dot_product_attention kernel.
            att = (q @ k.transpose(-2, -1)) * (1.0 / (C // a.n_heads) ** 0.5)
            att = att.masked_fill(~mask[:T, :T], float("-inf")).softmax(dim=-1)
            x = x + self.c_proj((att @ v).transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            positions = getattr(a, "max_len", None) or a.seq_len            # GPT-2: 1024 rows, T used
            self.wte, self.wpe = nn.Embedding(a.vocab_size, a.d_model), nn.Embedding(positions, a.d_model)
            self.h = nn.ModuleList(Block() for _ in range(a.n_layers))
            self.ln_f = nn.LayerNorm(a.d_model)

        def forward(self, ids):
            x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
            for block in self.h:
                x = block(x)
            return self.ln_f(x) @ self.wte.weight.T

    mask = torch.tril(torch.ones(a.seq_len, a.seq_len, dtype=torch.bool))
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, foreach=True)
    ids = torch.from_numpy(np.random.default_rng(0).integers(0, a.vocab_size, (a.batch_size, a.seq_len + 1)))
    x, y = ids[:, :-1], ids[:, 1:]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).reshape(-1, a.vocab_size), y.reshape(-1))
        loss.backward()
        if getattr(a, "clip", 0):                                 # bench/train_finetune.py clips, as we do
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
    return step, torch.__version__


def run_one(a, threads):
    """Time NumPy (and torch) at one thread count in this process; the BLAS thread variables must have
    been set to `threads` before NumPy was imported."""
    a = argparse.Namespace(**dict(vars(a), threads=threads))
    tokens = a.batch_size * a.seq_len
    load_before = os.getloadavg()[0]
    steps, torch_version = [bench_numpy(a)], None
    with_gpt_py = a.d_ff == 4 * a.d_model
    if with_gpt_py:
        steps.append(bench_gpt_py(a))
    if not a.no_torch:
        try:
            torch_step, torch_version = bench_torch(a)
            steps.append(torch_step)
        except ImportError:
            pass
    timings = time_steps(steps, a.warmup, a.steps)
    ours = timings.pop(0)
    plain = timings.pop(0) if with_gpt_py else None
    result = {"config": {"d_model": a.d_model, "n_layers": a.n_layers, "n_heads": a.n_heads, "d_ff": a.d_ff,
                         "vocab_size": a.vocab_size, "T": a.seq_len, "B": a.batch_size, "dtype": "float32"},
              "threads": a.threads, "numpy": np.__version__, "python": platform.python_version(),
              "numpy_ms_per_step": round(ours * 1e3, 2), "numpy_tokens_per_s": round(tokens / ours, 1)}
    if plain is not None:
        result.update(gpt_py_ms_per_step=round(plain * 1e3, 2), ratio_gpt_py_over_numpy=round(plain / ours, 3))
    if a.no_torch:
        result["torch"] = "skipped (--no-torch)"
    elif torch_version is None:
        result["torch"] = "not importable: comparison skipped"
    else:
        theirs = timings[0]
        result.update(torch=torch_version, torch_threads=a.threads, torch_ms_per_step=round(theirs * 1e3, 2),
                      torch_tokens_per_s=round(tokens / theirs, 1),
                      ratio_numpy_over_torch=round(theirs / ours, 3))
    result.update(load_avg_before=round(load_before, 2), load_avg_after=round(os.getloadavg()[0], 2))
    return result


def run_children(a):
    """One child process per thread count (the thread variables are read when NumPy is imported);
    the shared fields once, the per-count ones under "results"."""
    results = []
    for threads in a.threads:
        argv = [sys.executable, os.path.abspath(__file__), "--threads", str(threads), "--steps", str(a.steps),
                "--warmup", str(a.warmup), "--d-model", str(a.d_model), "--n-layers", str(a.n_layers),
                "--n-heads", str(a.n_heads), "--d-ff", str(a.d_ff), "--vocab-size", str(a.vocab_size),
                "--seq-len", str(a.seq_len), "--batch-size", str(a.batch_size)]
        argv += ["--no-torch"] if a.no_torch else []
        out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout   # stderr passes through
        results.append(json.loads(out.strip().splitlines()[-1]))
    shared = ("config", "numpy", "python", "torch")
    merged = {k: results[0][k] for k in shared if k in results[0]}
    merged["cpu_count"] = os.cpu_count()
    merged["results"] = [{k: v for k, v in r.items() if k not in shared + ("torch_threads",)} for r in results]
    return merged


def main(a):
    result = run_one(a, a.threads[0]) if len(a.threads) == 1 else run_children(a)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(ARGS)
