"""Benchmark: where a train_toy.py text step's time goes, phase by phase, beside the bare library step.

    python bench/train_phases.py                         # nanoGPT's CPU recipe, 500 steps, 1 thread
    python bench/train_phases.py --threads 2 --steps 300 --rounds 3
    python bench/train_phases.py --smoke                 # a few tiny steps (what the test runs)

train_toy.py's own code runs (its main(), the Trainer, its progress and evaluation callbacks) with a timer
wrapped around each function a step or an evaluation calls:
    batch       drawing the training windows (Text.batch)
    lr          the learning-rate schedule (Trainer.lr_at)
    zero_grad   AdamW.zero_grad
    forward     the model's forward (train.forward)
    loss        CrossEntropyLoss.forward            backward   loss + model backward
    metrics     the training-batch accuracy (train.accuracy in a step)
    clip        clip_grad_norm                      optimizer  AdamW.step
    progress    train_toy.py's per-step callback (show_progress; stdout is not a terminal here, as in a log)
    evaluation_estimate / evaluation_final   the held-out evaluations before the last / the last one
    checkpoint  Trainer.save                        sample     the text sample printed at each evaluation
    curves      the curves.svg redraw
    loop        what is left of Trainer.run: the loop itself, metrics.jsonl, the evaluation's bookkeeping
Each phase's time is its own (a phase inside another is not counted twice). The bare step is the
library's loop body (zero_grad, forward, loss, backward, AdamW) on a second model of the same size, run
on the same batch just before or after each of train_toy.py's steps (taking turns at going first), so a
change of the machine's load hits both;
"overhead_ms_per_step" is the median train_toy.py step (Trainer.train_step) minus the median bare step.
The phases are means per training step (evaluations spread over the steps).
Prints one JSON object (and a table on stderr). A benchmark, not a test: numbers vary with the machine.
"""
import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=str(DATA), help="text file to train on")
    p.add_argument("--steps", type=int, default=500, help="training steps per round")
    p.add_argument("--eval-every", type=int, default=250, help="evaluate every N steps (nanoGPT's interval)")
    p.add_argument("--rounds", type=int, default=1, help="train_toy.py runs (each followed by the bare loop)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (train_toy.py's --threads)")
    p.add_argument("--smoke", action="store_true", help="a tiny model for a few steps (checks the bench runs)")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread variables)

sys.path.insert(0, str(ROOT))
import train_toy  # noqa: E402
from transformer_np import losses, optim, tasks, train  # noqa: E402
from transformer_np.models import TransformerLM  # noqa: E402
from transformer_np.viz import curves  # noqa: E402

STEP_PHASES = ("batch", "lr", "zero_grad", "forward", "loss", "backward", "metrics", "clip", "optimizer",
               "progress")
EVAL_PHASES = ("evaluation_estimate", "evaluation_final", "checkpoint", "sample", "curves")
BARE_PHASES = ("zero_grad", "forward", "loss", "backward", "optimizer")


class PhaseTimer:
    """Exclusive wall time per phase: a phase running inside another is subtracted from the outer one."""

    def __init__(self):
        self.seconds, self.stack = {}, []

    @contextlib.contextmanager
    def phase(self, name):
        self.stack.append(0.0)                          # time spent in phases nested in this one
        t0 = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - t0
            inner = self.stack.pop()
            self.seconds[name] = self.seconds.get(name, 0.0) + spent - inner
            if self.stack:
                self.stack[-1] += spent

    def wrap(self, owner, attr, name):
        """Replace owner.attr by a timed version; `name` may be a function of the call's arguments."""
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            with self.phase(name(*args) if callable(name) else name):
                return original(*args, **kwargs)
        setattr(owner, attr, timed)
        return original


def instrument(timer, full_heldout_size):
    """Wrap what a train_toy.py step and evaluation call; returns what to restore."""
    current_eval = []                       # the evaluation phase running, if any

    def step_phase(name):                   # forward and accuracy inside evaluate() belong to the evaluation
        return lambda *args: current_eval[-1] if current_eval else name

    original_eval = train.evaluate

    def evaluate(model, arch, heldout, *args, **kwargs):
        full = len(heldout["targets"]) == full_heldout_size()
        current_eval.append("evaluation_final" if full else "evaluation_estimate")
        try:
            with timer.phase(current_eval[-1]):
                return original_eval(model, arch, heldout, *args, **kwargs)
        finally:
            current_eval.pop()
    train.evaluate = evaluate
    saved = [(train, "evaluate", original_eval)]
    for owner, attr, name in [
            (tasks.Text, "batch", "batch"), (train.Trainer, "lr_at", "lr"),
            (optim.Optimizer, "zero_grad", "zero_grad"), (train, "forward", step_phase("forward")),
            (losses.CrossEntropyLoss, "forward", "loss"), (losses.CrossEntropyLoss, "backward", "backward"),
            (TransformerLM, "backward", "backward"), (train, "accuracy", step_phase("metrics")),
            (train, "clip_grad_norm", "clip"), (optim.Optimizer, "step", "optimizer"),
            (train.Trainer, "save", "checkpoint"), (train_toy, "show_progress", "progress"),
            (train_toy, "text_sample", "sample"), (curves, "write_curves_svg", "curves"),
            (train.Trainer, "run", "loop")]:
        saved.append((owner, attr, timer.wrap(owner, attr, name)))
    return saved


def restore(saved):
    for owner, attr, original in reversed(saved):
        setattr(owner, attr, original)


# The library's own functions, taken before instrument() wraps them (the bare step must not be timed as ours).
UNWRAPPED = (optim.Optimizer.zero_grad, optim.Optimizer.step, losses.CrossEntropyLoss.forward,
             losses.CrossEntropyLoss.backward, TransformerLM.backward)


def bare_stepper(timer, config):
    """The library's step (zero_grad, forward, loss, backward, AdamW) on a model of the same size, with
    the functions as they were before instrument() wrapped them; timed phases are named bare_*."""
    model = TransformerLM(**config)
    opt = optim.AdamW(optim.decay_groups(model.named_parameters(), 0.1), lr=1e-3, betas=(0.9, 0.99))
    loss_fn = losses.CrossEntropyLoss()
    zero_grad, update, loss_forward, loss_backward, model_backward = UNWRAPPED
    step_times = []

    def step(batch):
        t0 = time.perf_counter()
        with timer.phase("bare_zero_grad"):
            zero_grad(opt)
        with timer.phase("bare_forward"):
            logits = model.forward(batch["inputs"])
        with timer.phase("bare_loss"):
            loss_forward(loss_fn, logits, batch["targets"])
        with timer.phase("bare_backward"):
            model_backward(model, loss_backward(loss_fn))
        with timer.phase("bare_optimizer"):
            update(opt)
        step_times.append(time.perf_counter() - t0)
    return step, step_times


def run_train_toy(a, out):
    """train_toy.py's main() on the recipe, every phase timed, and beside each of its steps the bare library
    step on the same batch (so both see the same machine load). Returns (phase seconds, train_toy.py's
    step seconds, the bare step's, the wall seconds of main(), the trainer)."""
    timer, trainers, step_times, bare = PhaseTimer(), [], [], []
    original_step, original_init = train.Trainer.train_step, train.Trainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainers.append(self)
        bare.extend(bare_stepper(timer, self.model.config))

    def train_step(self, batch):
        if len(step_times) % 2:                     # taking turns at going first: the second of two
            bare[0](batch)                          # steps finds the caches warmer
        t0 = time.perf_counter()
        result = original_step(self, batch)
        step_times.append(time.perf_counter() - t0)
        if len(step_times) % 2:
            bare[0](batch)
        return result
    train.Trainer.__init__, train.Trainer.train_step = init, train_step
    saved = instrument(timer, lambda: len(trainers[0].heldout["targets"]))
    argv = ["--task", "text", "--data", a.data, "--steps", str(a.steps), "--eval-every", str(a.eval_every),
            "--threads", str(a.threads), "--out", out, "--overwrite"]
    if a.smoke:
        argv += ["--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "32", "--block-size", "16",
                 "--eval-size", "40", "--eval-batches", "2"]
    try:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = train_toy.main(argv)
        wall = time.perf_counter() - t0
    finally:
        restore(saved)
        train.Trainer.__init__, train.Trainer.train_step = original_init, original_step
    if code != 0:
        raise SystemExit(f"train_phases.py: train_toy.py exited with {code}")
    bare_seconds = sum(v for k, v in timer.seconds.items() if k.startswith("bare_"))
    return timer.seconds, step_times, bare[1], wall - bare_seconds, trainers[0]


def median_ms(times):
    return round(float(np.median(times)) * 1e3, 3)


def main(a):
    if not os.path.isfile(a.data):
        print(f"train_phases.py: error: --data {a.data}: no such file", file=sys.stderr)
        return 2
    if a.smoke:
        a.steps, a.eval_every = min(a.steps, 6), min(a.eval_every, 3)
    phases, ours_steps, bare_steps, walls = {}, [], [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.rounds):
            seconds, steps, bare, wall, trainer = run_train_toy(a, os.path.join(tmp, "run"))
            for k, v in seconds.items():
                phases[k] = phases.get(k, 0.0) + v
            ours_steps += steps
            bare_steps += bare
            walls.append(wall)
    n = a.steps * a.rounds
    per_step = lambda phases, names: {k: round(phases.get(k, 0.0) / n * 1e3, 3) for k in names}  # noqa: E731
    cfg = trainer.cfg
    result = {
        "recipe": {k: getattr(cfg, k, None) for k in ("block_size", "batch_size", "n_layers", "n_heads", "d_model",
                                               "d_ff", "eval_every", "eval_batches", "eval_size")},
        "steps": a.steps, "rounds": a.rounds, "threads": a.threads, "numpy": np.__version__,
        "train_toy": {"ms_per_step_median": median_ms(ours_steps),
                      "wall_s_median": round(float(np.median(walls)), 2),
                      "phases_ms_per_step": per_step(phases, STEP_PHASES + EVAL_PHASES + ("loop",))},
        "bare": {"ms_per_step_median": median_ms(bare_steps),
                 "phases_ms_per_step": {k: round(phases.get("bare_" + k, 0.0) / n * 1e3, 3) for k in BARE_PHASES}},
        "overhead_ms_per_step": round(median_ms(ours_steps) - median_ms(bare_steps), 3),
        "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2)}
    rows = result["train_toy"]["phases_ms_per_step"]
    print(f"{'phase':22} {'train_toy.py':>13} {'bare step':>10}   (ms per training step)", file=sys.stderr)
    for name, ms in rows.items():
        bare = result["bare"]["phases_ms_per_step"].get(name)
        print(f"{name:22} {ms:13.3f} {'' if bare is None else f'{bare:10.3f}'}", file=sys.stderr)
    print(f"{'median step':22} {result['train_toy']['ms_per_step_median']:13.3f} "
          f"{result['bare']['ms_per_step_median']:10.3f}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
