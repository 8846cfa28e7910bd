"""Command line for trying the tokenizer by hand.

    python -m transformer_np.tokenizer encode "Hello world"              # 15496 995
    echo "Hello world" | python -m transformer_np.tokenizer encode --show
    python -m transformer_np.tokenizer encode -f big.txt > ids.txt       # streams; progress on stderr
    python -m transformer_np.tokenizer count big.txt other.txt           # tokens per file
    python -m transformer_np.tokenizer decode 15496 995                  # Hello world
    python -m transformer_np.tokenizer train corpus.txt --vocab-size 1000 --out my_tok/
    python -m transformer_np.tokenizer encode --tokenizer my_tok/ "Hello"

Text is plain text: "<|endoftext|>" in it is 7 ordinary tokens unless --allow-special makes
special tokens single ids. `train` writes into a new or empty --out directory; --overwrite lets it
replace vocab.json and merges.txt in one that holds files (nothing else there is touched).
`encode -f` and `count` stream in bounded memory: a single word longer than 262,144 characters
(a huge line without spaces) is cut into parts, with a note on stderr, as its ids may then
differ from encoding it whole.

Exit status: 0 done; 2 a user error (bad file, bad id, bad flag), one line on stderr; 1 a failure
of the machine (a full disk), one line naming the file; 130 interrupted (Ctrl-C). A closed
output pipe (`| head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import sys
import time
from pathlib import Path

from . import stream
from .tokenizer import BPETokenizer


STDIN = "<stdin>"


def _read_input(text: str | None, file: str | None) -> str:
    if text is not None and file is None:
        return text
    return "".join(_file_chunks(file))


def _stdin_chunks(chunk_chars: int = 1 << 20):
    """stdin as UTF-8 text in chunks (never read whole)."""
    binary = getattr(sys.stdin, "buffer", None)
    reader = io.TextIOWrapper(binary, encoding="utf-8", newline="") if binary is not None else sys.stdin
    while chunk := reader.read(chunk_chars):
        yield chunk


def _file_chunks(file: str | None, progress: stream.Progress | None = None):
    """The text of the file (stdin if None) in chunks, with errors turned into one-line ValueErrors."""
    try:
        yield from _stdin_chunks() if file is None else stream.read_chunks(file, progress=progress)
    except OSError as error:
        raise ValueError(f"{file or STDIN}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{file or STDIN}: not valid UTF-8 text") from None


def _file_progress(file: str) -> stream.Progress | None:
    try:
        return stream.Progress(file, os.path.getsize(file))
    except OSError:
        return None  # reading it will report the error


def _allowed(args: argparse.Namespace) -> str | frozenset:
    return "all" if args.allow_special else frozenset()


def _ids_of_file(tokenizer: BPETokenizer, file: str | None, args: argparse.Namespace):
    """Stream the ids of a file (stdin if None): memory stays small whatever its size, a word longer
    than stream.LONG_WORD_CHARS included (cut, with a note); progress on stderr if it is slow."""
    progress = None if file is None else _file_progress(file)

    cuts = []

    def note_long_word(offset: int) -> None:
        if not cuts:  # once per file: a 16 MB word would otherwise make 64 notes
            print(f"note: {file or STDIN}: a word longer than {stream.LONG_WORD_CHARS:,} characters (at character "
                  f"{offset - stream.LONG_WORD_CHARS:,}) is cut into parts of that length; ids near the cuts may "
                  f"differ from encoding it whole", file=sys.stderr)
        cuts.append(offset)

    yield from tokenizer.encode_iterable(_file_chunks(file, progress), allowed_special=_allowed(args),
                                         disallowed_special=(), max_word_chars=stream.LONG_WORD_CHARS,
                                         on_long_word=note_long_word)
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
    if args.text is None and not args.show:
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
        print(sum(1 for _ in _ids_of_file(tokenizer, None, args)))
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


OUR_FILES = ("vocab.json", "merges.txt")


def check_out_dir(out: str, overwrite: bool) -> Path:
    """``--out`` as a directory ``train`` may write into: new or empty; with ``overwrite``, one
    holding files (only vocab.json and merges.txt will be replaced). Otherwise a ValueError
    naming the first file found, since nothing a user made is replaced without being asked."""
    if not out.strip():
        raise ValueError("--out is empty; give the directory to write vocab.json and merges.txt into")
    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    for name in OUR_FILES:
        target = directory / name
        if (target.exists() or target.is_symlink()) and not target.is_file():
            raise ValueError(f"{target}: exists and is not a regular file; it will not be replaced")
    if directory.is_dir() and not overwrite:
        present = sorted(directory.iterdir(), key=lambda p: (p.name not in OUR_FILES, p.name))
        if present:
            raise ValueError(f"{present[0]}: already exists; --out must be a new or empty directory "
                             f"(pass --overwrite to replace vocab.json and merges.txt there)")
    return directory


def _cmd_train(args: argparse.Namespace) -> None:
    out = check_out_dir(args.out, args.overwrite)
    for file in args.files:
        if not os.path.isfile(file):
            raise ValueError(f"{file}: {'not a file' if os.path.exists(file) else 'no such file'}")
    start = time.perf_counter()
    # Each file is streamed (never read whole) and split on its own, like a separate document.
    tokenizer = BPETokenizer.train([Path(file) for file in args.files], args.vocab_size)
    seconds = time.perf_counter() - start
    try:
        out.mkdir(parents=True, exist_ok=True)
        tokenizer.save(out)
    except OSError as error:  # a write error (a full disk) carries no file name: say where we wrote
        raise OSError(error.errno, error.strerror, error.filename or str(out / OUR_FILES[0])) from None
    size = sum(os.path.getsize(file) for file in args.files)
    print(f"trained {tokenizer.vocab_size} tokens on {size} bytes in {seconds:.1f} s; "
          f"wrote {args.out}/vocab.json and merges.txt", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m transformer_np.tokenizer", description="Byte-level BPE tokenizer.")
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
    train.add_argument("--out", required=True,
                       help="directory to write vocab.json and merges.txt into (new or empty, unless --overwrite)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace vocab.json and merges.txt in an --out that already holds files")
    train.set_defaults(run=_cmd_train)
    return parser


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# Errors that are the user's to fix (exit 2); any other OSError is the machine's (exit 1).
_USER_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST,
                errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP}


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is in the module docstring."""
    try:
        args = build_parser().parse_args(argv)
        args.run(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ValueError as error:  # includes TokenizerFileError and UnicodeError
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        where = error.filename or "<stdout>"
        print(f"error: {where}: {error.strerror or error}", file=sys.stderr)
        return 2 if error.errno in _USER_ERRNOS else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
