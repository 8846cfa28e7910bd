"""Benchmark: NumPy's BLAS against PyTorch's on the matrix products of each workload. Prints JSON.

    .dev/bin/python bench/matmul_shapes.py                 # 1 and 2 threads, needs torch for the ratios
    .dev/bin/python bench/matmul_shapes.py --threads 2 --rounds 5

Every speed target against PyTorch (bench/bert_speed.py, bench/gpt2_speed.py's prefill,
bench/train_text.py) compares two programs whose time is mostly matrix products: NumPy hands them to its
bundled OpenBLAS, PyTorch to MKL (on x86). This measures those products alone, with the shapes and
layouts each library really uses (ours: x @ W with W (in, out), as GPT-2's Conv1D stores it; PyTorch:
F.linear with W (out, in)), so a ratio here is a ceiling: a workload made of these products cannot beat
PyTorch by more than its products do, whatever the Python around them costs.

Workloads (float32):
    bert      all-MiniLM-L6-v2 on a batch of 32 x 23 tokens: 736 rows through 384 -> 1152, 384 -> 384,
              384 -> 1536, 1536 -> 384 (one layer's four Linear forwards)
    prefill   GPT-2 124M on a 128-token prompt: 128 rows through 768 -> 2304, 768 -> 768, 768 -> 3072,
              3072 -> 768
    baby      train_toy.py's baby-GPT step (batch 12 x 64 = 768 rows, d_model 128, d_ff 512): the four
              forwards, then each one's dX = dY @ W^T and dW = X^T @ dY
    gpu       the same for nanoGPT's Shakespeare GPU recipe (batch 64 x 256 = 16384 rows, d_model 384,
              d_ff 1536)
    decode_N  GPT-2 124M's 48 block matrices and the tied head read once for N rows (N = 1, 4, 8): a decode
              step of N samples (the weights, 498 MB, stream from memory)
Each is timed as the median of --rounds repeats (each repeat runs the workload's products once, 20 times
for the small ones); "numpy_over_torch" > 1 means NumPy's products are faster.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BERT = [(736, 384, 1152), (736, 384, 384), (736, 384, 1536), (736, 1536, 384)]
PREFILL = [(128, 768, 2304), (128, 768, 768), (128, 768, 3072), (128, 3072, 768)]
BABY = [(768, 128, 384), (768, 128, 128), (768, 128, 512), (768, 512, 128)]
GPU = [(16384, 384, 1152), (16384, 384, 384), (16384, 384, 1536), (16384, 1536, 384)]
GPT2_BLOCK = [(768, 2304), (768, 768), (768, 3072), (3072, 768)]
VOCAB, LAYERS = 50257, 12


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)      # run one thread count here
    return p.parse_args(argv)


def median_ms(fn, rounds, inner=1):
    fn()                                                               # warm: buffers, threads, pages
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return 1e3 * sorted(times)[len(times) // 2]


def numpy_workloads(rng):
    """name -> a function running that workload's products with NumPy, as the library calls them."""
    def forwards(shapes):
        xs = [rng.standard_normal((m, k), dtype=np.float32) for m, k, _ in shapes]
        ws = [rng.standard_normal((k, n), dtype=np.float32) for _, k, n in shapes]       # (in, out)
        return lambda: [x @ w for x, w in zip(xs, ws)]

    def training(shapes):
        forward = forwards(shapes)
        xs = [rng.standard_normal((m, k), dtype=np.float32) for m, k, _ in shapes]
        ws = [rng.standard_normal((k, n), dtype=np.float32) for _, k, n in shapes]
        dys = [rng.standard_normal((m, n), dtype=np.float32) for m, _, n in shapes]
        return lambda: (forward(), [(dy @ w.T, x.T @ dy) for x, w, dy in zip(xs, ws, dys)])

    blocks = [rng.standard_normal(shape, dtype=np.float32) for _ in range(LAYERS) for shape in GPT2_BLOCK]
    wte = rng.standard_normal((VOCAB, 768), dtype=np.float32)

    def decode(n):
        rows = {k: rng.standard_normal((n, k), dtype=np.float32) for k in (768, 3072)}
        if n == 1:                                                     # one row: gemv, as Linear does
            rows = {k: v[0] for k, v in rows.items()}
            return lambda: ([rows[w.shape[0]] @ w for w in blocks], wte @ rows[768])
        return lambda: ([rows[w.shape[0]] @ w for w in blocks], rows[768] @ wte.T)

    return {"bert": forwards(BERT), "prefill": forwards(PREFILL), "baby": training(BABY), "gpu": training(GPU),
            **{f"decode_{n}": decode(n) for n in (1, 4, 8)}}


def torch_workloads(rng):
    import torch
    import torch.nn.functional as F

    def t(*shape):
        return torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))

    def forwards(shapes):
        xs, ws = [t(m, k) for m, k, _ in shapes], [t(n, k) for _, k, n in shapes]       # (out, in)
        return lambda: [F.linear(x, w) for x, w in zip(xs, ws)]

    def training(shapes):
        forward = forwards(shapes)
        xs, ws = [t(m, k) for m, k, _ in shapes], [t(n, k) for _, k, n in shapes]
        dys = [t(m, n) for m, _, n in shapes]
        return lambda: (forward(), [(dy @ w, dy.T @ x) for x, w, dy in zip(xs, ws, dys)])

    blocks = [t(n, k) for _ in range(LAYERS) for k, n in GPT2_BLOCK]
    wte = t(VOCAB, 768)

    def decode(n):
        rows = {k: t(n, k) for k in (768, 3072)}
        return lambda: ([F.linear(rows[w.shape[1]], w) for w in blocks], F.linear(rows[768], wte))

    return {"bert": forwards(BERT), "prefill": forwards(PREFILL), "baby": training(BABY), "gpu": training(GPU),
            **{f"decode_{n}": decode(n) for n in (1, 4, 8)}}


def worker(threads, rounds):
    results = {}
    ours = numpy_workloads(np.random.default_rng(0))
    try:
        import torch
        torch.set_num_threads(threads)
        theirs = torch_workloads(np.random.default_rng(0))
    except ImportError:
        theirs = {}
    for name, fn in ours.items():
        inner = 1 if name.startswith(("decode", "gpu")) else 20
        row = {"numpy_ms": round(median_ms(fn, rounds, inner), 3)}
        if name in theirs:
            with torch.inference_mode():
                row["torch_ms"] = round(median_ms(theirs[name], rounds, inner), 3)
            row["numpy_over_torch"] = round(row["torch_ms"] / row["numpy_ms"], 3)
        results[name] = row
    for n in (4, 8):                                                   # what N rows cost against one
        for lib in ("numpy", "torch"):
            if f"{lib}_ms" in results[f"decode_{n}"]:
                results[f"decode_{n}"][f"{lib}_rows_per_weight_pass_vs_1"] = round(
                    n * results["decode_1"][f"{lib}_ms"] / results[f"decode_{n}"][f"{lib}_ms"], 2)
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.rounds)))
        return 0
    report = {"benchmark": "matmul_shapes", "rounds": args.rounds, "numpy": np.__version__,
              "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "results": {}}
    for threads in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, __file__, "--worker", str(threads), "--rounds", str(args.rounds)],
                             env=env, check=True, capture_output=True, text=True).stdout
        report["results"][f"{threads}_threads"] = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
