"""The training loop for the toy tasks and text: AdamW + decay groups + warm-up/cosine schedule + gradient
clipping, held-out evaluation, metrics.jsonl, atomic checkpoints, bit-for-bit resume.

    trainer = Trainer(config)                  # or Trainer.resume(out_dir)
    result = trainer.run(on_eval=..., on_step=...)

Everything random comes from three streams: the model's `_rng` (init and dropout), the data generator's rng
(training batches), and a fixed `eval_seed` (held-out set). The checkpoint stores the first two generators'
states, AdamW's m and v by parameter name and the step, so a resumed run repeats the uninterrupted one
exactly (same data order, same dropout masks, np.array_equal parameters).
"""
import dataclasses
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from . import checkpoints
from .checkpoints import CheckpointError, newest_checkpoint, read_json  # noqa: F401 (public via train)
from .io.atomic import append_text, atomic_write_json, atomic_write_text
from .io.safetensors import load_safetensors, save_safetensors
from .losses import CrossEntropyLoss, accuracy
from .models.config_fields import available_memory_bytes
from .models.hf_layout import hf_config, hf_tensors, our_state_dict
from .optim import AdamW, clip_grad_norm, decay_groups, warmup_cosine
# What to train (configuration, defaults, task and model builders) lives in train_setup.py; its public
# names are importable from here too, so `from transformer_np.train import Trainer, TrainConfig` works.
from .train_setup import (TrainConfig, TrainingError, build_model, build_task, default_arch,  # noqa: F401
                          defaults_for, init_model)


class Diverged(Exception):
    """The loss (or gradient norm) went NaN / inf; the last good checkpoint is left in place."""


# -------------------------------------------------------------------------------------------- running

def forward(model, arch, batch, keep_activations=True):
    """Logits of `batch`; keep_activations=False (evaluation: no backward follows) lets a language model's
    blocks forget their saved inputs as they go, so memory holds one block's activations, not the stack's."""
    if arch == "seq2seq":
        return model.forward(batch["src"], batch["tgt_in"])
    if "key_padding_mask" in batch:             # texts of different lengths, padded (classify-text)
        return model.forward(batch["inputs"], batch["key_padding_mask"])
    if arch == "lm":
        return model.forward(batch["inputs"], keep_activations=keep_activations)
    return model.forward(batch["inputs"])


# ------------------------------------------------------------------------------------------ evaluation

def evaluate(model, arch, heldout, chunk=512):
    """Held-out loss and token accuracy (teacher forcing, argmax on the scored positions) and sequence
    accuracy (greedy decoding of the whole answer from the prompt, compared whole; None for text).
    `chunk` examples at a time, keeping no activations for backward: the peak memory is one chunk's pass
    through one block, whatever the size of `heldout`. Returns (metrics dict, predicted answers or None)."""
    was_training = model.training
    model.eval()
    loss_fn, n = CrossEntropyLoss(), len(heldout["targets"])
    loss_sum = correct = weight = 0.0
    predictions = []
    try:
        for i in range(0, n, chunk):
            part = {k: v[i:i + chunk] for k, v in heldout.items()}
            logits = forward(model, arch, part, keep_activations=False)
            w = float(part["weights"].sum())
            loss_sum += loss_fn.forward(logits, part["targets"], part["weights"]) * w
            correct += accuracy(logits, part["targets"], part["weights"]) * w
            weight += w
            if "answer" not in part:
                continue
            A = part["answer"].shape[1]
            if arch == "lm":
                predictions.append(model.generate(part["prompt"], A, temperature=0)[:, -A:])
            elif arch == "seq2seq":
                predictions.append(model.generate(part["src"], A, start_id=0, temperature=0)[:, 1:])
            else:
                predictions.append(logits.argmax(axis=-1)[:, None])
    finally:
        model.release_activations()             # the last chunk's logits, norms and head inputs
        model.train(was_training)
    metrics = {"heldout_loss": loss_sum / weight, "token_accuracy": correct / weight, "sequence_accuracy": None}
    if predictions:
        predictions = np.concatenate(predictions)
        metrics["sequence_accuracy"] = float(np.mean(np.all(predictions == heldout["answer"], axis=1)))
        return metrics, predictions
    return metrics, None


# ----------------------------------------------------------------------------------------- checkpoints

def write_json_atomic(path, obj):
    atomic_write_json(path, obj)


def has_checkpoint(out):
    """Whether `out` holds a checkpoint of a run (see transformer_np/checkpoints.py for the layout)."""
    return checkpoints.has_checkpoint(out)


def run_config(directory):
    """The saved run description {"train": TrainConfig fields, "task": ..., ...} in `directory` (a run's
    --out, one of its checkpoints, or an exported model): run_config.json (text runs, whose config.json is
    Hugging Face's) or config.json (toy runs, and text runs saved before)."""
    directory = Path(directory)
    path = directory / "run_config.json"
    if not path.is_file():
        path = directory / "config.json"
    run = read_json(path, "run configuration")
    if not isinstance(run.get("train"), dict):
        raise CheckpointError(f"{path}: not a training run's configuration (no \"train\" object)")
    return run


# Every file a run writes at the top of --out besides checkpoints/ (what --overwrite removes, with it).
RUN_FILES = tuple(sorted(checkpoints.RUN_ENTRIES - {checkpoints.CHECKPOINTS_DIR, checkpoints.LOCK_FILE}))


def _check_saved_types(saved, where):
    """A saved field of the wrong type (a damaged or hand-edited file) is one line, not a TypeError later."""
    for f in dataclasses.fields(TrainConfig):
        if f.name not in saved or saved[f.name] is None:
            continue
        value, default = saved[f.name], f.default
        if f.name == "data" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            continue                                     # --data with several paths
        kinds = (int, float) if isinstance(default, float) else (type(default),) if default is not None else \
            (str, int)
        if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, kinds):
            raise CheckpointError(f"{where}: \"{f.name}\" is {value!r}, not a valid value")


# ------------------------------------------------------------------------------------------ memory

def memory_estimate(cfg, vocab_size, seq_len):
    """(bytes, parameters): roughly what a run needs: every parameter with its gradient and AdamW's m and v
    (4 float32 each); the activations backward keeps for one micro-batch (or one held-out chunk) of seq_len
    tokens, per block ~16 d_model + 3 d_ff + 3 heads x seq_len floats per token, plus the logits; the
    held-out set's integer arrays. Python ints: a huge flag cannot overflow the estimate."""
    d, f, blocks = int(cfg.d_model), int(cfg.d_ff), int(cfg.n_layers) * (2 if cfg.arch == "seq2seq" else 1)
    per_block = 4 * d * d + 2 * d * f + 12 * d + (2 * d * d if cfg.arch == "seq2seq" else 0)
    params = blocks * per_block + 2 * vocab_size * d + seq_len * d
    rows = max(cfg.batch_size // cfg.grad_accum, min(cfg.eval_size, 512))
    activations = rows * seq_len * (blocks * (16 * d + 3 * f + 3 * cfg.n_heads * seq_len) + 3 * vocab_size)
    heldout = cfg.eval_size * seq_len * 8 * 6
    return 16 * params + 4 * activations + heldout, params


def check_memory(cfg, task):
    """Refuse, with the numbers, a run whose sizes need more memory than the machine has free (before
    anything big is allocated: a typo like --layers 100000 would otherwise swap for minutes)."""
    seq_len = cfg.block_size if cfg.task in ("text", "classify-text") else 2 * int(task.length) + 4
    need, params = memory_estimate(cfg, int(task.vocab_size), seq_len)
    free = available_memory_bytes()
    if free is not None and need > free:
        raise TrainingError(
            f"this run needs about {need / 1e9:,.1f} GB ({params:,} parameters: --d-model {cfg.d_model}, "
            f"--layers {cfg.n_layers}, --d-ff {cfg.d_ff}, a {task.vocab_size:,}-token vocabulary; batches of "
            f"{cfg.batch_size} x {seq_len:,} tokens; --eval-size {cfg.eval_size}) but {free / 1e9:.1f} GB are "
            f"free: make the model, the sequences or the batches smaller")


# --------------------------------------------------------------------------------------------- trainer

class Trainer:
    """Owns the task, model, optimizer, data stream and metrics of one run. `run()` trains to cfg.steps
    (or `stop_at`), evaluating every cfg.eval_every steps; after it, `model`, `heldout`, `predictions`
    and `metrics` hold the trained model, the held-out set, its greedy answers and every evaluation."""

    def __init__(self, cfg, _state=None):
        self.cfg = cfg
        for name in ("steps", "batch_size", "eval_every", "eval_size", "eval_batches", "d_model", "n_layers",
                     "n_heads", "d_ff"):
            if getattr(cfg, name) < 1:
                flag = {"n_layers": "layers", "n_heads": "heads"}.get(name, name).replace("_", "-")
                raise TrainingError(f"--{flag} must be >= 1, got {getattr(cfg, name)}")
        if not cfg.lr > 0 or not math.isfinite(cfg.lr):
            raise TrainingError(f"--lr must be a positive number, got {cfg.lr}")
        if cfg.warmup < 0:
            raise TrainingError(f"--warmup must be >= 0, got {cfg.warmup}")
        if not 0.0 <= cfg.dropout < 1.0:
            raise TrainingError(f"--dropout must be in [0, 1), got {cfg.dropout}")
        if cfg.grad_accum < 1 or cfg.batch_size % cfg.grad_accum:
            raise TrainingError(f"--grad-accum {cfg.grad_accum} must divide --batch-size {cfg.batch_size}")
        if not isinstance(cfg.seed, int) or cfg.seed < 0:
            raise TrainingError(f"--seed must be an integer >= 0, got {cfg.seed!r}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(cfg, name) < 1.0:
                raise TrainingError(f"--{name} must be in [0, 1), got {getattr(cfg, name)}")
        for name in ("min_lr_ratio", "weight_decay", "clip"):
            if not 0.0 <= getattr(cfg, name) < math.inf:
                raise TrainingError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {getattr(cfg, name)}")
        if str(cfg.out) == "":
            raise TrainingError("--out must name a directory (it is empty)")
        if cfg.init and cfg.task != "text":
            raise TrainingError(f"--init is for --task text (fine-tuning GPT-2), not --task {cfg.task}")
        init = init_model(cfg) if cfg.init else None
        self.task = build_task(cfg, init)
        if init:                      # record what the run really is: the checkpoint's sizes and tokenizer
            k, where = init[0].config, Path(cfg.init)
            cfg = self.cfg = dataclasses.replace(cfg, d_model=k["d_model"], n_layers=k["n_layers"],
                                                 n_heads=k["n_heads"], d_ff=k["d_ff"], tokenizer="gpt2",
                                                 init=str(where.resolve()) if where.is_dir() else cfg.init)
        check_memory(cfg, self.task)
        self.model = init[0] if init else build_model(cfg, self.task)
        self.named = dict(self.model.named_parameters())
        self.opt = AdamW(decay_groups(self.named.items(), cfg.weight_decay), lr=cfg.lr,
                         betas=(cfg.beta1, cfg.beta2))
        self.loss_fn = CrossEntropyLoss()
        self.data_rng = np.random.default_rng([cfg.seed, 1])
        self.heldout = self.task.heldout(cfg.arch, cfg.eval_size, cfg.eval_seed)
        self.heldout_estimate = self.heldout_subset(cfg.eval_batches * cfg.batch_size) \
            if cfg.task == "text" else self.heldout
        self.out = Path(cfg.out)
        self.step, self.seconds, self.metrics, self.predictions = 0, 0.0, [], None
        self.stopped_reason = None
        self.schedule_restart = None  # (step, lr): a cosine from lr there to the minimum at cfg.steps
        self.notes = []               # things the user should know about this run (printed by train_toy.py)
        self._recent_losses = []      # training losses since the last evaluation
        self._recent_accuracies = []  # training-batch token accuracies since the last evaluation
        self._last_losses = []        # the last 20 training losses (final_loss is their mean)
        if _state is not None:
            self._load(_state)

    # ---- checkpoint -----------------------------------------------------------------------------
    def save(self):
        """Checkpoint the run as one unit: model, optimizer, trainer state and metrics into a new
        checkpoints/step-N directory published by one rename, then its model files copied to the top of
        --out (layout: transformer_np/checkpoints.py). Text runs: the model files are a Hugging Face GPT-2
        directory (config.json, model.safetensors, the tokenizer) plus run_config.json; toy runs:
        config.json holds the model and the run description."""
        meta = {"step": str(self.step)}
        run = {"model": type(self.model).__name__, "model_config": self.model.config, "dtype": "float32",
               "task": self.task.spec, "train": dataclasses.asdict(self.cfg)}
        moments = {}
        for name, p in self.named.items():
            state = self.opt.state.get(id(p))
            if state:
                moments[f"m.{name}"], moments[f"v.{name}"] = state["m"], state["v"]
        trainer_state = {
            "step": self.step, "seconds": self.seconds, "optimizer_step": self.opt.step_count,
            "data_rng": self.data_rng.bit_generator.state, "model_rng": self.model._rng.bit_generator.state,
            "recent_losses": self._recent_losses, "recent_accuracies": self._recent_accuracies,
            "last_losses": self._last_losses, "stopped_reason": self.stopped_reason,
            "schedule_restart": self.schedule_restart}

        def write_files(directory):
            if self.cfg.task == "text":
                save_safetensors(directory / "model.safetensors", hf_tensors(self.model), dict(meta, format="pt"))
                tokenizer = self.task.tokenizer
                extra = tokenizer.to_config() if self.task.is_char else {}
                write_json_atomic(directory / "config.json", dict(hf_config(self.model), **extra))
                if not self.task.is_char:
                    tokenizer.save(directory)
                write_json_atomic(directory / "run_config.json", run)
            else:
                save_safetensors(directory / "model.safetensors", self.model.state_dict(), meta)
                write_json_atomic(directory / "config.json", run)
                if hasattr(self.task, "save_files"):          # e.g. classify-text's learned BPE
                    self.task.save_files(directory)
            save_safetensors(directory / "optimizer.safetensors", moments, meta)
            write_json_atomic(directory / "trainer_state.json", trainer_state)
            atomic_write_text(directory / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in self.metrics))

        claimed_here = not getattr(self, "_claimed", False)      # save() called outside run()
        self.claim_out()
        try:
            checkpoints.publish_checkpoint(self.out, self.step, write_files)
        finally:
            if claimed_here:
                self.release_out()

    @classmethod
    def resume(cls, out, checkpoint=None, **overrides):
        """Rebuild the run saved in `out` (its config, optionally with `overrides`) at the step of its newest
        complete checkpoint (`checkpoint`: (directory, notes) from newest_checkpoint(out), if already
        found). Nothing is written until run(): a resume that fails leaves every file as it was."""
        out = Path(out)
        directory, notes = checkpoint or newest_checkpoint(out)
        saved = run_config(directory)["train"]
        _check_saved_types(saved, directory / ("run_config.json" if (directory / "run_config.json").is_file()
                                               else "config.json"))
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        state = read_json(directory / "trainer_state.json", "trainer state")
        cfg = TrainConfig(**dict({k: v for k, v in saved.items() if k in fields}, out=str(out), **overrides))
        trainer = cls(cfg, _state=(directory, state))
        trainer.notes[:0] = notes
        if cfg.steps != saved.get("steps"):
            trainer.restart_schedule(saved.get("steps", cfg.steps))
        return trainer

    def lr_at(self, step):
        """The learning rate of step `step` + 1: linear warm-up, then cosine decay to lr * min_lr_ratio at
        cfg.steps; after a resume that changed --steps, a cosine from the rate then (see restart_schedule)."""
        cfg, min_lr = self.cfg, self.cfg.lr * self.cfg.min_lr_ratio
        if self.schedule_restart is None:
            return warmup_cosine(step, cfg.lr, cfg.warmup, cfg.steps, min_lr)
        start, start_lr = self.schedule_restart
        return warmup_cosine(step - start, start_lr, 0, cfg.steps - start, min(min_lr, start_lr))

    def restart_schedule(self, old_steps):
        """--steps changed on resume: rather than jump to where the new total's cosine would be, continue
        from the current learning rate and decay it (cosine) to the minimum over the remaining steps."""
        new_steps, self.cfg = self.cfg.steps, dataclasses.replace(self.cfg, steps=old_steps)
        current = self.lr_at(self.step)
        self.cfg = dataclasses.replace(self.cfg, steps=new_steps)
        if self.step < self.cfg.warmup and self.schedule_restart is None:
            note = f"the warm-up continues, then the cosine decay runs to step {new_steps}"
        else:
            self.schedule_restart = (self.step, current)
            note = (f"the learning rate continues from {current:.2e} at step {self.step} and decays (cosine) "
                    f"to {self.lr_at(new_steps):.2e} at step {new_steps}, with no jump back up")
        self.notes.append(f"--steps {new_steps} (the checkpoint's run had {old_steps}): {note}")

    def _load(self, saved):
        """Restore the checkpoint (directory, trainer_state dict); anything inconsistent in it is one line."""
        directory, state = saved
        try:
            weights = load_safetensors(directory / "model.safetensors", copy=True)
            if self.cfg.task == "text":
                weights = our_state_dict(self.model, weights)   # Hugging Face's names -> ours
            moments = load_safetensors(directory / "optimizer.safetensors", copy=True)
            self.model.load_state_dict(weights)
            for name, p in self.named.items():
                if f"m.{name}" in moments:
                    m, v = moments[f"m.{name}"], moments[f"v.{name}"]
                    if m.shape != p.data.shape or v.shape != p.data.shape or m.dtype != p.data.dtype:
                        raise ValueError(f"optimizer moments of {name!r}: shape {m.shape}, the parameter's "
                                         f"{p.data.shape}")
                    self.opt.state[id(p)] = {"m": m, "v": v}
            self.opt.step_count = int(state["optimizer_step"])
            self.step, self.seconds = int(state["step"]), float(state["seconds"])
            self.data_rng.bit_generator.state = state["data_rng"]
            self.model._rng.bit_generator.state = state["model_rng"]
            self._recent_losses = [float(x) for x in state["recent_losses"]]
            self._last_losses = [float(x) for x in state["last_losses"]]
            self._recent_accuracies = [float(x) for x in state.get("recent_accuracies", [])]
            restart = state.get("schedule_restart")
            self.schedule_restart = (int(restart[0]), float(restart[1])) if restart else None
        except CheckpointError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, OverflowError, OSError) as e:
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CheckpointError(f"--resume: {directory}: cannot restore this checkpoint "
                                  f"({type(e).__name__}: {message})") from None
        if self.step < 0 or self.opt.step_count < 0:
            raise CheckpointError(f"--resume: {directory / 'trainer_state.json'}: step {self.step} is not a "
                                  f"checkpoint's step")
        # Evaluations after the checkpoint are forgotten (run() rewrites the live metrics.jsonl).
        metrics = checkpoints.read_metrics(directory / "metrics.jsonl", self.notes)
        self.metrics = [m for m in metrics if m["step"] <= self.step]

    def claim_out(self):
        """Take --out for this run before anything is written: refuse files that are not a run's, take the
        lock (another live run there is an error), and start metrics.jsonl: empty for a new run (which
        replaces a run of ours there: train_toy.py asks first), the checkpoint's evaluations on a resume."""
        if getattr(self, "_claimed", False):
            return
        checkpoints.out_state(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        note = checkpoints.acquire_lock(self.out)
        self._claimed = True
        try:
            if note:
                self.notes.append(note)
            if self.step == 0:
                checkpoints.clear_run(self.out)
            atomic_write_text(self.out / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in self.metrics))
        except BaseException:
            self.release_out()
            raise

    def release_out(self):
        if getattr(self, "_claimed", False):
            checkpoints.release_lock(self.out)
            self._claimed = False

    # ---- training -------------------------------------------------------------------------------
    def train_step(self, batch):
        """One update from `batch`. With grad_accum = N the batch runs as N micro-batches whose gradients
        add up (each scaled by its share of the loss weight) to the whole batch's: the same update, with
        the activations of only 1/N of the batch in memory at a time."""
        cfg = self.cfg
        self.opt.lr = self.lr_at(self.step)
        self.opt.zero_grad()                          # every parameter of the model, zeroed in place
        n, parts = len(batch["targets"]), cfg.grad_accum
        total_weight = float(batch["weights"].sum())
        loss = correct = 0.0
        for i in range(0, n, n // parts):
            part = batch if parts == 1 else {k: v[i:i + n // parts] for k, v in batch.items()}
            share = float(part["weights"].sum()) / total_weight if parts > 1 else 1.0
            logits = forward(self.model, cfg.arch, part)
            part_loss = self.loss_fn.forward(logits, part["targets"], part["weights"])
            if not math.isfinite(part_loss):
                raise Diverged(f"loss is {part_loss} at step {self.step + 1}")
            dlogits = self.loss_fn.backward()
            self.model.backward(dlogits * share if parts > 1 else dlogits)
            loss += part_loss * share
            correct += accuracy(logits, part["targets"], part["weights"]) * share
        norm = clip_grad_norm(self.named.values(), cfg.clip) if cfg.clip > 0 else 0.0
        if not math.isfinite(norm):
            raise Diverged(f"gradient norm is {norm} at step {self.step + 1}")
        self.opt.step()
        self.step += 1
        return loss, correct

    def heldout_subset(self, n):
        """At most n of the held-out examples, evenly spaced over them (the same ones at every call)."""
        total = len(self.heldout["targets"])
        if n >= total:
            return self.heldout
        keep = np.linspace(0, total - 1, num=n).round().astype(np.int64)
        return {name: values[keep] for name, values in self.heldout.items()}

    def eval_now(self):
        """Evaluate, append to metrics (and metrics.jsonl). A text run's evaluations before the last
        estimate the held-out loss on `heldout_estimate` (cfg.eval_batches batches of windows spread over
        the held-out text, as nanoGPT's estimate_loss scores eval_iters batches); the one at cfg.steps
        scores every held-out window. "heldout_examples" says how many were scored."""
        final = self.step >= self.cfg.steps
        heldout = self.heldout if final else self.heldout_estimate
        # Text: one training batch of windows per forward, as nanoGPT evaluates (bounded memory; larger
        # chunks were no faster: docs/PERFORMANCE.md, "Training against nanoGPT").
        chunk = self.cfg.batch_size if self.cfg.task == "text" else 512
        metrics, predictions = evaluate(self.model, self.cfg.arch, heldout, chunk=chunk)
        if heldout is self.heldout:
            self.predictions = predictions
        recent = self._recent_losses
        accs = self._recent_accuracies
        entry = {"step": self.step, "train_loss": sum(recent) / len(recent) if recent else None,
                 "train_accuracy": sum(accs) / len(accs) if accs else None, **metrics,
                 "heldout_examples": len(heldout["targets"]),
                 "lr": self.opt.lr, "seconds": round(self.seconds, 3)}
        self._recent_losses, self._recent_accuracies = [], []
        self.metrics.append(entry)
        append_text(self.out / "metrics.jsonl", json.dumps(entry) + "\n")
        return entry

    def run(self, stop_at=None, on_step=None, on_eval=None):
        """Train until cfg.steps (or `stop_at`, for tests), early stop, Ctrl-C (checkpointed) or divergence
        (raises Diverged; the previous checkpoint stays). on_step(trainer, loss, acc) after every step;
        on_eval(trainer, metrics_list) after every evaluation. Returns the summary dict."""
        cfg, stop_at = self.cfg, min(stop_at or self.cfg.steps, self.cfg.steps)
        self.claim_out()
        interrupted = []
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
        try:
            batches = self.task.batches(cfg.arch, cfg.batch_size, self.data_rng)
            self.stopped_reason = None
            while self.step < stop_at and not interrupted:
                t0 = time.perf_counter()
                try:
                    loss, acc = self.train_step(next(batches))
                except Diverged as e:
                    newest = checkpoints.checkpoint_dirs(self.out)
                    last = f"step {int(newest[0].name[5:13])}" if newest else "none written yet"
                    raise Diverged(f"{e}: training stopped; last good checkpoint: {last} in {self.out}") from None
                self.seconds += time.perf_counter() - t0
                self._recent_losses.append(loss)
                self._recent_accuracies.append(acc)
                self._last_losses = self._last_losses[-19:] + [loss]
                if on_step:
                    on_step(self, loss, acc)
                if self.step % cfg.eval_every == 0 or self.step == stop_at:
                    t0 = time.perf_counter()
                    entry = self.eval_now()
                    self.seconds += time.perf_counter() - t0
                    if cfg.early_stop and entry["sequence_accuracy"] == 1.0 and self.step < cfg.steps:
                        self.stopped_reason = "early stop: held-out sequence accuracy reached 1.0"
                    self.save()
                    if on_eval:
                        on_eval(self, self.metrics)
                    if self.stopped_reason:
                        break
            if interrupted:
                self.stopped_reason = "interrupted"
                self.save()
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            self.release_out()
        return self.summary()

    def summary(self):
        last = self.metrics[-1] if self.metrics else {}
        return {"task": self.cfg.task, "arch": self.cfg.arch, "steps": self.step,
                "sequence_accuracy": last.get("sequence_accuracy"), "token_accuracy": last.get("token_accuracy"),
                "final_loss": float(np.mean(self._last_losses)) if self._last_losses else None,
                "heldout_loss": last.get("heldout_loss"),
                "seconds": round(self.seconds, 2), "parameters": self.model.num_parameters(),
                "stopped": self.stopped_reason or "completed", "out": str(self.out)}
