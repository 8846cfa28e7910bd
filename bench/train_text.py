"""Benchmark: tokens/s of the character-level Shakespeare training step, ours vs a PyTorch eager twin.

    python bench/train_text.py                       # both sizes, 1 and 2 threads (torch: if importable)
    .dev/bin/python bench/train_text.py     # with PyTorch
    python bench/train_text.py --sizes baby --threads 2 --rounds 10

Two sizes, both nanoGPT's Shakespeare-char recipes (vocabulary 65):
    baby   its CPU "baby GPT": block 64, batch 12, 4 layers, 4 heads, d_model 128, d_ff 512 (train_toy.py's
           text defaults)
    gpu    its GPU recipe: block 256, batch 64, 6 layers, 6 heads, d_model 384, d_ff 1536
One step = forward + backward + AdamW. Each (size, thread count) runs bench/train_step.py in its own
process (BLAS threads are fixed when NumPy is imported), where our step and the PyTorch one take turns
`--rounds` times and the median of each is kept. Prints one JSON object; "ratio_numpy_over_torch" > 1
means ours is faster, and "meets_target" compares it with the 1.3x the project aims for.
"""
import argparse
import json
import os
import subprocess
import sys

SIZES = {
    "baby": dict(d_model=128, n_layers=4, n_heads=4, d_ff=512, seq_len=64, batch_size=12),
    "gpu": dict(d_model=384, n_layers=6, n_heads=6, d_ff=1536, seq_len=256, batch_size=64),
}
VOCAB = 65          # tiny Shakespeare's characters
TARGET = 1.3        # ours / PyTorch tokens per second
STEP_BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_step.py")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", default="baby,gpu", help="comma list of: " + ", ".join(SIZES))
    p.add_argument("--threads", default="1,2", help="comma list of thread counts")
    p.add_argument("--rounds", type=int, default=None,
                   help="timed steps of each library (default: 30 for baby, 5 for gpu)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    return p.parse_args(argv)


def bench_one(size, threads, rounds, no_torch):
    s = SIZES[size]
    argv = [sys.executable, STEP_BENCH, "--threads", str(threads), "--steps", str(rounds),
            "--warmup", "2" if size == "gpu" else "5", "--vocab-size", str(VOCAB),
            "--d-model", str(s["d_model"]), "--n-layers", str(s["n_layers"]), "--n-heads", str(s["n_heads"]),
            "--d-ff", str(s["d_ff"]), "--seq-len", str(s["seq_len"]), "--batch-size", str(s["batch_size"])]
    argv += ["--no-torch"] if no_torch else []
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["size"] = size
    if "ratio_numpy_over_torch" in result:
        result["meets_target"] = result["ratio_numpy_over_torch"] >= TARGET
    return result


def main(argv=None):
    a = parse_args(argv)
    sizes = [name for name in a.sizes.split(",") if name]
    unknown = [name for name in sizes if name not in SIZES]
    if unknown:
        sys.exit(f"train_text.py: error: unknown size {unknown[0]!r} (choose from {', '.join(SIZES)})")
    results = []
    for size in sizes:
        rounds = a.rounds or (30 if size == "baby" else 5)
        for threads in (int(n) for n in a.threads.split(",") if n):
            r = bench_one(size, threads, rounds, a.no_torch)
            keep = ("size", "threads", "numpy_ms_per_step", "numpy_tokens_per_s", "torch_ms_per_step",
                    "torch_tokens_per_s", "ratio_numpy_over_torch", "meets_target", "load_avg_before",
                    "load_avg_after")
            results.append({k: r[k] for k in keep if k in r})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)       # progress: one size at a time
    print(json.dumps({"target_ratio": TARGET, "vocab_size": VOCAB, "sizes": {k: SIZES[k] for k in sizes},
                      "cpu_count": os.cpu_count(), "results": results}))


if __name__ == "__main__":
    main()
