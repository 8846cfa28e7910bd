#!/usr/bin/env python
"""Sample text from GPT-2, or from a model you trained, running on the library's handwritten NumPy layers.

    python gpt2_infer.py -p "Alan Turing theorized that computers"
    python gpt2_infer.py --model gpt2-medium -p "The meaning of life is" -n 40 --top-k 40 --seed 1 --stats
    python gpt2_infer.py --model shakespeare-char -p "ROMEO:"   # shipped with the package, no download
    python gpt2_infer.py --model runs/text-lm -p "ROMEO:"       # a train_toy.py text run (any tokenizer)
    python gpt2_infer.py --model DIR -p "..."                   # a directory saved by GPT2.save_pretrained
    python gpt2_infer.py --model sort-4 -p "0 3 15 14 9 0" --temperature 0   # a toy task: prints 3 9 14 15

    python gpt2_infer.py -p "Once upon a time" --num-samples 8 --stop $'\\n\\n' --repetition-penalty 1.2
    python gpt2_infer.py -p "..." -n 2000 --sliding-window --window-stride 256   # past GPT-2's 1024-token window

The prompt and then the continuation stream to stdout as they are generated; loading status and the
--stats line go to stderr. Generation stops at <|endoftext|> (unless --no-stop) or after -n tokens.
"""
import os
import signal
import sys

if __name__ == "__main__":
    # Ctrl-C while the imports below run (NumPy takes a moment): leave quietly, there is nothing to undo.
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))

import argparse
import codecs
import time
import warnings

import numpy as np

from transformer_np.io.hub import KNOWN_MODELS, DownloadError
from transformer_np.models.auto import load_lm, shipped_models
from transformer_np.models.config_fields import available_memory_bytes, gigabytes
from transformer_np.sampling import StopStrings
from transformer_np.tasks import ToyTask
from transformer_np.tokenizer import ENDOFTEXT, TokenizerFileError


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


# Below this a temperature divides float32 logits past their range (100 / 1e-37 overflows): 0 is greedy.
MIN_TEMPERATURE = 1e-6


def temperature(text):
    value = non_negative_float(text)
    if 0.0 < value < MIN_TEMPERATURE:
        raise argparse.ArgumentTypeError(f"must be 0 (greedy) or at least {MIN_TEMPERATURE:g}, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def probability(text):
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Generate text with GPT-2 in pure NumPy.")
    p.add_argument("-p", "--prompt", default="",
                   help="text to continue (default: empty, i.e. start from <|endoftext|>, or from a newline "
                        "for a character-level model)")
    p.add_argument("--model", default="gpt2",
                   help=f"a model shipped with the package ({', '.join(shipped_models())}), a GPT-2 name "
                        f"({', '.join(KNOWN_MODELS)}), or a directory: a train_toy.py text run or a Hugging Face "
                        "GPT-2 or Llama checkpoint (config.json + model.safetensors + tokenizer) (default: gpt2)")
    p.add_argument("-n", "--max-new-tokens", type=positive_int, default=50, help="tokens to generate (default 50)")
    p.add_argument("--temperature", type=temperature, default=1.0,
                   help="sampling temperature; 0 = greedy (default 1.0)")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample among the k most likely tokens")
    p.add_argument("--top-p", type=probability, default=None, help="nucleus sampling: smallest set with mass >= p")
    p.add_argument("--seed", type=non_negative_int, default=None, help="random seed: the same seed gives the same text")
    p.add_argument("--no-stop", action="store_true", help="do not stop at <|endoftext|>")
    p.add_argument("--stop", action="append", metavar="TEXT",
                   help="end a continuation where TEXT appears (not printed); repeat for several, e.g. "
                        "--stop $'\\n\\n'")
    p.add_argument("--repetition-penalty", type=positive_float, default=None, metavar="P",
                   help="Hugging Face's: logits of tokens already in the text are divided by P (> 1 "
                        "discourages repeats), negative ones multiplied")
    p.add_argument("--num-samples", type=positive_int, default=1, metavar="N",
                   help="N continuations from one batched decode (the weights are read once per step for all)")
    p.add_argument("--sliding-window", action="store_true",
                   help="past the context window, drop the oldest tokens and continue (each recomputation "
                        "re-runs the kept window) instead of stopping")
    p.add_argument("--window-stride", type=positive_int, default=1, metavar="S",
                   help="with --sliding-window: drop S tokens at a time (1 = nanoGPT: a full-window recompute "
                        "per token; larger S recomputes once per S tokens)")
    p.add_argument("--stats", action="store_true", help="print a final line with tokens/s (to stderr)")
    p.add_argument("--attention", metavar="OUT.html",
                   help="write the prompt's attention (every layer and head) as a self-contained HTML page")
    return p.parse_args(argv)


def fail(message, status=2):
    """One line on stderr, exit status 2 for a user's error (as argparse does for bad flags), 1 for a
    failure while running."""
    print(f"gpt2_infer.py: error: {message}", file=sys.stderr)
    sys.exit(status)


def first_line(exc):
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def load_model(name_or_dir):
    """(model, tokenizer), or exit with one line; notes (e.g. which tokenizer was assumed) go to stderr."""
    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            model, tokenizer = load_lm(name_or_dir)
    except (FileNotFoundError, DownloadError, TokenizerFileError, ValueError, OSError, RecursionError) as exc:
        fail(first_line(exc))           # ValueError includes SafetensorsError, ConfigError, StateDictError
    for note in notes:
        print(f"note: {note.message}", file=sys.stderr)
    return model, tokenizer


def prompt_ids(tokenizer, model, prompt):
    """The prompt's ids; an empty prompt starts from <|endoftext|> (GPT-2) or a newline (characters)."""
    if prompt:
        try:
            return getattr(tokenizer, "encode_ordinary", tokenizer.encode)(prompt)  # plain text, never special
        except ValueError as exc:                    # a character outside a character model's alphabet
            fail(f"--prompt: {exc}")
    eos = tokenizer.special_tokens.get(ENDOFTEXT, model.eos_token_id)
    if eos is not None:
        return [eos]
    return tokenizer.encode("\n", errors="ignore") or [0]


def main(argv=None):
    args = parse_args(argv)
    print(f"loading {args.model} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    model, tokenizer = load_model(args.model)
    n_params = model.num_parameters()
    print(f"loaded {n_params / 1e6:.3g}M parameters from {model.model_dir} in {time.perf_counter() - start:.1f} s",
          file=sys.stderr, flush=True)

    if isinstance(tokenizer, ToyTask):              # a toy-task model (train_toy.py run, sort-4): its notation
        return answer_toy_task(model, tokenizer, args)
    eos = tokenizer.special_tokens.get(ENDOFTEXT, model.eos_token_id)      # None for a character model
    ids = prompt_ids(tokenizer, model, args.prompt)
    window = model.max_len
    if len(ids) >= window and not args.sliding_window:
        fail(f"the prompt is {len(ids)} tokens; the context window of {args.model} is {window} "
             f"(at most {window - 1} prompt tokens leave room to generate; --sliding-window crops the oldest)")
    if args.sliding_window and args.window_stride > window:
        fail(f"--window-stride {args.window_stride} is larger than the context window of {args.model} ({window})")
    if args.stop and "" in args.stop:
        fail("--stop needs a non-empty text")
    check_decode_memory(model, len(ids), args)
    max_new = args.max_new_tokens
    if not args.sliding_window and len(ids) + max_new > window:
        max_new = window - len(ids)
        print(f"note: generating {max_new} tokens (context window {window}; --sliding-window goes on past it)",
              file=sys.stderr)

    if args.attention:
        from transformer_np import viz
        try:
            viz.attention_html_for_lm(model, ids, viz.token_labels(tokenizer, ids), args.attention,
                                      title=f"{args.model}: \u201c{args.prompt}\u201d")   # the text, not repr's escapes
        except OSError as exc:
            fail(f"--attention {args.attention}: {exc.strerror or exc}")
        print(f"wrote {args.attention}", file=sys.stderr)

    return write_continuations(model, tokenizer, ids, max_new, eos, args)


def answer_toy_task(model, task, args, out=sys.stdout):
    """The model's answer to a prompt in the task's notation, one line per sample, written as train_toy.py
    writes held-out examples (the answer has the task's fixed length: -n does not apply)."""
    if args.attention:
        fail("--attention draws text models; for a toy task see viz.attention_html_for_lm (notebook 3)")
    try:
        answers = task.complete(model, args.prompt, args.temperature, args.top_k, args.top_p, args.seed,
                                num_samples=args.num_samples)
    except ValueError as exc:
        fail(f"--prompt: {exc}")
    out.write("".join(answer + "\n" for answer in answers))
    return 0


def check_decode_memory(model, prompt_length, args):
    """Refuse --num-samples (and -n) whose key/value caches would not fit the machine's available memory."""
    length = min(prompt_length + args.max_new_tokens, model.max_len)
    needed = model.generation_memory_bytes(args.num_samples, length)
    available = available_memory_bytes()
    if available is not None and needed > available:
        fail(f"--num-samples {args.num_samples}: decoding {args.num_samples} continuations of {length} tokens "
             f"needs about {gigabytes(needed)} of memory but only {gigabytes(available)} is available")


SAMPLE_SEPARATOR = "-" * 15


def write_continuations(model, tokenizer, ids, max_new, eos, args, out=sys.stdout):
    """Generate --num-samples continuations of the prompt in one batched decode. One sample streams as it
    is generated; several are printed at the end, each followed by a separator line. A continuation ends
    at <|endoftext|> (unless --no-stop) or where a --stop string begins (it is not printed)."""
    n = args.num_samples
    text = StopStrings(args.stop or [], lambda t: tokenizer.decode_bytes([t]), [ids] * n)
    utf8 = codecs.getincrementaldecoder("utf-8")("replace")           # for the streamed sample
    finished = np.zeros(n, dtype=bool)
    printed, steps, t0, t_first = 0, 0, time.perf_counter(), None
    if n == 1:
        out.write(args.prompt)
        out.flush()
    try:
        for next_ids in model.iter_generate([ids], max_new, args.temperature, args.top_k, args.top_p, args.seed,
                                            num_samples=n, repetition_penalty=args.repetition_penalty,
                                            sliding_window=args.sliding_window, window_stride=args.window_stride):
            t_first = t_first or time.perf_counter()
            steps += 1
            if eos is not None and not args.no_stop:
                finished |= next_ids == eos
            finished |= text.update(next_ids, active=~finished)
            if n == 1 and text.safe_length(0) > printed:
                out.write(utf8.decode(bytes(text.generated[0][printed:text.safe_length(0)])))
                out.flush()
                printed = text.safe_length(0)
            if finished.all():
                break
    except KeyboardInterrupt:
        steps = -1
    if n == 1:
        out.write(utf8.decode(text.cut(0)[printed:], final=True) + "\n")
    else:
        for row in range(n):
            out.write(args.prompt + text.cut(row).decode("utf-8", errors="replace") + f"\n{SAMPLE_SEPARATOR}\n")
    out.flush()
    if steps < 0:
        return 130
    if args.stats:
        total = time.perf_counter() - t0
        prefill = (t_first or t0) - t0
        decode = total - prefill
        rate = n * (steps - 1) / decode if steps > 1 and decode > 0 else float("nan")
        print(f"[stats] prompt {len(ids)} tokens, prefill {prefill:.2f} s; {steps} steps x {n} sample(s) in "
              f"{total:.2f} s; decode {rate:.1f} tokens/s", file=sys.stderr)
    return 0


def run_cli():
    """main() with every way out turned into an exit status and at most one line: 2 for a user's error,
    1 for a failure while running, 130 for Ctrl-C, and a quiet 0 when the reader of stdout goes away."""
    signal.signal(signal.SIGINT, signal.default_int_handler)     # from here on Ctrl-C is KeyboardInterrupt
    try:
        with np.errstate(over="ignore", invalid="ignore"):     # overflow is reported once, by the logits check
            sys.exit(main())
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)           # a second Ctrl-C must not interrupt the exit
        print("gpt2_infer.py: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        discard_stdout()                           # the reader stopped (`| head`): end quietly
        sys.exit(0)
    except FloatingPointError as exc:               # NaN/inf logits (sampling checks them): the model's weights
        fail(first_line(exc))
    except MemoryError:
        fail("out of memory (try fewer --num-samples or a smaller -n)", status=1)
    except OSError as exc:                         # e.g. a full disk under the redirected output
        discard_stdout()
        fail(f"{exc.filename or 'writing the output'}: {exc.strerror or first_line(exc)}", status=1)
    except Exception as exc:                       # a bug of ours: still one line, and a name to report
        fail(f"internal error: {type(exc).__name__}: {first_line(exc)} (please report it)", status=1)


def discard_stdout():
    """Point stdout at /dev/null, so that the interpreter's last flush of text that could not be written
    does not fail a second time (with a message of its own) on the way out."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    run_cli()
