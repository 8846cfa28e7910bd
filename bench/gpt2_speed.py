"""Benchmark: GPT-2 (124M shape) KV-cached greedy decode, 128-token prefill, N samples, peak memory. Prints JSON.

    python bench/gpt2_speed.py                            # 2 threads, 3 alternating rounds, no PyTorch
    .dev/bin/python bench/gpt2_speed.py          # an interpreter with torch + transformers adds PyTorch
    python bench/gpt2_speed.py --torch-python /path/to/python-with-torch --no-medium

Random weights (speed does not depend on the values) of GPT-2's 124M shape, and of gpt2-medium's, are
written once as Hugging Face directories (config.json + model.safetensors), by a child process. Then, for
each of --rounds rounds, each measurement in its own subprocess with the same BLAS thread count:
  * ours:   GPT2.from_pretrained(dir) -> iter_generate(temperature=0) of --decode-tokens tokens after a
            --prompt-len prompt: the time to the first token is the prefill; every gap between later
            tokens is a decode step, with everything a user waits for (sampling, Python) included.
            "mean" is the mean over all those steps, "median" and "best" the median and fastest step.
  * floor:  in the same process, just before and after: the time NumPy takes to multiply every weight
            matrix by one vector (c_attn, c_proj, c_fc, mlp.c_proj of every layer, and the (V, C) tied
            head). A decode step must read every weight once, so this is what a decoder written in NumPy
            cannot beat. (It leaves out the key/value cache, which a step must read too.)
  * samples: the same process, num_samples = 1, 4, 8 continuations of the prompt from one batched
            decode: tokens/s = N / mean step; and its floor, every weight matrix times an (N, C) matrix
            (N / that time): what OpenBLAS itself gives for N rows read against one weight pass. Also the prefill of a whole context window (1024 tokens):
            what --sliding-window (stride 1) pays per token past the window.
  * minimal: the same greedy decode (after our prefill) through bench/minimal_decode.py, a GPT-2 step in
            the fewest NumPy calls (no modules, no checks): the floor's products plus what every NumPy
            decoder must also do (read the key/value cache, ~30 small calls per layer). floor / minimal
            is what NumPy allows; minimal / ours what the library's one-Module-per-layer structure costs.
  * narrow: the same decode through a GPT-2 of the same depth and heads but tiny widths: what the
            layers' small NumPy calls cost per step apart from the matrix products.
  * torch:  transformers.GPT2LMHeadModel.from_pretrained(dir), PyTorch eager, inference_mode, a lean loop
            of model(next_token, past_key_values=...) (no generate() overhead), logits_to_keep=1 in the
            prefill (like ours, which projects only the last position onto the vocabulary).
  * rss:    a child that only loads our model and generates; its peak resident memory against the size
            of the weights file, with the resident memory split into anonymous (the process's own
            allocations) and file-backed (the memory-mapped weights, shared with the page cache).
The peak is /proc/self/status VmHWM, the high-water mark of this process's own address space.
getrusage's ru_maxrss would be wrong here: Linux carries the parent's peak over fork + exec, so a child
of a process that once held a model reports that process's peak (ru_maxrss is reported too, to show it).
Each ratio is taken per round and the median over the rounds is reported (the floor ratios use the
floor measured in the same process); only ratios measured in one run mean much on a shared machine.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_COUNTS = (1, 4, 8)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--decode-tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="alternating ours/torch runs")
    p.add_argument("--dir", default=None, help="keep (or reuse) the weights directories here")
    p.add_argument("--torch-python", default=sys.executable, help="interpreter for the PyTorch run")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-medium", action="store_true", help="skip the gpt2-medium shape")
    p.add_argument("--unset-openblas-hints", action="store_true",
                   help="run the children without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--worker", choices=["ours", "torch", "rss", "write"], help=argparse.SUPPRESS)
    p.add_argument("--preset", default="gpt2", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def mean(xs):
    return sum(xs) / len(xs)


# ---------------------------------------------------------------------------------------- workers

def prompt_ids(n, vocab=50257):
    import numpy as np
    return np.random.default_rng(0).integers(0, vocab, (1, n))


def memory_now():
    """Resident memory now, MB, split as the kernel counts it (smaps_rollup), and the peak (VmHWM)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024 / 1e6
    return fields


def worker_ours(args):
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from transformer_np import GPT2
    from minimal_decode import minimal_decoder                # bench/, beside this file
    model = GPT2.from_pretrained(args.dir)
    ids = prompt_ids(args.prompt_len, model.vocab_size)

    mats = [m.weight.data for b in model.h for m in (b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc, b.mlp.c_proj)]
    wte = model.wte.weight.data
    vecs = {n: np.full(n, 0.01, dtype=np.float32) for n in {w.shape[0] for w in mats} | {wte.shape[1]}}

    def floor():
        """Every weight matrix times one vector: the memory traffic of one decode step, nothing else."""
        t = time.perf_counter()
        for w in mats:
            vecs[w.shape[0]] @ w
        wte @ vecs[wte.shape[1]]
        return time.perf_counter() - t

    def floor_rows(n):
        """The same products for n rows at once (a decode step of n samples): what BLAS makes of reading
        each weight once for n rows, with nothing else around it."""
        rows = {k: np.full((n, k), 0.01, dtype=np.float32) for k in vecs}
        t = time.perf_counter()
        for w in mats:
            rows[w.shape[0]] @ w
        rows[wte.shape[1]] @ wte.T
        return time.perf_counter() - t

    def generate(m=model, prompt=ids, tokens=args.decode_tokens, num_samples=1):
        """(time to the first token, the gaps between later tokens, the first row's tokens)."""
        stamps, chosen = [time.perf_counter()], []
        for next_ids in m.iter_generate(prompt, tokens, temperature=0, num_samples=num_samples):
            stamps.append(time.perf_counter())
            chosen.append(next_ids)
        return (stamps[1] - stamps[0], [b - a for a, b in zip(stamps[1:], stamps[2:])],
                [int(row_ids[0]) for row_ids in chosen])

    def generate_minimal(tokens=args.decode_tokens):
        """The same greedy decode through bench/minimal_decode.py's step (after our prefill): the tokens it
        chose and its step times."""
        caches = model.new_caches(1, ids.shape[1] + tokens)
        token = int(np.argmax(model.forward(ids, caches, last_only=True, keep_activations=False)[0, -1]))
        step, chosen, times = minimal_decoder(model, caches), [token], []
        for t in range(ids.shape[1], ids.shape[1] + tokens - 1):
            start = time.perf_counter()
            chosen.append(step(chosen[-1], t))
            times.append(time.perf_counter() - start)
        return chosen, times

    generate()                                                # warm up: pages in, caches, BLAS threads
    generate_minimal(tokens=4)
    floors = [floor() for _ in range(8)]
    prefill, steps, ours_tokens = generate()
    minimal_tokens, minimal_steps = generate_minimal()
    floors += [floor() for _ in range(8)]
    prefills = [prefill] + [generate(tokens=2)[0] for _ in range(2)]
    # --sliding-window with stride 1 re-runs a whole window per token: about one (max_len - 1) prefill.
    window_prefill = generate(prompt=prompt_ids(model.max_len - 1, model.vocab_size), tokens=1)[0]
    samples, samples_floor = {}, {}
    for n in SAMPLE_COUNTS:
        generate(tokens=4, num_samples=n)                     # warm: the n-row shapes
        samples[n] = n / mean(generate(tokens=max(args.decode_tokens // 2, 4), num_samples=n)[1])
        samples_floor[n] = n / median([floor_rows(n) if n > 1 else floor() for _ in range(5)])
    # The same decode through a model of GPT-2's depth and head count but 8-wide heads and a 64-token
    # vocabulary: its matrix products cost next to nothing, so its step time is what the ~70 small
    # NumPy calls per layer cost on their own (warm caches; inside the real step they cost more).
    narrow = GPT2(dict(vocab_size=64, n_positions=model.max_len, n_embd=8 * model.n_heads,
                       n_layer=len(model.h), n_head=model.n_heads), seed=0).eval()   # as loaded: eval
    narrow_steps = [median(generate(narrow, ids % 64)[1]) for _ in range(2)]
    return dict(decode_step_mean_s=mean(steps), decode_step_median_s=median(steps), decode_step_best_s=min(steps),
                prefill_s=min(prefills), window_prefill_s=window_prefill, floor_s=median(floors), floor_best_s=min(floors),
                floor_bytes=sum(w.nbytes for w in mats) + wte.nbytes,
                samples_tok_s={str(n): v for n, v in samples.items()},
                samples_floor_tok_s={str(n): v for n, v in samples_floor.items()}, narrow_step_s=min(narrow_steps),
                minimal_step_mean_s=mean(minimal_steps), minimal_same_tokens=minimal_tokens == ours_tokens)


def worker_torch(args):
    import torch
    from transformers import GPT2LMHeadModel
    import transformers
    torch.set_num_threads(args.threads)
    model = GPT2LMHeadModel.from_pretrained(args.dir, dtype=torch.float32).eval()
    ids = torch.from_numpy(prompt_ids(args.prompt_len, model.config.vocab_size))

    def generate(tokens=args.decode_tokens):
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = model(ids, use_cache=True, logits_to_keep=1)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            prefill = time.perf_counter() - t0
            step_times = []
            for _ in range(tokens - 1):
                t = time.perf_counter()
                out = model(nxt, past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
                step_times.append(time.perf_counter() - t)
        return prefill, step_times

    generate()
    prefill, steps = generate()
    prefills = [prefill] + [generate(tokens=2)[0] for _ in range(2)]
    return dict(decode_step_mean_s=mean(steps), decode_step_median_s=median(steps), decode_step_best_s=min(steps),
                prefill_s=min(prefills), torch=torch.__version__, transformers=transformers.__version__,
                attn_implementation=model.config._attn_implementation, threads=torch.get_num_threads())


def worker_rss(args):
    sys.path.insert(0, str(ROOT))
    from transformer_np import GPT2
    model = GPT2.from_pretrained(args.dir)
    after_load = memory_now()
    stream = model.iter_generate(prompt_ids(args.prompt_len, model.vocab_size), args.decode_tokens, temperature=0)
    next(stream)
    after_prefill = memory_now()
    for _ in stream:
        pass
    end = memory_now()
    return dict(peak_rss_bytes=end["VmHWM"] * 1e6, after_load=after_load, after_prefill=after_prefill, end=end,
                ru_maxrss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)   # Linux: KiB


def worker_write(args):
    """Random weights of a preset's shape, saved as transformers does (config.json + model.safetensors)."""
    sys.path.insert(0, str(ROOT))
    from transformer_np import GPT2
    GPT2(args.preset, seed=0).save_pretrained(args.dir)
    return {}


# ------------------------------------------------------------------------------------------ driver

def child_env(args):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    if args.unset_openblas_hints:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return env


def run_worker(kind, args, directory, python=sys.executable, preset="gpt2"):
    cmd = [python, str(Path(__file__).resolve()), "--worker", kind, "--dir", str(directory), "--preset", preset,
           "--threads", str(args.threads), "--prompt-len", str(args.prompt_len),
           "--decode-tokens", str(args.decode_tokens)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=child_env(args))
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(r.stdout.strip().splitlines()[-1]), None


def weights_dir(args, base, preset):
    directory = base / preset
    if not (directory / "model.safetensors").is_file():
        print(f"writing random {preset} weights to {directory} ...", file=sys.stderr, flush=True)
        _, err = run_worker("write", args, directory, preset=preset)
        if err:
            raise SystemExit(f"writing the {preset} weights failed: {err}")
    return directory


def rss_summary(rss_runs, file_bytes):
    peaks = [r["peak_rss_bytes"] for r in rss_runs]
    worst = rss_runs[peaks.index(max(peaks))]
    return {"peak_MB_per_round": [p / 1e6 for p in peaks], "weights_file_MB": file_bytes / 1e6,
            "peak_vs_weights_file_per_round": [p / file_bytes for p in peaks],
            "worst_round_MB": {k: worst[k] for k in ("after_load", "after_prefill", "end")},
            "ru_maxrss_MB_per_round": [r["ru_maxrss_bytes"] / 1e6 for r in rss_runs]}


def medium_report(args, base):
    """gpt2-medium's shape: decode vs the floor measured in the same process, and peak RSS."""
    directory = weights_dir(args, base, "gpt2-medium")
    file_bytes = (directory / "model.safetensors").stat().st_size
    runs, rss_runs = [], []
    for _ in range(args.rounds):
        res, err = run_worker("ours", args, directory)
        if res is None:
            return {"error": err}
        runs.append(res)
        rss, err = run_worker("rss", args, directory)
        if rss:
            rss_runs.append(rss)
    return {"decode_tok_s_mean": median([1 / r["decode_step_mean_s"] for r in runs]),
            "floor_tok_s": median([1 / r["floor_s"] for r in runs]),
            "decode_mean_vs_floor": median([r["floor_s"] / r["decode_step_mean_s"] for r in runs]),
            "decode_median_vs_floor": median([r["floor_s"] / r["decode_step_median_s"] for r in runs]),
            "minimal_step_vs_floor": median([r["floor_s"] / r["minimal_step_mean_s"] for r in runs]),
            "samples_tok_s": {n: median([r["samples_tok_s"][n] for r in runs]) for n in runs[0]["samples_tok_s"]},
            "peak_rss": rss_summary(rss_runs, file_bytes) if rss_runs else None}


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        result = {"ours": worker_ours, "torch": worker_torch, "rss": worker_rss, "write": worker_write}[args.worker](args)
        print(json.dumps(result))
        return 0

    tmp = None
    if args.dir is None:
        tmp = tempfile.mkdtemp(prefix="gpt2_speed_")
    base = Path(args.dir or tmp)
    try:
        directory = weights_dir(args, base, "gpt2")
        file_bytes = (directory / "model.safetensors").stat().st_size
        ours_runs, torch_runs, rss_runs, torch_error = [], [], [], None
        for r in range(args.rounds):
            if not args.no_torch and torch_error is None:
                res, err = run_worker("torch", args, directory, args.torch_python)
                if res:
                    torch_runs.append(res)
                elif not torch_runs:
                    torch_error = err
            res, err = run_worker("ours", args, directory)
            if res is None:
                raise SystemExit(f"our worker failed: {err}")
            ours_runs.append(res)
            rss, err = run_worker("rss", args, directory)
            if rss is None:
                raise SystemExit(f"the rss worker failed: {err}")
            rss_runs.append(rss)
            print(f"round {r + 1}/{args.rounds}: ours {1 / res['decode_step_mean_s']:.1f} tok/s (mean step), minimal "
                  f"{1 / res['minimal_step_mean_s']:.1f}, floor {1 / res['floor_s']:.1f}, peak RSS {rss['peak_rss_bytes'] / 1e6:.0f} MB"
                  + (f", torch {1 / torch_runs[-1]['decode_step_mean_s']:.1f} tok/s" if torch_runs else ""),
                  file=sys.stderr, flush=True)

        per_round = lambda f: median([f(run) for run in ours_runs])  # noqa: E731
        report = {
            "benchmark": "gpt2_speed",
            "model": "GPT-2 124M shape (random weights), float32",
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version(),
                        "OPENBLAS_CORETYPE": None if args.unset_openblas_hints else os.environ.get("OPENBLAS_CORETYPE"),
                        "OPENBLAS_L2_SIZE": None if args.unset_openblas_hints else os.environ.get("OPENBLAS_L2_SIZE")},
            "threads": args.threads, "prompt_len": args.prompt_len, "decode_tokens": args.decode_tokens,
            "rounds": args.rounds, "weights_file_bytes": file_bytes,
            "ours": {"decode_tok_s_mean": per_round(lambda r: 1 / r["decode_step_mean_s"]),
                     "decode_tok_s_median_step": per_round(lambda r: 1 / r["decode_step_median_s"]),
                     "decode_tok_s_best_step": per_round(lambda r: 1 / r["decode_step_best_s"]),
                     "decode_ms_per_token_narrow_model": per_round(lambda r: 1e3 * r["narrow_step_s"]),
                     "minimal_step_tok_s": per_round(lambda r: 1 / r["minimal_step_mean_s"]),
                     "minimal_same_tokens_every_round": all(r["minimal_same_tokens"] for r in ours_runs),
                     "prefill_s": per_round(lambda r: r["prefill_s"]),
                     "sliding_window_recompute_s": per_round(lambda r: r["window_prefill_s"]),
                     "samples_tok_s": {n: per_round(lambda r: r["samples_tok_s"][n]) for n in ours_runs[0]["samples_tok_s"]},
                     "samples_floor_tok_s": {n: per_round(lambda r: r["samples_floor_tok_s"][n])
                                             for n in ours_runs[0]["samples_floor_tok_s"]}},
            "floor": {"what": "every weight matrix (48 of 12 blocks + tied head) times one vector, NumPy",
                      "tok_s": per_round(lambda r: 1 / r["floor_s"]),
                      "bandwidth_GB_s": per_round(lambda r: r["floor_bytes"] / r["floor_s"] / 1e9)},
            "torch": None, "peak_rss": rss_summary(rss_runs, file_bytes), "ratios": {},
        }
        ratios = report["ratios"]
        ratios["decode_mean_vs_floor"] = per_round(lambda r: r["floor_s"] / r["decode_step_mean_s"])
        ratios["decode_median_step_vs_floor"] = per_round(lambda r: r["floor_s"] / r["decode_step_median_s"])
        ratios["decode_best_step_vs_best_floor"] = per_round(lambda r: r["floor_best_s"] / r["decode_step_best_s"])
        ratios["minimal_step_vs_floor"] = per_round(lambda r: r["floor_s"] / r["minimal_step_mean_s"])
        ratios["decode_mean_vs_minimal_step"] = per_round(lambda r: r["minimal_step_mean_s"] / r["decode_step_mean_s"])
        ratios["samples_8_vs_1_tok_s"] = per_round(lambda r: r["samples_tok_s"]["8"] / r["samples_tok_s"]["1"])
        ratios["samples_4_vs_1_tok_s"] = per_round(lambda r: r["samples_tok_s"]["4"] / r["samples_tok_s"]["1"])
        # The same ratio for the weight products alone: how much of 8x BLAS itself gives for 8 rows.
        ratios["samples_8_vs_1_floor"] = per_round(lambda r: r["samples_floor_tok_s"]["8"] / r["samples_floor_tok_s"]["1"])
        ratios["peak_rss_vs_weights_file_worst_round"] = max(report["peak_rss"]["peak_vs_weights_file_per_round"])
        if torch_runs:
            info = {k: torch_runs[0][k] for k in ("torch", "transformers", "attn_implementation", "threads")}
            t_mean = median([r["decode_step_mean_s"] for r in torch_runs])
            t_prefill = median([r["prefill_s"] for r in torch_runs])
            report["torch"] = dict(info, decode_tok_s_mean=1 / t_mean, prefill_s=t_prefill)
            ratios["decode_mean_vs_torch"] = t_mean * report["ours"]["decode_tok_s_mean"]
            ratios["prefill_vs_torch"] = t_prefill / report["ours"]["prefill_s"]
        elif not args.no_torch:
            report["torch"] = {"unavailable": torch_error}
        if not args.no_medium:
            report["gpt2_medium"] = medium_report(args, base)
        report["targets"] = {"decode_mean_vs_floor": ">= 0.9", "prefill_vs_torch": ">= 1.3",
                             "peak_rss_vs_weights_file_worst_round": "<= 1.25", "samples_8_vs_1_tok_s": ">= 5"}
        met = report["targets_met"] = {
            "decode_mean_vs_floor": ratios["decode_mean_vs_floor"] >= 0.9,
            "peak_rss_vs_weights_file_worst_round": ratios["peak_rss_vs_weights_file_worst_round"] <= 1.25,
            "samples_8_vs_1_tok_s": ratios["samples_8_vs_1_tok_s"] >= 5}
        if "prefill_vs_torch" in ratios:
            met["prefill_vs_torch"] = ratios["prefill_vs_torch"] >= 1.3
        text = json.dumps(report, indent=2)
        print(text)
        if args.out:
            Path(args.out).write_text(text + "\n")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
