"""Benchmark: one fine-tuning step of GPT-2 124M (random weights, the `gpt2` preset's shape) at batch
4 x 256 tokens: its time against a PyTorch eager twin, and the peak memory (RSS) of each.

    python bench/train_finetune.py                    # ours only
    .dev/bin/python bench/train_finetune.py  # with PyTorch (same threads, same batch)
    .dev/bin/python bench/train_finetune.py --threads 1 --rounds 5

A step is what `train_toy.py --task text --init gpt2` does: forward, cross-entropy, backward, clip to
norm 1, AdamW. Three child processes (BLAS threads are fixed when NumPy is imported, and peak RSS is per
process): ours alone (peak RSS), PyTorch alone (peak RSS), then both taking turns `--rounds` times for
the time ratio (medians). Prints one JSON object; "ratio_numpy_over_torch" > 1 means ours is faster.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

B, T = 4, 256


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="timed steps of each library (after one warm-up)")
    p.add_argument("--child", choices=("numpy", "torch", "both"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.child:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import bench_torch, time_steps  # noqa: E402  (the PyTorch twin and the turn-taking timer)


def numpy_step():
    from transformer_np import AdamW, CrossEntropyLoss
    from transformer_np.models import GPT2
    from transformer_np.optim import clip_grad_norm, decay_groups
    model = GPT2("gpt2", seed=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    params = dict(model.named_parameters())
    opt = AdamW(decay_groups(params.items(), 0.1), lr=3e-5, betas=(0.9, 0.99))
    loss_fn = CrossEntropyLoss()
    ids = np.random.default_rng(0).integers(0, model.vocab_size, (B, T + 1))

    def step():
        opt.zero_grad()
        loss_fn.forward(model.forward(ids[:, :-1]), ids[:, 1:])
        model.backward(loss_fn.backward())
        clip_grad_norm(params.values(), 1.0)
        opt.step()
    return step


def torch_step(threads):
    """bench/train_step.py's PyTorch twin at GPT-2 124M's sizes (its `import torch` happens inside)."""
    a = argparse.Namespace(vocab_size=50257, d_model=768, n_layers=12, n_heads=12, d_ff=3072, seq_len=T,
                           max_len=1024, batch_size=B, threads=threads, clip=1.0)
    return bench_torch(a)[0]


def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)      # Linux: KiB


def child(a):
    steps = {"numpy": lambda: [numpy_step()], "torch": lambda: [torch_step(a.threads)],
             "both": lambda: [numpy_step(), torch_step(a.threads)]}[a.child]()
    seconds = time_steps(steps, 1, a.rounds)          # one warm-up step (first touch of every buffer)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def run_child(a, which):
    argv = [sys.executable, os.path.abspath(__file__), "--child", which, "--threads", str(a.threads),
            "--rounds", str(a.rounds)]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        if which != "numpy" and "No module named 'torch'" in proc.stderr:
            return None
        sys.exit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(a):
    load_before = os.getloadavg()[0]
    ours = run_child(a, "numpy")
    result = {"model": "gpt2 (124M, random weights)", "batch": [B, T], "threads": a.threads,
              "numpy_s_per_step": round(ours["seconds"][0], 3), "numpy_peak_rss_mb": ours["peak_rss_mb"]}
    theirs = run_child(a, "torch")
    if theirs is None:
        result["torch"] = "not importable: comparison skipped"
    else:
        both = run_child(a, "both")
        result.update(torch_s_per_step=round(theirs["seconds"][0], 3), torch_peak_rss_mb=theirs["peak_rss_mb"],
                      side_by_side_s_per_step={"numpy": round(both["seconds"][0], 3),
                                               "torch": round(both["seconds"][1], 3)},
                      ratio_numpy_over_torch=round(both["seconds"][1] / both["seconds"][0], 3))
    result.update(load_avg_before=round(load_before, 2), load_avg_after=round(os.getloadavg()[0], 2))
    print(json.dumps(result))


if __name__ == "__main__":
    child(ARGS) if ARGS.child else main(ARGS)
