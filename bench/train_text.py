"""Benchmark: train_toy.py's text training against nanoGPT (a twin of its model and loop) and a PyTorch eager twin.

    .dev/bin/python bench/train_text.py                       # everything below (torch: if importable)
    .dev/bin/python bench/train_text.py --parts recipe --rounds 3
    .dev/bin/python bench/train_text.py --parts eager --sizes baby --threads 2 --step-rounds 10
    python bench/train_text.py --smoke --no-torch             # a few tiny steps of ours (what the test runs)

Three parts (--parts), one JSON object on stdout (progress on stderr):
    recipe  the learner's job: nanoGPT's CPU baby-GPT recipe on tiny Shakespeare (block 64, batch 12,
            4 layers, 4 heads, d_model 128, --steps iterations, evaluation every 250 with 20 batches, 2
            threads) run whole, each side in its own process, --rounds times taking turns, medians:
              ours  train_toy.py's own main() (the Trainer, its progress and evaluation callbacks, samples,
                    checkpoints, curves.svg) with --eval-every 250 --eval-batches 20; the last evaluation
                    scores the whole held-out split
              twin  bench/nanogpt_twin.py: nanoGPT's model.py and train.py loop (scaled_dot_product_attention,
                    GELU MLP, AdamW as configure_optimizers picks it on the CPU, estimate_loss on 20 batches
                    of each split, checkpoints), then the whole held-out split scored the same way
            Reported: median time per iteration (from one iteration's end to the next, as nanoGPT's train.py
            logs dt), the process's wall clock (start to exit: what the learner waits), the held-out loss
            over the whole held-out split, and the peak RSS of each process (os.wait4).
    step    one training step, ours (Trainer.train_step: lr schedule, forward, loss, backward, clipping,
            AdamW, the batch accuracy) against the twin's (train.py's loop body with get_batch), each in its
            own process (two libraries' thread pools in one process slow each other), --rounds processes
            of each taking turns, at each --threads count, at the baby size and at the GPU recipe's size
            (block 256, batch 64, 6 layers, 6 heads, d_model 384): medians of --step-rounds steps.
    eager   the older comparison: bench/train_step.py's bare step against a PyTorch eager twin that spells
            attention out (scores, mask, softmax) and uses foreach AdamW, per size and thread count.
"ratio" > 1 means ours is faster. A benchmark, not a test: numbers vary with the machine and its load.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
SIZES = {
    "baby": dict(d_model=128, n_layers=4, n_heads=4, d_ff=512, seq_len=64, batch_size=12),
    "gpu": dict(d_model=384, n_layers=6, n_heads=6, d_ff=1536, seq_len=256, batch_size=64),
}
SMOKE = dict(d_model=16, n_layers=1, n_heads=2, d_ff=64, seq_len=16, batch_size=4)
VOCAB = 65          # tiny Shakespeare's characters
TARGET = 1.3        # the eager twin's target: ours / PyTorch tokens per second
EVAL_EVERY, EVAL_BATCHES = 250, 20      # nanoGPT's eval_interval, and eval_iters in its CPU command
PARTS = ("recipe", "step", "eager")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--parts", default=",".join(PARTS), help="comma list of: " + ", ".join(PARTS))
    p.add_argument("--data", default=str(DATA), help="the text (tiny Shakespeare)")
    p.add_argument("--steps", type=int, default=2000, help="recipe: training iterations of each side")
    p.add_argument("--rounds", type=int, default=1, help="recipe, step: runs of each side, taking turns")
    p.add_argument("--recipe-threads", type=int, default=2, help="recipe: threads of both sides")
    p.add_argument("--sizes", default="baby,gpu", help="step, eager: comma list of: " + ", ".join(SIZES))
    p.add_argument("--threads", default="2", help="step, eager: comma list of thread counts")
    p.add_argument("--step-rounds", type=int, default=None,
                   help="step, eager: timed steps of each library (default: 30 for baby, 5 for gpu)")
    p.add_argument("--no-torch", action="store_true", help="ours only (no twin, no ratios)")
    p.add_argument("--smoke", action="store_true", help="a tiny model, a few steps: checks the bench runs")
    p.add_argument("--child", choices=("ours", "step"), help=argparse.SUPPRESS)
    p.add_argument("--side", choices=("ours", "twin"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------- children (one process each)

def set_threads(n):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def child_ours(a):
    """train_toy.py's main() on the recipe in this process, recording when each step ends; prints JSON."""
    set_threads(a.recipe_threads)
    import numpy as np
    sys.path.insert(0, str(ROOT))
    import train_toy
    from transformer_np import train
    ends, trainers = [], []
    original_step, original_init = train.Trainer.train_step, train.Trainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainers.append(self)

    def train_step(self, batch):
        result = original_step(self, batch)
        ends.append(time.perf_counter())
        return result
    train.Trainer.__init__, train.Trainer.train_step = init, train_step
    with tempfile.TemporaryDirectory() as out:
        argv = ["--task", "text", "--data", a.data, "--steps", str(a.steps), "--eval-every", str(EVAL_EVERY),
                "--eval-batches", str(EVAL_BATCHES), "--threads", str(a.recipe_threads), "--out", out]
        if a.smoke:
            argv += ["--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "64", "--block-size", "16",
                     "--batch-size", "4", "--eval-every", "3", "--eval-batches", "2", "--eval-size", "40"]
        t0 = time.perf_counter()
        with open(os.devnull, "w") as log:
            stdout, sys.stdout = sys.stdout, log             # the progress and evaluation lines, as in a log
            try:
                code = train_toy.main(argv)
            finally:
                sys.stdout = stdout
        run_s = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"train_text.py: train_toy.py exited with {code}")
    last = trainers[0].metrics[-1]
    print(json.dumps({"ms_per_iter_median": round(float(np.median(np.diff(ends))) * 1e3, 3),
                      "iterations": len(ends), "run_s": round(run_s, 3), "heldout_loss": last["heldout_loss"],
                      "heldout_examples": last["heldout_examples"], "numpy": np.__version__}))


def child_step(a):
    """One side's training step (ours: Trainer.train_step; the twin: train.py's loop body) at one size and
    thread count, in a process of its own: with NumPy's OpenBLAS threads and PyTorch's OpenMP threads in
    one process each library's threads spin while the other's work, which made PyTorch's 2-thread step
    twice as slow (the eager part's twin suffers from it). Prints JSON with the median."""
    threads = int(a.threads)
    set_threads(threads)
    import numpy as np
    sys.path.insert(0, str(ROOT))
    from transformer_np import train
    size = SMOKE if a.smoke else SIZES[a.sizes]
    with tempfile.TemporaryDirectory() as out:
        values = train.defaults_for("text")
        values.update(data=a.data, out=out, block_size=size["seq_len"], batch_size=size["batch_size"],
                      d_model=size["d_model"], n_layers=size["n_layers"], n_heads=size["n_heads"],
                      d_ff=size["d_ff"], eval_size=size["batch_size"])
        trainer = train.Trainer(train.TrainConfig(**values))
    batches = trainer.task.batches("lm", size["batch_size"], trainer.data_rng)
    if a.side == "ours":
        def step():
            trainer.train_step(next(batches))
    else:
        import torch
        sys.path.insert(0, str(BENCH))
        import nanogpt_twin
        torch.set_num_threads(threads)
        twin_args = argparse.Namespace(seed=1337, block_size=size["seq_len"], n_layers=size["n_layers"],
                                       n_heads=size["n_heads"], d_model=size["d_model"], lr=1e-3)
        model, optimizer = nanogpt_twin.build(twin_args, trainer.task.vocab_size)
        train_ids = trainer.task.train_ids.astype(np.uint16)

        def step():
            x, y = nanogpt_twin.get_batch(train_ids, size["seq_len"], size["batch_size"])
            nanogpt_twin.train_step(model, optimizer, x, y, 1e-3)
    rounds = a.step_rounds or (30 if a.sizes == "baby" else 5)
    times = []
    for i in range(2 + rounds):                                       # the first two: warm-up
        t0 = time.perf_counter()
        step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"ms_per_step": round(float(np.median(times)) * 1e3, 2), "steps_timed": rounds}))


# ------------------------------------------------------------------------------------------------ parent

def run_child(argv):
    """Run a child process; returns (its last stdout line as JSON, its wall seconds, its peak RSS in MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"train_text.py: {' '.join(argv[:3])} ... exited with {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), wall, usage.ru_maxrss / 1024   # Linux: ru_maxrss in KB


def median(values):
    values, half = sorted(values), len(values) // 2
    return values[half] if len(values) % 2 else (values[half - 1] + values[half]) / 2


def bench_recipe(a):
    """Whole runs of train_toy.py and the nanoGPT twin, taking turns; medians and each run."""
    ours_argv = [sys.executable, __file__, "--child", "ours", "--data", a.data, "--steps", str(a.steps),
                 "--recipe-threads", str(a.recipe_threads)] + (["--smoke"] if a.smoke else [])
    s = SMOKE if a.smoke else SIZES["baby"]
    twin_argv = [sys.executable, str(BENCH / "nanogpt_twin.py"), "--data", a.data, "--steps", str(a.steps),
                 "--threads", str(a.recipe_threads), "--block-size", str(s["seq_len"]),
                 "--batch-size", str(s["batch_size"]), "--n-layers", str(s["n_layers"]),
                 "--n-heads", str(s["n_heads"]), "--d-model", str(s["d_model"])]
    if a.smoke:
        twin_argv += ["--eval-interval", "3", "--eval-iters", "2"]
    runs = {"ours": [], "twin": []}
    for _ in range(a.rounds):
        for name, argv in (("ours", ours_argv), ("twin", None if a.no_torch else twin_argv)):
            if argv is None:
                continue
            result, wall, rss = run_child(argv)
            result.update(wall_s=round(wall, 2), peak_rss_mb=round(rss, 1))
            result.pop("estimates", None)
            runs[name].append(result)
            print(json.dumps({"recipe": name, **result}), file=sys.stderr, flush=True)
    summary = {}
    for name, results in runs.items():
        if results:
            summary[name] = {k: median([r[k] for r in results]) for k in
                             ("ms_per_iter_median", "wall_s", "heldout_loss", "peak_rss_mb")}
    if "twin" in summary:
        ours, twin = summary["ours"], summary["twin"]
        summary["iteration_ratio_ours_over_twin"] = round(twin["ms_per_iter_median"] / ours["ms_per_iter_median"], 3)
        summary["wall_ratio_ours_over_twin"] = round(twin["wall_s"] / ours["wall_s"], 3)
    evals = dict(eval_every=3, eval_batches=2) if a.smoke else dict(eval_every=EVAL_EVERY, eval_batches=EVAL_BATCHES)
    return {"config": dict(s, steps=a.steps, threads=a.recipe_threads, **evals), "median": summary, "runs": runs}


def bench_steps(a, sizes, thread_counts):
    """Each side's step in its own process, the two taking turns --rounds times; medians."""
    results = []
    for size in sizes:
        for threads in thread_counts:
            argv = [sys.executable, __file__, "--child", "step", "--data", a.data, "--sizes", size,
                    "--threads", str(threads)]
            argv += (["--step-rounds", str(a.step_rounds)] if a.step_rounds else []) + (["--smoke"] if a.smoke else [])
            ms = {"ours": [], "twin": []}
            for _ in range(a.rounds):
                for side in ms:
                    ms[side].append(run_child(argv + ["--side", side])[0]["ms_per_step"])
            ours, twin = median(ms["ours"]), median(ms["twin"])
            results.append({"size": size, "threads": threads, "ours_ms_per_step": ours, "twin_ms_per_step": twin,
                            "ratio_ours_over_twin": round(twin / ours, 3), "runs": ms})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def bench_eager(a, sizes, thread_counts):
    """bench/train_step.py's bare step against its explicit-attention eager twin, per size and threads."""
    results = []
    for size in sizes:
        s = SIZES[size]
        rounds = a.step_rounds or (30 if size == "baby" else 5)
        for threads in thread_counts:
            argv = [sys.executable, str(BENCH / "train_step.py"), "--threads", str(threads), "--steps", str(rounds),
                    "--warmup", "2" if size == "gpu" else "5", "--vocab-size", str(VOCAB),
                    "--d-model", str(s["d_model"]), "--n-layers", str(s["n_layers"]), "--n-heads", str(s["n_heads"]),
                    "--d-ff", str(s["d_ff"]), "--seq-len", str(s["seq_len"]), "--batch-size", str(s["batch_size"])]
            r = run_child(argv + (["--no-torch"] if a.no_torch else []))[0]
            r["size"] = size
            if "ratio_numpy_over_torch" in r:
                r["meets_target"] = r["ratio_numpy_over_torch"] >= TARGET
            keep = ("size", "threads", "numpy_ms_per_step", "numpy_tokens_per_s", "torch_ms_per_step",
                    "torch_tokens_per_s", "ratio_numpy_over_torch", "meets_target", "load_avg_before",
                    "load_avg_after")
            results.append({k: r[k] for k in keep if k in r})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def torch_importable():
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def main(argv=None):
    a = parse_args(argv)
    if a.child == "ours":
        return child_ours(a)
    if a.child == "step":
        return child_step(a)
    parts = [p for p in a.parts.split(",") if p]
    sizes = [name for name in a.sizes.split(",") if name]
    bad = [p for p in parts if p not in PARTS] or [s for s in sizes if s not in SIZES]
    if bad:
        sys.exit(f"train_text.py: error: unknown part or size {bad[0]!r} (parts: {', '.join(PARTS)}; sizes: "
                 f"{', '.join(SIZES)})")
    if not os.path.isfile(a.data):
        sys.exit(f"train_text.py: error: --data {a.data}: no such file")
    if a.smoke:
        a.steps, a.rounds, a.step_rounds, sizes = min(a.steps, 6), 1, a.step_rounds or 2, ["baby"]
    if not a.no_torch and not torch_importable():
        print("train_text.py: torch is not importable here: ours only (run with the dev venv's python for "
              "the twins)", file=sys.stderr)
        a.no_torch = True
    thread_counts = [int(n) for n in a.threads.split(",") if n]
    result = {"data": a.data, "cpu_count": os.cpu_count(), "load_avg_before": round(os.getloadavg()[0], 2)}
    if "recipe" in parts:
        result["recipe"] = bench_recipe(a)
    if "step" in parts and not a.no_torch:
        result["step"] = bench_steps(a, sizes, thread_counts)
    if "eager" in parts and not a.smoke:
        result["eager"] = {"target_ratio": TARGET, "vocab_size": VOCAB, "results": bench_eager(a, sizes, thread_counts)}
    result["load_avg_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
