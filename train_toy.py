#!/usr/bin/env python
"""Train a small Transformer (pure NumPy) on a toy task or on a text file.

    python train_toy.py                                 # reverse, decoder-only LM
    python train_toy.py --task sort
    python train_toy.py --task reverse --arch seq2seq   # encoder-decoder
    python train_toy.py --task fib
    python train_toy.py --task classify                 # EncoderClassifier: is the sequence sorted?
    python train_toy.py --task text --data input.txt    # character-level GPT, prints samples
    python train_toy.py --task text --data notes/ "more/*.md" rows.csv   # folders, globs, a CSV's text column
    python train_toy.py --task classify-text --data reviews.csv --label-column label   # your labelled texts
    python train_toy.py --task text --data input.txt --init gpt2 --out runs/ft   # fine-tune GPT-2
    python train_toy.py --out runs/x --resume           # continue a checkpointed run, bit for bit
"""
import argparse
import dataclasses
import errno
import json
import os
import sys
import time


def _set_threads(argv):
    """BLAS threads must be fixed before NumPy is imported. Default 1: the models here are small, and
    a second BLAS thread mostly fights other processes for the cores."""
    n = None
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif arg.startswith("--threads="):
            n = arg.split("=", 1)[1]
    if n is not None and n.isdigit() and int(n) > 0:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = n
    elif n is None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")


_set_threads(sys.argv[1:])

try:
    import numpy as np  # noqa: E402

    from transformer_np import checkpoints, train, viz  # noqa: E402
    from transformer_np.io.atomic import check_regular_file_target  # noqa: E402
    from transformer_np.tasks import TASK_NAMES  # noqa: E402
    from transformer_np.text_classification import confusion_matrix, example_lines, format_confusion  # noqa: E402
    from transformer_np.train_setup import DataFileError  # noqa: E402
except KeyboardInterrupt:                    # Ctrl-C while Python loads NumPy: nothing has started yet
    print("train_toy.py: interrupted", file=sys.stderr)
    sys.exit(130)

PROG = "train_toy.py"
# May change on --resume (the rest may not). grad_accum changes only how a batch is split (the same update,
# up to float rounding), so a run that runs out of memory can continue with smaller micro-batches.
RESUMABLE = {"steps", "eval_every", "eval_size", "eval_batches", "early_stop", "grad_accum"}
MODEL_SIZE_FLAGS = ("d_model", "n_layers", "n_heads", "d_ff", "tokenizer", "bpe_vocab_size")   # --init fixes these


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        """One line on stderr, exit 2 (argparse's default also prints the long usage)."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):
        if action.default is None:                  # per-task defaults: see the table in the epilog
            return action.help
        return super()._get_help_string(action)


def _int_at_least(text, low):
    """An int >= low; argparse turns the ArgumentTypeError into a one-line error naming the flag."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def positive_int(text):
    return _int_at_least(text, 1)


def _finite_float(text, allow_zero):
    """A finite float > 0 (or >= 0 with allow_zero); argparse turns the TypeError into a one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"must be a number {'>=' if allow_zero else '>'} 0, got {text!r}")
    return value


def nonneg_int(text):
    return _int_at_least(text, 0)


def below_one(text):
    """A probability or a decay rate: a number in [0, 1)."""
    value = _finite_float(text, allow_zero=True)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def positive_float(text):
    return _finite_float(text, allow_zero=False)


def nonneg_float(text):
    return _finite_float(text, allow_zero=True)


def defaults_table():
    keys = ["length", "n_symbols", "d_model", "n_layers", "d_ff", "steps", "batch_size", "lr", "warmup"]
    rows = [f"  {'task':13} {'arch':10} " + " ".join(f"{k:>10}" for k in keys)]
    for task in TASK_NAMES:
        d = train.defaults_for(task)
        rows.append(f"  {task:13} {d['arch']:10} " + " ".join(f"{d[k]!s:>10}" for k in keys))
    return "\n".join(rows)


def build_parser():
    p = ArgumentParser(
        prog=PROG, formatter_class=HelpFormatter, description=__doc__,
        epilog="per-task defaults (flags left out take these values):\n" + defaults_table() +
               "\n\nOutput in --out, at every evaluation: checkpoints/step-N/ (model, optimizer, trainer state,"
               "\nmetrics and a manifest of checksums, published by one rename; the previous one is removed after),"
               "\nthe newest checkpoint's model files at the top (text runs: a Hugging Face GPT-2 directory,"
               "\nconfig.json + model.safetensors + run_config.json, and vocab.json/merges.txt for BPE), and"
               "\nmetrics.jsonl + curves.svg. train.lock keeps a second run out while this one runs."
               "\n\"train loss\" is the mean training-batch loss since the previous evaluation."
               "\nExit status: 0 done, 1 diverged or disk full, 2 bad command line, 130 interrupted (checkpointed).")
    a = p.add_argument
    a("--task", default="reverse", choices=TASK_NAMES, help="what to learn")
    a("--arch", choices=("lm", "llama", "seq2seq", "classifier"),
      help="model: decoder-only LM (GPT-2's block), the LM with Llama's block (RMSNorm, rotary positions, "
           "SwiGLU, grouped-query attention), encoder-decoder, or encoder classifier (default: lm; classifier "
           "for classify)")
    a("--data", nargs="+", metavar="PATH",
      help="text: UTF-8 files, directories (every .txt/.md below) or quoted globs; a .csv/.tsv/.jsonl file gives "
           "one document per row (--text-column). classify-text: one labelled .csv/.tsv/.jsonl file")
    a("--eval-data", metavar="PATH",
      help="text, classify-text: evaluate on this (as --data) instead of holding 10%% of --data out")
    a("--text-column", metavar="NAME", help="tables (.csv/.tsv/.jsonl) in --data: the column holding the text (default: text)")
    a("--label-column", metavar="NAME", help="classify-text: the column holding the label (default: label)")
    a("--length", type=positive_int, help="toy tasks: sequence / answer length")
    a("--symbols", dest="n_symbols", type=positive_int,
      help="toy tasks: number of symbols (the modulus for fib and modadd)")
    a("--block-size", type=positive_int, help="text: context length in tokens")
    a("--tokenizer", choices=("char", "bpe", "gpt2"),
      help="text, classify-text: one token per character (text's default), a BPE learned from --data "
           "(classify-text's default), or GPT-2's BPE")
    a("--bpe-vocab-size", type=positive_int, help="text with --tokenizer bpe: vocabulary size to learn (512)")
    a("--init", metavar="gpt2|DIR",
      help="text: fine-tune this GPT-2 checkpoint (a model name or a Hugging Face directory); its tokenizer "
           "and sizes are used")
    a("--prompt", help="text: how the sample printed at each evaluation starts (default: the held-out "
                       "text's first token)")
    a("--d-model", type=positive_int, help="model width")
    a("--layers", dest="n_layers", type=positive_int, help="number of blocks")
    a("--heads", dest="n_heads", type=positive_int, help="attention heads")
    a("--kv-heads", dest="n_kv_heads", type=positive_int,
      help="--arch llama: key/value heads, shared by groups of query heads (default: half the heads)")
    a("--d-ff", type=positive_int, help="feed-forward width")
    a("--dropout", type=below_one, help="dropout probability")
    a("--steps", type=positive_int, help="training steps")
    a("--batch-size", type=positive_int, help="examples per step")
    a("--lr", type=positive_float, help="peak learning rate (AdamW, warm-up then cosine to lr/10)")
    a("--min-lr-ratio", type=nonneg_float,
      help="the cosine decay ends at lr * this (0.1: nanoGPT's 1e-3 -> 1e-4)")
    a("--warmup", type=nonneg_int, help="linear warm-up steps")
    a("--beta1", type=below_one, help="AdamW's first-moment decay rate, in [0, 1)")
    a("--beta2", type=below_one, help="AdamW's second-moment decay rate, in [0, 1)")
    a("--weight-decay", type=nonneg_float, help="AdamW decoupled weight decay (matrices only)")
    a("--clip", type=nonneg_float, help="clip the gradient norm to this (0: off)")
    a("--grad-accum", type=positive_int,
      help="split each batch into N micro-batches whose gradients add up (same update, 1/N of the memory)")
    a("--seed", type=nonneg_int, default=0, help="seed of the model init and the training data order")
    a("--eval-every", type=positive_int, help="evaluate on held-out data (and checkpoint) every N steps")
    a("--eval-size", type=positive_int, help="held-out examples")
    a("--eval-batches", type=positive_int,
      help="text: evaluations before the last estimate the held-out loss on this many batches of held-out "
           "windows (nanoGPT's eval_iters); the last evaluation scores all of them")
    a("--early-stop", action=argparse.BooleanOptionalAction, default=None,
      help="stop when held-out sequence accuracy reaches 1.0 at an evaluation (default: on for toy tasks)")
    a("--out", help="directory for the checkpoints and metrics.jsonl (default: runs/TASK-ARCH, or runs/TASK-ARCH-2, "
                    "-3, ... when that holds a run already)")
    a("--resume", action="store_true", help="continue the run checkpointed in --out (bit-for-bit)")
    a("--overwrite", action="store_true", help="replace the run checkpointed in --out by a new one")
    a("--json", action="store_true", help="print only a JSON summary as the last line of stdout")
    a("--examples", type=nonneg_int, default=5, help="held-out examples to show at the end")
    a("--threads", type=positive_int, default=1, help="BLAS threads for NumPy")
    a("--attention", metavar="OUT.html",
      help="after training, write the attention of every layer and head on a held-out example as HTML")
    a("--attention-example", type=int, default=0, metavar="N",
      help="which held-out example --attention shows (default: 0, the first)")
    return p


def explicit_flags(argv):
    """The dests of the flags actually given on the command line."""
    p = build_parser()
    for action in p._actions:
        action.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def check_out_dir(out, args, parser):
    """A run writes only into an --out that is new, empty or holds a run of ours, and continues or replaces
    that run only when asked (--resume / --overwrite). Anything else there is refused, naming the file."""
    if out == "":
        parser.error("--out must name a directory (it is empty)")
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite contradict each other: choose one")
    try:
        state = checkpoints.out_state(out)
    except train.TrainingError as e:
        parser.error(str(e))
    if args.resume:
        if state != "run":
            parser.error(f"--resume: no checkpoint in {out} (give the run's --out)")
    elif state == "run" and not args.overwrite:
        parser.error(f"--out {out} already holds a run: continue it with --resume, or replace it with "
                     f"--overwrite (or choose another --out)")
    elif state == "unfinished" and not args.overwrite:
        parser.error(f"--out {out} holds a run that stopped before its first checkpoint: replace it with "
                     f"--overwrite (or choose another --out)")


def default_out(args):
    """runs/TASK-ARCH; for a new run when that holds something already, the first free runs/TASK-ARCH-N
    (so that re-running a command never fails), with a note saying so."""
    base = f"runs/{args.task}-{args.arch or train.default_arch(args.task)}"
    if args.resume or args.overwrite:
        return base, None
    for n in range(1, 10_000):
        out = base if n == 1 else f"{base}-{n}"
        try:
            if checkpoints.out_state(out) == "new":
                break
        except train.TrainingError:
            continue
    if out == base:
        return out, None
    return out, f"{base} holds a run already (continue it with --resume --out {base}); this run goes to {out}"


def remove_old_run(out):
    """--overwrite: delete the files of the run in `out` (only those: anything else there is refused)."""
    checkpoints.clear_run(out)


def check_data_flags(args, parser):
    """The data flags fit the task (the files themselves are read, and checked, when the task is built)."""
    text_tasks = ("text", "classify-text")
    if args.task in text_tasks and not args.data:
        parser.error(f"--task {args.task} needs --data " + ("PATH" if args.task == "text" else "FILE"))
    for flag in ("data", "eval_data", "text_column", "label_column"):
        if getattr(args, flag) is not None and args.task not in text_tasks:
            parser.error(f"--{flag.replace('_', '-')} is for --task text or classify-text; --task {args.task} "
                         f"generates its own data")
    if args.label_column is not None and args.task != "classify-text":
        parser.error("--label-column is for --task classify-text")
    if args.task == "classify-text" and not isinstance(args.data, str):
        parser.error(f"--task classify-text reads one labelled file: --data FILE (got {len(args.data)} paths)")


def make_config(args, argv, parser):
    if args.data is not None and len(args.data) == 1:
        args.data = args.data[0]                        # one path: recorded as a string, as before
    given = explicit_flags(argv)
    fields = {f.name for f in dataclasses.fields(train.TrainConfig)}
    out, out_note = (args.out, None) if args.out is not None else default_out(args)
    if args.arch == "llama":        # the LM (its data and evaluation) with Llama's block
        if args.init:
            parser.error(f"--init {args.init} fine-tunes a GPT-2 checkpoint; it cannot be combined with --arch llama")
        args.arch, args.block = "lm", "llama"
        given.add("block")
    if args.resume:
        check_out_dir(out, args, parser)
        checkpoint = train.newest_checkpoint(out)
        saved = train.run_config(checkpoint[0])["train"]
        for name in sorted(given & fields - RESUMABLE - {"out"}):
            if getattr(args, name) != saved.get(name):
                parser.error(f"--resume: --{name.replace('_', '-')} differs from the checkpoint's "
                             f"({saved.get(name)!r}); only {', '.join(sorted(RESUMABLE))} may change")
        return out, {name: getattr(args, name) for name in given & RESUMABLE}, checkpoint, None
    check_data_flags(args, parser)
    for flag in ("init", "prompt"):
        if getattr(args, flag) is not None and args.task != "text":
            parser.error(f"--{flag} is for --task text")
    if args.init:
        flag_of = {action.dest: action.option_strings[0] for action in parser._actions if action.option_strings}
        clash = [flag_of[name] for name in MODEL_SIZE_FLAGS if name in given]
        if clash:
            parser.error(f"--init {args.init} fixes the model's sizes and tokenizer: drop {', '.join(clash)}")
    check_out_dir(out, args, parser)
    arch = args.arch or train.default_arch(args.task)
    values = train.defaults_for(args.task, arch)
    values.update({k: v for k, v in vars(args).items() if k in fields and v is not None})
    values["arch"] = arch
    values["out"] = out
    return None, values, None, out_note


def show_progress(trainer, loss, acc, state={}):
    """The live line (a terminal only: a log file gets the evaluation lines)."""
    now = time.perf_counter()
    if "t0" not in state:
        state.update(t0=now, step0=trainer.step, last=now, tty=sys.stdout.isatty())
    if not state["tty"] or now - state["last"] < 0.25:
        return
    state["last"] = now
    rate = (trainer.step - state["step0"]) / max(now - state["t0"], 1e-9)
    print(f"\rstep {trainer.step:6d}/{trainer.cfg.steps}  this batch: loss {loss:.4f}  token acc {acc:.3f}  "
          f"{rate:6.1f} steps/s", end="", flush=True)


def show_eval(trainer, metrics, prompt=None):
    m = metrics[-1]
    averaged = m["step"] - (metrics[-2]["step"] if len(metrics) > 1 else 0)    # steps since the last evaluation
    seq = "" if m["sequence_accuracy"] is None else f"  seq acc {m['sequence_accuracy']:.3f}"
    train_loss = "n/a" if m["train_loss"] is None else f"{m['train_loss']:.4f}"
    print(f"\rstep {m['step']:6d}/{trainer.cfg.steps}  train loss (mean of last {averaged} steps) {train_loss}  "
          f"held-out loss {m['heldout_loss']:.4f}  token acc {m['token_accuracy']:.3f}{seq}  lr {m['lr']:.2e}  "
          f"{m['seconds']:.1f}s  {m['step'] / max(m['seconds'], 1e-9):.1f} steps/s", flush=True)
    if trainer.cfg.task == "text":
        print("  sample: " + text_sample(trainer, prompt, m["step"]).replace("\n", "\n          "), flush=True)
    if trainer.cfg.task == "classify-text":
        task = trainer.task
        matrix = confusion_matrix(trainer.heldout["targets"], trainer.predictions[:, 0], task.n_classes)
        print("\n".join("  " + line for line in format_confusion(task.labels, matrix)), flush=True)


def text_sample(trainer, prompt, seed, temperature=0.8, top_k=20, max_tokens=128):
    """A sample from the model being trained: `prompt` (or the held-out text's first token), continued to
    the run's block size (at most `max_tokens` in all: a GPT-2 fine-tune's block may be 1024)."""
    task, model = trainer.task, trainer.model
    length = min(trainer.cfg.block_size, max_tokens)
    ids = task.encode(prompt)[-(length - 1):] if prompt else []
    ids = ids or [int(trainer.heldout["inputs"][0, 0])]
    new = length - len(ids)
    return task.decode(model.generate(np.array([ids]), new, temperature=temperature, top_k=top_k, seed=seed)[0])


def show_examples(trainer, n):
    if trainer.predictions is None or n <= 0:
        return
    held, task = trainer.heldout, trainer.task
    print(f"held-out examples ({trainer.cfg.arch}):")
    if trainer.cfg.task == "classify-text":
        print("\n".join(example_lines(task, trainer.predictions, n)))
        return
    for i in range(min(n, len(held["answer"]))):
        ok = "ok   " if np.array_equal(trainer.predictions[i], held["answer"][i]) else "WRONG"
        print(f"  {ok} input: {task.render(held['prompt'][i]):28}  model: {task.render(trainer.predictions[i]):20}"
              f"  correct: {task.render(held['answer'][i])}")


# A full disk or a failing device is a runtime failure (exit 1); other OSErrors are a bad path (exit 2).
RUNTIME_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}


def end_live_line():
    """A newline if a live progress line may be on the terminal (the error then starts on a line of its own)."""
    return "\n" if sys.stdout.isatty() else ""


def main(argv=None):
    """Exit codes: 0 done, 1 diverged or a full disk, 2 bad command line, 130 interrupted (Ctrl-C; a run
    that had started training is checkpointed)."""
    try:
        return train_from_command_line(argv)
    except BrokenPipeError:
        # stdout was closed early (`| head`): stop quietly; the last evaluation's checkpoint is on disk.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:            # a file the run cannot read or write: one line naming it
        where = f"{e.filename}: " if e.filename else ""
        print(f"{end_live_line()}{PROG}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1 if e.errno in RUNTIME_ERRNOS else 2
    except KeyboardInterrupt:       # Ctrl-C while loading or preparing (training itself checkpoints and stops)
        print(f"{end_live_line()}{PROG}: interrupted", file=sys.stderr)
        return 130


def train_from_command_line(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.attention:
        try:
            check_regular_file_target(args.attention)
        except OSError as e:
            parser.error(f"--attention {e.filename}: {e.strerror}")
    try:
        resume_dir, values, checkpoint, out_note = make_config(args, argv, parser)
        trainer = (train.Trainer.resume(resume_dir, checkpoint=checkpoint, **values) if resume_dir
                   else train.Trainer(train.TrainConfig(**values)))
    except DataFileError as e:          # a file or row to fix, not a flag: --help would not help
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except train.TrainingError as e:
        parser.error(str(e))
    n_heldout = len(trainer.heldout["targets"])
    if args.attention and not 0 <= args.attention_example < n_heldout:
        print(f"{PROG}: error: --attention-example {args.attention_example}: choose 0..{n_heldout - 1} "
              f"(the held-out set has {n_heldout} examples)", file=sys.stderr)
        return 2
    try:
        trainer.claim_out()             # the lock; a new run replaces the run there (--overwrite was checked)
    except train.TrainingError as e:
        parser.error(str(e))
    try:
        return train_and_report(trainer, args, resume_dir, out_note)
    finally:
        trainer.release_out()


def train_and_report(trainer, args, resume_dir, out_note):
    quiet = args.json
    if not quiet:
        cfg = trainer.cfg
        print(f"{'resuming' if resume_dir else 'training'} {cfg.task} / {'llama' if cfg.block == 'llama' else cfg.arch}: "
              f"{trainer.model.num_parameters():,} parameters, {cfg.steps} steps, batch {cfg.batch_size}, "
              f"lr {cfg.lr}, seed {cfg.seed}, out {cfg.out}" + (f" (from step {trainer.step})" if resume_dir else ""))
        for note in ([out_note] if out_note else []) + trainer.notes:
            print(f"note: {note}")
        if hasattr(trainer.task, "data_summary"):
            print(trainer.task.data_summary)
    cfg = trainer.cfg                                       # OUT/curves.svg, redrawn at every evaluation
    redraw_curves = viz.curves_hook(cfg.out, title=f"{cfg.task} / {cfg.arch}: {cfg.out}")

    def on_eval(t, metrics):
        if not quiet:
            show_eval(t, metrics, args.prompt)
        redraw_curves(metrics)

    try:
        result = trainer.run(on_step=None if quiet else show_progress, on_eval=on_eval)
    except train.Diverged as e:
        print(f"\n{PROG}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if e.errno in RUNTIME_ERRNOS:       # say what survived: the newest complete checkpoint
            newest = checkpoints.checkpoint_dirs(cfg.out)
            kept = f"; the last complete checkpoint, {newest[0].name}, is kept" if newest else ""
            raise type(e)(e.errno, f"{e.strerror}{kept}", e.filename) from None
        raise
    if args.attention:
        viz.attention_html_for_trainer(trainer, args.attention, index=args.attention_example)
        if not quiet:
            print(f"wrote {args.attention}")
    interrupted = trainer.stopped_reason == "interrupted"
    if quiet:
        print(json.dumps(result))
        return 130 if interrupted else 0
    if trainer.stopped_reason:
        print(f"{trainer.stopped_reason} (step {trainer.step})")
    if interrupted:
        print(f"checkpoint in {result['out']}: continue with --resume --out {result['out']}")
        return 130
    show_examples(trainer, args.examples)
    seq = result["sequence_accuracy"]
    print(f"done: {result['steps']} steps in {result['seconds']:.1f}s; held-out "
          + (f"sequence accuracy {seq:.4f}, " if seq is not None else "")
          + f"token accuracy {result['token_accuracy']:.4f}, loss {result['heldout_loss']:.4f}; checkpoint in {result['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
