"""Reading a learner's own data: text files, folders, globs, and tables (.csv / .tsv / .jsonl) read by column.

    corpus = read_documents(["notes/", "extra/*.md", "reviews.csv"], text_column="text")
    corpus.documents                   # list of str, one per text file or table row
    texts, labels = read_labelled("reviews.csv", "text", "label")

What each path stands for:

    a file          one document (a .txt, .md or any other UTF-8 file); a .csv / .tsv / .jsonl file is a table
                    instead: every row is one document, the text of its `text_column`
    a directory     every .txt and .md file below it (recursively), sorted by path components
    a glob          (`data/*.txt`, `logs/**/*.md`) expanded here, sorted; each match as above

A table is parsed as a table, so its quoting (CSV's `"he said ""hi"", then left"`), its other columns and JSON's syntax never
reach the model: only the text of the chosen column does. Every problem is a `DataError` whose one-line message
names the file and, inside a table, the row: an empty file, a binary file, bytes that are not UTF-8, a missing
column, a row whose text is empty, a glob that matches nothing, a directory without .txt/.md files.
Standard library only.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import io
import json
import os
from pathlib import Path

from .io.jsonfile import parse_json_text

TEXT_SUFFIXES = (".txt", ".md")                         # what a directory contributes
TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIX = ".jsonl"
GLOB_CHARACTERS = frozenset("*?[")


class DataError(ValueError):
    """Input data a run cannot use; the message is one line naming the file (and row)."""


def is_table(path) -> bool:
    """Whether `path` is read by column (.csv, .tsv, .jsonl) rather than as one document."""
    return path_suffix(path) in TABLE_DELIMITERS or path_suffix(path) == JSONL_SUFFIX


# ------------------------------------------------------------------------------------------ which files

def expand_paths(paths) -> list[Path]:
    """The files `paths` stand for (see the module docstring), in order; a file named twice is read once."""
    files = []
    for given in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        given = os.fspath(given)
        if os.path.exists(given) or not GLOB_CHARACTERS & set(given):
            files += _expand_one(Path(given))
            continue
        matches = sorted(glob.glob(given, recursive=True))
        if not matches:
            raise DataError(f"{given}: no file matches this pattern")
        for match in matches:
            files += _expand_one(Path(match))
    return list(dict.fromkeys(files))


def _expand_one(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted((p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES and p.is_file()),
                       key=lambda p: p.relative_to(path).parts)          # a folder's files before its neighbours
        if not found:
            raise DataError(f"{path}: a directory with no .txt or .md file below it")
        return found
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    return [path]


# ------------------------------------------------------------------------------------------ one file

def read_text(path) -> str:
    """The whole of a UTF-8 file (a leading byte-order mark dropped). DataError for an empty file, a binary
    file (it holds NUL bytes, which no text does) or bytes that are not UTF-8 (naming the line)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not data.strip():
        raise DataError(f"{path}: empty file" if not data else f"{path}: holds only whitespace")
    if b"\0" in data:
        nul = data.index(b"\0")
        raise DataError(f"{path}: a binary file (NUL byte at offset {nul}), not text "
                        f"(UTF-16 text: save it as UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}, line {line}: not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from None


def read_rows(path):
    """Yield (row number, where, record dict) for each row of a table; `where` is how a message names the row
    ("row 3 (line 4)"). Blank lines are skipped; a CSV/TSV row must have as many fields as the header."""
    path = Path(path)
    text = read_text(path)
    if path.suffix.lower() == JSONL_SUFFIX:
        yield from _jsonl_rows(path, text)
    else:
        yield from _csv_rows(path, text, TABLE_DELIMITERS[path.suffix.lower()])


def _csv_rows(path, text, delimiter):
    # newline="": only \n, \r, \r\n end a line, and a quoted field keeps its own newlines exactly.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        row_number, line = 0, reader.line_num + 1
        for fields in reader:
            where = f"row {row_number + 1} (line {line})"
            line = reader.line_num + 1
            if not fields:                                       # a blank line
                continue
            row_number += 1
            if len(fields) != len(header):
                hint = " (a field holding the delimiter must be quoted)" if len(fields) > len(header) else ""
                raise DataError(f"{path}, {where}: {len(fields)} fields, but the header has {len(header)}{hint}")
            yield row_number, where, dict(zip(header, fields))
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: not valid {'CSV' if delimiter == ',' else 'TSV'} ({e})") from None


def _jsonl_rows(path, text):
    row_number = 0
    for line_index, line in enumerate(text.split("\n")):      # JSON strings may hold U+2028 etc.: split on \n only
        if not line.strip():
            continue
        row_number += 1
        where = f"row {row_number} (line {line_index + 1})"
        try:
            record = parse_json_text(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, {where}: not JSON ({e.msg} at column {e.colno})") from None
        except ValueError as e:                  # nested too deeply, an integer of over 4,300 digits
            raise DataError(f"{path}, {where}: not JSON ({e})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}, {where}: a JSON {type(record).__name__}, not an object {{\"name\": value, ...}}")
        yield row_number, where, record


def columns_of(path, columns):
    """[(where, values)] for every row of a table: `values` holds each of `columns` (a dict name -> the flag
    that chooses it, named when a row lacks the column)."""
    rows = []
    for _, where, record in read_rows(path):
        for column, flag in columns.items():
            if column not in record:
                has = ", ".join(map(repr, record))
                place = f"{path}: no column" if path_suffix(path) != JSONL_SUFFIX else f"{path}, {where}: no field"
                raise DataError(f"{place} {column!r} (it has {has}); choose one with {flag}")
        rows.append((where, [record[column] for column in columns]))
    if not rows:
        raise DataError(f"{path}: no rows" + (" below the header" if path_suffix(path) != JSONL_SUFFIX else ""))
    return rows


def path_suffix(path) -> str:
    return Path(path).suffix.lower()


def text_of(path, where, column, value) -> str:
    """A row's text: a non-empty string (JSON numbers etc. are refused rather than guessed at)."""
    if not isinstance(value, str):
        raise DataError(f"{path}, {where}: {column!r} is {json.dumps(value)}, not a string")
    if not value.strip():
        raise DataError(f"{path}, {where}: empty text in column {column!r}")
    return value


def label_of(path, where, column, value) -> str:
    """A row's label as written: a string as it is, a JSON number or boolean as its JSON text ("1", "true")."""
    if isinstance(value, (dict, list)) or value is None:
        raise DataError(f"{path}, {where}: label {json.dumps(value)} in {column!r} is not a string or number")
    label = value if isinstance(value, str) else json.dumps(value)
    if not label.strip():
        raise DataError(f"{path}, {where}: empty label in column {column!r}")
    return label


# ------------------------------------------------------------------------------------------ many files

@dataclasses.dataclass
class Corpus:
    """The documents read from some paths, and what they came from."""
    documents: list
    n_files: int
    n_rows: int          # rows read from tables (each one document)

    @property
    def n_characters(self) -> int:
        return sum(len(d) for d in self.documents)

    def summary(self) -> str:
        rows = f" ({self.n_rows:,} table rows)" if self.n_rows else ""
        return (f"read {self.n_files:,} file{'s' * (self.n_files != 1)}{rows}: {len(self.documents):,} "
                f"document{'s' * (len(self.documents) != 1)}, {self.n_characters:,} characters")


def read_documents(paths, text_column="text") -> Corpus:
    """Every document `paths` hold (see the module docstring), in order."""
    documents, n_rows = [], 0
    files = expand_paths(paths)
    for path in files:
        if not is_table(path):
            documents.append(read_text(path))
            continue
        rows = columns_of(path, {text_column: "--text-column"})
        documents += [text_of(path, where, text_column, text) for where, (text,) in rows]
        n_rows += len(rows)
    return Corpus(documents, len(files), n_rows)


def read_labelled(path, text_column="text", label_column="label"):
    """(texts, labels) of a labelled table, both lists of str, one per row, labels as written in the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if not is_table(path):
        raise DataError(f"{path}: a labelled file must be .csv, .tsv or .jsonl (with columns {text_column!r} "
                        f"and {label_column!r})")
    rows = columns_of(path, {text_column: "--text-column", label_column: "--label-column"})
    texts = [text_of(path, where, text_column, text) for where, (text, _) in rows]
    labels = [label_of(path, where, label_column, label) for where, (_, label) in rows]
    return texts, labels
