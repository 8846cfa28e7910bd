"""Benchmark: all-MiniLM-L6-v2 sentence embeddings per second, ours vs sentence-transformers. Prints JSON.

    .dev/bin/python bench/bert_speed.py              # 1 and 2 threads, ours and PyTorch
    python bench/bert_speed.py                                # ours only (no sentence-transformers here)
    python bench/bert_speed.py --threads 2 --rounds 5 --batches 4

The same sentences (~24 WordPiece tokens each, made from a fixed word list) are embedded in batches of
32 by
  * ours:  SentenceEncoder.from_pretrained("all-MiniLM-L6-v2").encode(sentences, batch_size=32)
           (WordPiece in Python, BERT forward, mean pooling, normalisation); "ours_model_only" times the
           same batches already tokenized, so the tokenizer's share is visible;
  * torch: SentenceTransformer(<the same directory>, device="cpu").encode(sentences, batch_size=32)
           (PyTorch eager, Rust tokenizer), when sentence-transformers is importable.
and, in a third subprocess, GELU alone on a (32, 64, 512) float32 array: the exact (erf) form's forward +
backward time over the tanh form's (target <= 1.5), and the exact form's eval-mode forward (what inference
runs) over the tanh form's forward + backward.
Each runs in its own subprocess with OPENBLAS/OMP/MKL_NUM_THREADS (and torch.set_num_threads) = the
thread count, warmed up once; the two alternate for --rounds rounds and each side's best round counts
(the one least disturbed by other processes on a shared machine); medians are reported too. Ratios
> 1 mean ours is faster. Only ratios measured in one run mean much.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the a man woman child dog cat eats plays runs reads writes quickly slowly happy small large red "
         "green house garden river mountain city music book food morning evening yesterday tomorrow "
         "beautiful strange ancient modern computer language science history").split()


def sentences(n, words_per_sentence=20, seed=0):
    """n deterministic sentences of common words: ~24 WordPiece tokens with [CLS] and [SEP]."""
    import random
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words_per_sentence)).capitalize() + "."
            for _ in range(n)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=4, help="batches per timed run")
    p.add_argument("--rounds", type=int, default=3, help="alternating ours/torch runs per thread count")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--worker", choices=["ours", "torch", "gelu"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else 0.5 * (xs[len(xs) // 2 - 1] + xs[len(xs) // 2])


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------- workers

def worker_ours(args, texts):
    sys.path.insert(0, str(ROOT))
    from transformer_np.models import SentenceEncoder
    encoder = SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")
    encoder.encode(texts[:args.batch_size], batch_size=args.batch_size)           # warm up
    batches = [encoder.tokenize(texts[i:i + args.batch_size]) for i in range(0, len(texts), args.batch_size)]

    def model_only():
        for batch in batches:
            encoder.embed_batch(batch)
    return dict(seconds=timed(lambda: encoder.encode(texts, batch_size=args.batch_size)),
                model_only_seconds=timed(model_only),
                tokens_per_sentence=float(batches[0]["attention_mask"].sum(axis=1).mean()),
                model_dir=str(encoder.model.model_dir))


def worker_torch(args, texts):
    import torch
    from sentence_transformers import SentenceTransformer
    sys.path.insert(0, str(ROOT))
    from transformer_np.io.hub import resolve_model_dir
    torch.set_num_threads(args.threads[0])
    model = SentenceTransformer(str(resolve_model_dir("all-MiniLM-L6-v2")), device="cpu")
    model.encode(texts[:args.batch_size], batch_size=args.batch_size)                # warm up
    with torch.inference_mode():
        seconds = timed(lambda: model.encode(texts, batch_size=args.batch_size))
    return dict(seconds=seconds, torch_threads=torch.get_num_threads())


def worker_gelu(args, texts):
    import numpy as np
    sys.path.insert(0, str(ROOT))
    from transformer_np.layers import GELU
    x = np.random.default_rng(0).standard_normal((32, 64, 512)).astype(np.float32)
    dy = np.ones_like(x)

    def best(fn, repeats=30):
        return min(timed(fn) for _ in range(repeats))
    tanh, exact, exact_eval = GELU("tanh"), GELU("none"), GELU("none").eval()
    times = {"tanh_fwd_bwd": best(lambda: (tanh.forward(x), tanh.backward(dy))),
             "exact_fwd_bwd": best(lambda: (exact.forward(x), exact.backward(dy))),
             "exact_eval_fwd": best(lambda: exact_eval.forward(x))}
    return {k: round(v * 1e3, 3) for k, v in times.items()}


def run_worker(kind, threads, args):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, __file__, "--worker", kind, "--threads", str(threads), "--batch-size",
           str(args.batch_size), "--batches", str(args.batches)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{kind} worker failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def torch_available():
    probe = subprocess.run([sys.executable, "-c", "import sentence_transformers"], capture_output=True)
    return probe.returncode == 0


def main(argv=None):
    args = parse_args(argv)
    texts = sentences(args.batch_size * args.batches)
    if args.worker:
        result = {"ours": worker_ours, "torch": worker_torch, "gelu": worker_gelu}[args.worker](args, texts)
        print(json.dumps(result))
        return 0
    with_torch = not args.no_torch and torch_available()
    report = {"benchmark": "all-MiniLM-L6-v2 sentence embeddings", "batch_size": args.batch_size,
              "sentences": len(texts), "rounds": args.rounds, "python": sys.executable, "results": {}}
    for threads in args.threads:
        runs = {"ours": [], "ours_model_only": [], "torch": []}
        for _ in range(args.rounds):
            ours = run_worker("ours", threads, args)
            runs["ours"].append(len(texts) / ours["seconds"])
            runs["ours_model_only"].append(len(texts) / ours["model_only_seconds"])
            report["tokens_per_sentence"] = ours["tokens_per_sentence"]
            if with_torch:
                runs["torch"].append(len(texts) / run_worker("torch", threads, args)["seconds"])
        entry = {f"{k}_sentences_per_s": round(max(v), 1) for k, v in runs.items() if v}
        entry.update({f"{k}_sentences_per_s_median": round(median(v), 1) for k, v in runs.items() if v})
        if with_torch:
            entry["ours_vs_torch"] = round(max(runs["ours"]) / max(runs["torch"]), 3)
            entry["ours_vs_torch_median"] = round(median(runs["ours"]) / median(runs["torch"]), 3)
            entry["ours_model_only_vs_torch"] = round(max(runs["ours_model_only"]) / max(runs["torch"]), 3)
        report["results"][f"{threads}_threads"] = entry
    gelu = run_worker("gelu", 1, args)
    report["gelu_32x64x512_ms"] = gelu
    report["gelu_exact_vs_tanh_fwd_bwd"] = round(gelu["exact_fwd_bwd"] / gelu["tanh_fwd_bwd"], 3)
    report["gelu_exact_eval_fwd_vs_tanh_fwd_bwd"] = round(gelu["exact_eval_fwd"] / gelu["tanh_fwd_bwd"], 3)
    if not with_torch:
        report["note"] = "sentence-transformers not importable here: PyTorch side skipped"
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
