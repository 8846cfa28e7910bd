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
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .io.safetensors import load_safetensors, save_safetensors
from .losses import CrossEntropyLoss, accuracy
from .optim import AdamW, clip_grad_norm, decay_groups, warmup_cosine
# What to train (configuration, defaults, task and model builders) lives in train_setup.py; its public
# names are importable from here too, so `from transformer_np.train import Trainer, TrainConfig` works.
from .train_setup import (TrainConfig, TrainingError, build_model, build_task, default_arch,  # noqa: F401
                          defaults_for)


class Diverged(Exception):
    """The loss (or gradient norm) went NaN / inf; the last good checkpoint is left in place."""


# -------------------------------------------------------------------------------------------- running

def forward(model, arch, batch):
    if arch == "seq2seq":
        return model.forward(batch["src"], batch["tgt_in"])
    return model.forward(batch["inputs"])


# ------------------------------------------------------------------------------------------ evaluation

def evaluate(model, arch, heldout, chunk=512):
    """Held-out loss and token accuracy (teacher forcing, argmax on the scored positions) and sequence
    accuracy (greedy decoding of the whole answer from the prompt, compared whole; None for text).
    Returns (metrics dict, predicted answers or None)."""
    was_training = model.training
    model.eval()
    loss_fn, n = CrossEntropyLoss(), len(heldout["targets"])
    loss_sum = correct = weight = 0.0
    predictions = []
    try:
        for i in range(0, n, chunk):
            part = {k: v[i:i + chunk] for k, v in heldout.items()}
            logits = forward(model, arch, part)
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
        model.train(was_training)
    metrics = {"heldout_loss": loss_sum / weight, "token_accuracy": correct / weight, "sequence_accuracy": None}
    if predictions:
        predictions = np.concatenate(predictions)
        metrics["sequence_accuracy"] = float(np.mean(np.all(predictions == heldout["answer"], axis=1)))
        return metrics, predictions
    return metrics, None


# ----------------------------------------------------------------------------------------- checkpoints

def write_json_atomic(path, obj):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def has_checkpoint(out):
    return (Path(out) / "trainer_state.json").is_file()


# --------------------------------------------------------------------------------------------- trainer

class Trainer:
    """Owns the task, model, optimizer, data stream and metrics of one run. `run()` trains to cfg.steps
    (or `stop_at`), evaluating every cfg.eval_every steps; after it, `model`, `heldout`, `predictions`
    and `metrics` hold the trained model, the held-out set, its greedy answers and every evaluation."""

    def __init__(self, cfg, _state=None):
        self.cfg = cfg
        for name in ("steps", "batch_size", "eval_every", "eval_size", "d_model", "n_layers", "n_heads", "d_ff"):
            if getattr(cfg, name) < 1:
                flag = {"n_layers": "layers", "n_heads": "heads"}.get(name, name).replace("_", "-")
                raise TrainingError(f"--{flag} must be >= 1, got {getattr(cfg, name)}")
        if not cfg.lr > 0 or not math.isfinite(cfg.lr):
            raise TrainingError(f"--lr must be a positive number, got {cfg.lr}")
        if cfg.warmup < 0:
            raise TrainingError(f"--warmup must be >= 0, got {cfg.warmup}")
        if not 0.0 <= cfg.dropout < 1.0:
            raise TrainingError(f"--dropout must be in [0, 1), got {cfg.dropout}")
        self.task = build_task(cfg)
        self.model = build_model(cfg, self.task)
        self.named = dict(self.model.named_parameters())
        self.opt = AdamW(decay_groups(self.named.items(), cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98))
        self.loss_fn = CrossEntropyLoss()
        self.data_rng = np.random.default_rng([cfg.seed, 1])
        self.heldout = self.task.heldout(cfg.arch, cfg.eval_size, cfg.eval_seed)
        self.out = Path(cfg.out)
        self.step, self.seconds, self.metrics, self.predictions = 0, 0.0, [], None
        self.stopped_reason = None
        self._recent_losses = []      # training losses since the last evaluation
        self._recent_accuracies = []  # training-batch token accuracies since the last evaluation
        self._last_losses = []        # the last 20 training losses (final_loss is their mean)
        if _state is not None:
            self._load(_state)

    # ---- checkpoint -----------------------------------------------------------------------------
    def save(self):
        self.out.mkdir(parents=True, exist_ok=True)
        meta = {"step": str(self.step)}
        save_safetensors(self.out / "model.safetensors", self.model.state_dict(), meta)
        moments = {}
        for name, p in self.named.items():
            state = self.opt.state.get(id(p))
            if state:
                moments[f"m.{name}"], moments[f"v.{name}"] = state["m"], state["v"]
        save_safetensors(self.out / "optimizer.safetensors", moments, meta)
        write_json_atomic(self.out / "config.json", {
            "model": type(self.model).__name__, "model_config": self.model.config, "dtype": "float32",
            "task": self.task.spec, "train": dataclasses.asdict(self.cfg)})
        write_json_atomic(self.out / "trainer_state.json", {   # last: it marks the checkpoint complete
            "step": self.step, "seconds": self.seconds, "optimizer_step": self.opt.step_count,
            "data_rng": self.data_rng.bit_generator.state, "model_rng": self.model._rng.bit_generator.state,
            "recent_losses": self._recent_losses, "recent_accuracies": self._recent_accuracies, "last_losses": self._last_losses, "stopped_reason": self.stopped_reason})

    @classmethod
    def resume(cls, out, **overrides):
        """Rebuild the run saved in `out` (its config, optionally with `overrides`) at its saved step."""
        out = Path(out)
        if not has_checkpoint(out):
            raise TrainingError(f"--resume: no checkpoint in {out} (expected {out / 'trainer_state.json'})")
        saved = json.loads((out / "config.json").read_text())
        cfg = TrainConfig(**dict(saved["train"], out=str(out), **overrides))
        return cls(cfg, _state=json.loads((out / "trainer_state.json").read_text()))

    def _load(self, state):
        weights = load_safetensors(self.out / "model.safetensors", copy=True)
        moments = load_safetensors(self.out / "optimizer.safetensors", copy=True)
        self.model.load_state_dict(weights)
        for name, p in self.named.items():
            if f"m.{name}" in moments:
                self.opt.state[id(p)] = {"m": moments[f"m.{name}"], "v": moments[f"v.{name}"]}
        self.opt.step_count = state["optimizer_step"]
        self.step, self.seconds = state["step"], state["seconds"]
        self.data_rng.bit_generator.state = state["data_rng"]
        self.model._rng.bit_generator.state = state["model_rng"]
        self._recent_losses, self._last_losses = list(state["recent_losses"]), list(state["last_losses"])
        self._recent_accuracies = list(state.get("recent_accuracies", []))
        path = self.out / "metrics.jsonl"                       # forget evaluations after the checkpoint
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            self.metrics = [m for m in lines if m["step"] <= self.step]
            path.write_text("".join(json.dumps(m) + "\n" for m in self.metrics))

    # ---- training -------------------------------------------------------------------------------
    def train_step(self, batch):
        cfg = self.cfg
        self.opt.lr = warmup_cosine(self.step, cfg.lr, cfg.warmup, cfg.steps, cfg.lr * cfg.min_lr_ratio)
        self.model.zero_grad()
        logits = forward(self.model, cfg.arch, batch)
        loss = self.loss_fn.forward(logits, batch["targets"], batch["weights"])
        if not math.isfinite(loss):
            raise Diverged(f"loss is {loss} at step {self.step + 1}")
        self.model.backward(self.loss_fn.backward())
        norm = clip_grad_norm(self.named.values(), cfg.clip) if cfg.clip > 0 else 0.0
        if not math.isfinite(norm):
            raise Diverged(f"gradient norm is {norm} at step {self.step + 1}")
        self.opt.step()
        self.step += 1
        return loss, accuracy(logits, batch["targets"], batch["weights"])

    def eval_now(self):
        metrics, self.predictions = evaluate(self.model, self.cfg.arch, self.heldout)
        recent = self._recent_losses
        accs = self._recent_accuracies
        entry = {"step": self.step, "train_loss": sum(recent) / len(recent) if recent else None,
                 "train_accuracy": sum(accs) / len(accs) if accs else None, **metrics,
                 "lr": self.opt.lr, "seconds": round(self.seconds, 3)}
        self._recent_losses, self._recent_accuracies = [], []
        self.metrics.append(entry)
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
        return entry

    def run(self, stop_at=None, on_step=None, on_eval=None):
        """Train until cfg.steps (or `stop_at`, for tests), early stop, Ctrl-C (checkpointed) or divergence
        (raises Diverged; the previous checkpoint stays). on_step(trainer, loss, acc) after every step;
        on_eval(trainer, metrics_list) after every evaluation. Returns the summary dict."""
        cfg, stop_at = self.cfg, min(stop_at or self.cfg.steps, self.cfg.steps)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.step == 0:
            (self.out / "metrics.jsonl").write_text("")
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
                    last = f"step {json.loads((self.out / 'trainer_state.json').read_text())['step']}" \
                        if has_checkpoint(self.out) else "none written yet"
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
        return self.summary()

    def summary(self):
        last = self.metrics[-1] if self.metrics else {}
        return {"task": self.cfg.task, "arch": self.cfg.arch, "steps": self.step,
                "sequence_accuracy": last.get("sequence_accuracy"), "token_accuracy": last.get("token_accuracy"),
                "final_loss": float(np.mean(self._last_losses)) if self._last_losses else None,
                "heldout_loss": last.get("heldout_loss"),
                "seconds": round(self.seconds, 2), "parameters": self.model.num_parameters(),
                "stopped": self.stopped_reason or "completed", "out": str(self.out)}
