"""Command line for trying the tokenizer by hand.

    python -m transformer_np.tokenizer encode "Hello world"              # 15496 995
    echo "Hello world" | python -m transformer_np.tokenizer encode --show
    python -m transformer_np.tokenizer encode -f big.txt > ids.txt       # streams; progress on stderr
    python -m transformer_np.tokenizer count big.txt other.txt           # tokens per file
    python -m transformer_np.tokenizer decode 15496 995                  # Hello world
    python -m transformer_np.tokenizer train corpus.txt --vocab-size 1000 --out my_tok/
    python -m transformer_np.tokenizer encode --tokenizer my_tok/ "Hello"

Text is plain text: "<|endoftext|>" in it is 7 ordinary tokens unless --allow-special makes
special tokens single ids. User errors (bad files, bad ids) print one line to stderr and exit
with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import stream
from .tokenizer import BPETokenizer


def _read_input(text: str | None, file: str | None) -> str:
    if file is not None:
        return "".join(_file_chunks(file))
    if text is not None:
        return text
    return sys.stdin.read()


def _file_chunks(file: str, progress: stream.Progress | None = None):
    """The file's text in chunks, with file errors turned into one-line ValueErrors."""
    try:
        yield from stream.read_chunks(file, progress=progress)
    except OSError as error:
        raise ValueError(f"{file}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{file}: not valid UTF-8 text") from None


def _file_progress(file: str) -> stream.Progress | None:
    try:
        return stream.Progress(file, os.path.getsize(file))
    except OSError:
        return None  # reading it will report the error


def _allowed(args: argparse.Namespace) -> str | frozenset:
    return "all" if args.allow_special else frozenset()


def _ids_of_file(tokenizer: BPETokenizer, file: str, args: argparse.Namespace):
    """Stream a file's ids (memory stays small whatever its size); progress on stderr if it is slow."""
    progress = _file_progress(file)
    yield from tokenizer.encode_iterable(_file_chunks(file, progress), allowed_special=_allowed(args),
                                         disallowed_special=())
    if progress:
        progress.finish()


def _show_token(data: bytes) -> str:
    """A token's text with whitespace made visible; partial UTF-8 shown as hex bytes like <f0 9f>."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "<" + data.hex(" ") + ">"
    return text.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _cmd_encode(args: argparse.Namespace) -> None:
    tokenizer = BPETokenizer.from_pretrained(args.tokenizer)
    if args.file is not None and not args.show:
        _write_ids(_ids_of_file(tokenizer, args.file, args))
        return
    text = _read_input(args.text, args.file)
    ids = tokenizer.encode(text, allowed_special=_allowed(args), disallowed_special=())
    print(" ".join(map(str, ids)))
    if args.show:
        print(" | ".join(_show_token(tokenizer.decode_bytes([i])) for i in ids), flush=True)
        print(f"{len(ids)} tokens, {len(text.encode('utf-8'))} bytes", file=sys.stderr)


def _write_ids(ids) -> None:
    """Space-separated ids on one line, written in blocks as they come."""
    block: list[str] = []
    separator = ""
    for token_id in ids:
        block.append(str(token_id))
        if len(block) == 65536:
            sys.stdout.write(separator + " ".join(block))
            separator, block = " ", []
    sys.stdout.write((separator if block else "") + " ".join(block) + "\n")


def _cmd_count(args: argparse.Namespace) -> None:
    tokenizer = BPETokenizer.from_pretrained(args.tokenizer)
    if not args.files:
        text = sys.stdin.read()
        print(len(tokenizer.encode(text, allowed_special=_allowed(args), disallowed_special=())))
        return
    total = 0
    for file in args.files:
        count = sum(1 for _ in _ids_of_file(tokenizer, file, args))
        total += count
        print(f"{count}\t{file}" if len(args.files) > 1 else count)
    if len(args.files) > 1:
        print(f"{total}\ttotal")


def _cmd_decode(args: argparse.Namespace) -> None:
    tokenizer = BPETokenizer.from_pretrained(args.tokenizer)
    words = args.ids if args.ids else sys.stdin.read().replace(",", " ").split()
    ids = []
    for word in words:
        try:
            ids.append(int(word))
        except ValueError:
            raise ValueError(f"not a token id: {word!r}") from None
    sys.stdout.write(tokenizer.decode(ids))
    if sys.stdout.isatty():
        sys.stdout.write("\n")


def _cmd_train(args: argparse.Namespace) -> None:
    for file in args.files:
        if not os.path.isfile(file):
            raise ValueError(f"{file}: no such file")
    start = time.perf_counter()
    try:
        # Each file is streamed (never read whole) and split on its own, like a separate document.
        tokenizer = BPETokenizer.train([Path(file) for file in args.files], args.vocab_size)
    except UnicodeDecodeError:
        raise ValueError(f"{' '.join(args.files)}: not valid UTF-8 text") from None
    seconds = time.perf_counter() - start
    tokenizer.save(args.out)
    size = sum(os.path.getsize(file) for file in args.files)
    print(f"trained {tokenizer.vocab_size} tokens on {size} bytes in {seconds:.1f} s; "
          f"wrote {args.out}/vocab.json and merges.txt", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m transformer_np.tokenizer", description="Byte-level BPE tokenizer.")
    commands = parser.add_subparsers(dest="command", required=True)

    encode = commands.add_parser("encode", help="text -> token ids")
    encode.add_argument("text", nargs="?", help="text to encode (default: read stdin)")
    encode.add_argument("-f", "--file", help="read the text from this UTF-8 file (streamed: any size)")
    encode.add_argument("--tokenizer", default="gpt2", help='"gpt2" or a directory with vocab.json + merges.txt')
    encode.add_argument("--allow-special", action="store_true",
                        help="turn special tokens like <|endoftext|> into their single ids (default: plain text)")
    encode.add_argument("--show", action="store_true", help="also print each token's text")
    encode.set_defaults(run=_cmd_encode)

    count = commands.add_parser("count", help="number of tokens in files (or stdin)")
    count.add_argument("files", nargs="*", help="UTF-8 text files (streamed: any size; default: read stdin)")
    count.add_argument("--tokenizer", default="gpt2", help='"gpt2" or a directory with vocab.json + merges.txt')
    count.add_argument("--allow-special", action="store_true", help="count each special token as one token")
    count.set_defaults(run=_cmd_count)

    decode = commands.add_parser("decode", help="token ids -> text")
    decode.add_argument("ids", nargs="*", help="ids (default: read whitespace/comma separated ids from stdin)")
    decode.add_argument("--tokenizer", default="gpt2", help='"gpt2" or a directory with vocab.json + merges.txt')
    decode.set_defaults(run=_cmd_decode)

    train = commands.add_parser("train", help="learn a vocabulary from text files and save it")
    train.add_argument("files", nargs="+", help="UTF-8 text files to learn from")
    train.add_argument("--vocab-size", type=int, required=True, help="total tokens incl. 256 bytes and <|endoftext|>")
    train.add_argument("--out", required=True, help="directory to write vocab.json and merges.txt into")
    train.set_defaults(run=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except ValueError as error:  # includes TokenizerFileError and UnicodeError
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
