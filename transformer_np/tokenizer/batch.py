"""Encoding many texts in parallel worker processes.

The tokenizer is pure Python, so threads would take turns on the interpreter lock; processes
really run side by side. Each worker gets a copy of the tokenizer once (for free with ``fork``,
pickled otherwise), then a few contiguous runs of texts, so the results come back in order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os

#: Below this many characters in total, starting processes costs more than it saves.
MIN_PARALLEL_CHARS = 1 << 18

_worker_tokenizer = None


def _init_worker(tokenizer) -> None:
    global _worker_tokenizer
    _worker_tokenizer = tokenizer


def _encode_run(job: tuple[str, list[str], dict]) -> list[list[int]]:
    method, texts, options = job
    encode = getattr(_worker_tokenizer, method)
    return [encode(text, **options) for text in texts]


def worker_count(requested: int, texts: list[str]) -> int:
    """How many processes to use: at most ``requested`` and the CPUs, 1 for small batches."""
    if len(texts) < 2 or sum(map(len, texts)) < MIN_PARALLEL_CHARS:
        return 1
    return max(1, min(requested, os.cpu_count() or 1, len(texts)))


def _runs(texts: list[str], count: int) -> list[list[str]]:
    """``texts`` cut into ``count`` contiguous runs of about equal total length."""
    total = sum(map(len, texts))
    runs: list[list[str]] = [[]]
    filled = 0
    for text in texts:
        if filled >= total * len(runs) / count and len(runs) < count:
            runs.append([])
        runs[-1].append(text)
        filled += len(text)
    return runs


def encode_in_processes(tokenizer, method: str, texts: list[str], options: dict, workers: int) -> list[list[int]]:
    """``[tokenizer.<method>(text, **options) for text in texts]``, spread over ``workers`` processes."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    # Two runs per worker evens out texts of unequal difficulty.
    jobs = [(method, run, options) for run in _runs(texts, 2 * workers) if run]
    # Forked workers share the parent's objects copy-on-write; the garbage collector would walk
    # (and so copy) all of them. Frozen objects are skipped.
    gc.freeze()
    try:
        with context.Pool(workers, initializer=_init_worker, initargs=(tokenizer,)) as pool:
            results = pool.map(_encode_run, jobs, chunksize=1)
    finally:
        gc.unfreeze()
    return [ids for run in results for ids in run]
