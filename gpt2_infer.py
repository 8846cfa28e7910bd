#!/usr/bin/env python
"""Sample text from GPT-2 running on the library's handwritten NumPy layers.

    python gpt2_infer.py -p "Alan Turing theorized that computers"
    python gpt2_infer.py --model gpt2-medium -p "The meaning of life is" -n 40 --top-k 40 --seed 1 --stats
    python gpt2_infer.py --model DIR -p "..."        # a directory saved by GPT2.save_pretrained

The prompt and then the continuation stream to stdout as they are generated; loading status and the
--stats line go to stderr. Generation stops at <|endoftext|> (unless --no-stop) or after -n tokens.
"""
import argparse
import sys
import time
from pathlib import Path

from transformer_np.io.hub import KNOWN_MODELS, DownloadError
from transformer_np.models.gpt2 import DEFAULT_CONFIG, GPT2
from transformer_np.tokenizer import ENDOFTEXT, BPETokenizer, TokenizerFileError


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def probability(text):
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Generate text with GPT-2 in pure NumPy.")
    p.add_argument("-p", "--prompt", default="",
                   help="text to continue (default: empty, i.e. start from <|endoftext|>)")
    p.add_argument("--model", default="gpt2",
                   help=f"a model name ({', '.join(KNOWN_MODELS)}) or a directory with config.json + "
                        "model.safetensors + vocab.json + merges.txt (default: gpt2)")
    p.add_argument("-n", "--max-new-tokens", type=positive_int, default=50, help="tokens to generate (default 50)")
    p.add_argument("--temperature", type=non_negative_float, default=1.0,
                   help="sampling temperature; 0 = greedy (default 1.0)")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample among the k most likely tokens")
    p.add_argument("--top-p", type=probability, default=None, help="nucleus sampling: smallest set with mass >= p")
    p.add_argument("--seed", type=int, default=None, help="random seed: the same seed gives the same text")
    p.add_argument("--no-stop", action="store_true", help="do not stop at <|endoftext|>")
    p.add_argument("--stats", action="store_true", help="print a final line with tokens/s (to stderr)")
    p.add_argument("--attention", metavar="OUT.html",
                   help="write the prompt's attention (every layer and head) as a self-contained HTML page")
    return p.parse_args(argv)


def fail(message):
    """One line on stderr, exit status 2 (as argparse does for bad flags)."""
    print(f"gpt2_infer.py: error: {message}", file=sys.stderr)
    sys.exit(2)


GPT2_VOCAB_SIZE = DEFAULT_CONFIG["vocab_size"]          # 50257, shared by every released GPT-2 size


def load_tokenizer(model_dir, model_name, vocab_size):
    if (Path(model_dir) / "vocab.json").is_file() or (Path(model_dir) / "encoder.json").is_file():
        return BPETokenizer.from_pretrained(model_dir)
    if model_name in KNOWN_MODELS:
        return BPETokenizer.from_pretrained("gpt2")           # all GPT-2 sizes share one tokenizer
    if vocab_size == GPT2_VOCAB_SIZE:
        # A directory saved by model.save_pretrained alone (no tokenizer) of a GPT-2-sized vocabulary:
        # GPT-2's own tokenizer, shipped with the package, is by far the likeliest match.
        print(f"note: {model_dir} has no tokenizer files; using GPT-2's ({GPT2_VOCAB_SIZE} tokens)",
              file=sys.stderr)
        return BPETokenizer.from_pretrained("gpt2")
    raise FileNotFoundError(f"{model_dir}: no tokenizer files (vocab.json + merges.txt), and its vocabulary "
                            f"of {vocab_size} tokens is not GPT-2's")


def main(argv=None):
    args = parse_args(argv)
    print(f"loading {args.model} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        model = GPT2.from_pretrained(args.model)
        tokenizer = load_tokenizer(model.model_dir, args.model, model.vocab_size)
    except (FileNotFoundError, DownloadError, TokenizerFileError, ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    n_params = model.num_parameters()
    print(f"loaded {n_params / 1e6:.3g}M parameters from {model.model_dir} in {time.perf_counter() - start:.1f} s",
          file=sys.stderr, flush=True)

    eos = tokenizer.special_tokens.get(ENDOFTEXT, model.eos_token_id)
    ids = tokenizer.encode(args.prompt) if args.prompt else [eos]
    window = model.max_len
    if len(ids) >= window:
        fail(f"the prompt is {len(ids)} tokens; the context window of {args.model} is {window} "
             f"(at most {window - 1} prompt tokens leave room to generate)")
    max_new = min(args.max_new_tokens, window - len(ids))
    if max_new < args.max_new_tokens:
        print(f"note: generating {max_new} tokens (context window {window})", file=sys.stderr)

    if args.attention:
        from transformer_np import viz
        viz.attention_html_for_lm(model, ids, viz.token_labels(tokenizer, ids), args.attention,
                                  title=f"{args.model}: {args.prompt!r}")
        print(f"wrote {args.attention}", file=sys.stderr)

    out, decoder = sys.stdout, tokenizer.stream_decoder()
    out.write(args.prompt)
    out.flush()
    n_generated, t0 = 0, time.perf_counter()
    t_first = None
    try:
        for next_ids in model.iter_generate([ids], max_new, args.temperature, args.top_k, args.top_p, args.seed):
            token = int(next_ids[0])
            if t_first is None:
                t_first = time.perf_counter()
            n_generated += 1
            if token == eos and not args.no_stop:
                break
            out.write(decoder.add(token))
            out.flush()
    except KeyboardInterrupt:
        out.write(decoder.finish() + "\n")
        return 130
    out.write(decoder.finish() + "\n")
    out.flush()
    if args.stats:
        total = time.perf_counter() - t0
        prefill = (t_first or t0) - t0
        decode = total - prefill
        rate = (n_generated - 1) / decode if n_generated > 1 and decode > 0 else float("nan")
        print(f"[stats] prompt {len(ids)} tokens, prefill {prefill:.2f} s; generated {n_generated} tokens in "
              f"{total:.2f} s; decode {rate:.1f} tokens/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
