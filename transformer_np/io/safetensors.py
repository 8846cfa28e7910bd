"""Read and write the safetensors format with NumPy alone.

File layout (all integers little-endian)::

    [u64: N = header size][N bytes: UTF-8 JSON header][data buffer]

The JSON header maps each tensor name to
``{"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}``,
where the offsets are byte positions inside the data buffer (which starts at
byte ``8 + N``).  An optional ``"__metadata__"`` entry maps strings to strings.
Tensors are stored row-major, little-endian, back to back with no gaps.
Writers pad the header with spaces so the data buffer starts on an 8-byte
boundary, which keeps every F32 tensor aligned when the offsets are.

A reader must not trust the header (a file may come from anywhere), so every
rule of the format is checked before a byte of data is used: the tensors,
sorted by offset, tile the data buffer exactly (no overlap, so no tensor
aliases another; no gap; nothing left over), each spans prod(shape) * dtype
size bytes, no name appears twice.  A violation is one ``SafetensorsError``
(a ValueError) naming the file and the tensor (see read_safetensors_header).

Loading memory-maps the file: F32 (and other natively stored) tensors are
read-only views into the map, so a 500 MB checkpoint is not copied into RAM
before the model picks its weights.  F16 and BF16 are widened to float32,
because the model computes in float32.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from .atomic import atomic_writer

__all__ = [
    "SafetensorsError",
    "SafetensorsHeader",
    "TensorEntry",
    "load_safetensors",
    "read_safetensors_header",
    "read_safetensors_metadata",
    "save_safetensors",
]

# safetensors dtype name -> NumPy dtype of the stored bytes (little-endian).
# BF16 has no NumPy dtype: its bytes are read as uint16 and widened by hand.
_STORED_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

# NumPy dtype -> safetensors dtype name, for writing arrays as they are.
_NAME_OF_DTYPE = {
    np.dtype(np.float64): "F64",
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.int16): "I16",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint64): "U64",
    np.dtype(np.uint32): "U32",
    np.dtype(np.uint16): "U16",
    np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
}

_HEADER_SIZE_BYTES = 8
# The reference implementation refuses headers above 100 MB; a corrupt size
# field should not make us allocate gigabytes either.
_MAX_HEADER_BYTES = 100_000_000
# A valid header nests three levels deep ({name: {"shape": [...]}}); the bound
# only keeps a hostile "[[[[..." from exhausting the parser's stack.
_MAX_JSON_DEPTH = 64
# NumPy's own limits: at most 64 dimensions, and every array (even an empty
# one) must be addressable, i.e. its non-zero dimensions times the item size
# must stay below 2**62 bytes.
_MAX_DIMENSIONS = 64
_MAX_ADDRESSABLE_BYTES = 2**62


class SafetensorsError(ValueError):
    """A file that breaks the safetensors format. The message is one line naming the file (and the tensor)."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the header: its bytes are data[begin:end] of the data buffer."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated header: tensors in header order, ``__metadata__``, where the data buffer starts."""

    tensors: list[TensorEntry]
    metadata: dict[str, str]
    data_start: int
    file_size: int


# --------------------------------------------------------------------- reading


class _DuplicateKey(Exception):
    """Raised from inside json.loads (object_pairs_hook) and turned into a SafetensorsError."""


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """json's object_pairs_hook: a dict, unless a key appears twice (a plain dict keeps the last silently)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return obj


def _refuse_constant(name: str):
    """json's parse_constant: NaN and Infinity are not JSON (Python's parser accepts them by default)."""
    raise ValueError(f"{name} is not a JSON value")


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]")


def _json_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings, without recursion (so without a stack to exhaust)."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub('""', text)).encode("ascii")
    opens = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((opens == ord("[")) | (opens == ord("{")), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def _parse_header_json(path: Path, raw: bytes) -> dict:
    """The header bytes -> a dict, refusing non-UTF-8, non-objects, deep nesting and duplicate keys."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON (byte {exc.start} is not UTF-8)") from None
    if not text.startswith("{"):
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON (it must start with '{{')")
    depth = _json_depth(text)
    if depth > _MAX_JSON_DEPTH:
        raise SafetensorsError(f"{path}: header JSON nests {depth} levels deep (at most {_MAX_JSON_DEPTH})")
    try:
        header = json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=_refuse_constant)
    except _DuplicateKey as exc:
        raise SafetensorsError(f"{path}: tensor {exc.args[0]!r}: the name appears twice in the header") from None
    except (ValueError, RecursionError) as exc:       # JSONDecodeError, a 4,300-digit integer, NaN
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON ({reason})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is JSON but not an object")
    return header


def _check_metadata(path: Path, metadata) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{path}: __metadata__ must map strings to strings")
    return dict(metadata)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entry(path: Path, name: str, entry, data_size: int) -> TensorEntry:
    """Validate one header entry on its own: dtype, shape, offsets, and bytes = prod(shape) * itemsize."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(entry, dict):
        raise SafetensorsError(f"{where}: header entry is not an object")
    dtype_name = entry.get("dtype")
    if not isinstance(dtype_name, str) or dtype_name not in _STORED_DTYPES:
        raise SafetensorsError(f"{where}: unsupported dtype {dtype_name!r} (known: {', '.join(_STORED_DTYPES)})")
    shape = entry.get("shape")
    if (not isinstance(shape, list) or len(shape) > _MAX_DIMENSIONS
            or not all(_is_int(d) and d >= 0 for d in shape)):
        raise SafetensorsError(f"{where}: bad shape {shape!r} (a list of at most {_MAX_DIMENSIONS} integers >= 0)")
    itemsize = _STORED_DTYPES[dtype_name].itemsize
    if math.prod(d for d in shape if d) * itemsize >= _MAX_ADDRESSABLE_BYTES:
        raise SafetensorsError(f"{where}: bad shape {shape!r}: its size overflows")
    offsets = entry.get("data_offsets")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets):
        raise SafetensorsError(f"{where}: bad data_offsets {offsets!r} (two integers [begin, end])")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise SafetensorsError(f"{where}: data_offsets [{begin}, {end}] out of range for a {data_size}-byte "
                               f"data buffer")
    expected = math.prod(shape) * itemsize          # Python integers: no overflow to wrap around
    if end - begin != expected:
        raise SafetensorsError(f"{where}: data_offsets span {end - begin} bytes but {dtype_name} {tuple(shape)} "
                               f"needs {expected}")
    return TensorEntry(name, dtype_name, tuple(shape), begin, end)


def _check_layout(path: Path, tensors: list[TensorEntry], data_size: int) -> None:
    """The tensors, in the order of their offsets, must tile the data buffer: each begins where the
    previous one ends (no overlap, no gap) and the last ends at the end of the file."""
    end_of_previous, previous = 0, None
    for tensor in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if tensor.begin < end_of_previous:
            raise SafetensorsError(f"{path}: tensor {tensor.name!r}: data_offsets [{tensor.begin}, {tensor.end}] "
                                   f"overlap tensor {previous.name!r} [{previous.begin}, {previous.end}]")
        if tensor.begin > end_of_previous:
            raise SafetensorsError(f"{path}: tensor {tensor.name!r}: data_offsets [{tensor.begin}, {tensor.end}] "
                                   f"leave bytes [{end_of_previous}, {tensor.begin}) of the data buffer unused")
        end_of_previous, previous = tensor.end, tensor
    if end_of_previous != data_size:
        after = f"after tensor {previous.name!r}" if previous else "but the header lists no tensors"
        raise SafetensorsError(f"{path}: the data buffer has {data_size - end_of_previous} bytes that no tensor "
                               f"covers ({after})")


def read_safetensors_header(path: str | os.PathLike) -> SafetensorsHeader:
    """Read and validate the header of a safetensors file (the data is not read).

    The checks are the format's: header size within the file and at most 100 MB; UTF-8 JSON object
    (nesting bounded, no key twice); known dtypes; shapes of non-negative integers; each tensor's byte
    count = prod(shape) * dtype size; the tensors, sorted by offset, tile the data buffer exactly (no
    overlap, no gap, nothing left over); ``__metadata__`` maps strings to strings. Any violation raises
    one ``SafetensorsError`` naming the file and, where there is one, the tensor.
    """
    path = Path(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        if file_size < _HEADER_SIZE_BYTES:
            raise SafetensorsError(f"{path}: not a safetensors file: {file_size} bytes is too short for the "
                                   f"{_HEADER_SIZE_BYTES}-byte header size")
        header_size = int.from_bytes(f.read(_HEADER_SIZE_BYTES), "little")
        if header_size > file_size - _HEADER_SIZE_BYTES or header_size > _MAX_HEADER_BYTES:
            raise SafetensorsError(f"{path}: header size {header_size} runs past the end of the {file_size}-byte "
                                   f"file (or past the {_MAX_HEADER_BYTES}-byte limit)")
        raw_header = f.read(header_size)
    if len(raw_header) != header_size:
        raise SafetensorsError(f"{path}: the file shrank while its header was read")
    header = _parse_header_json(path, raw_header)
    data_start = _HEADER_SIZE_BYTES + header_size
    data_size = file_size - data_start
    metadata = _check_metadata(path, header.pop("__metadata__", None))
    tensors = [_check_entry(path, name, entry, data_size) for name, entry in header.items()]
    _check_layout(path, tensors, data_size)
    return SafetensorsHeader(tensors, metadata, data_start, file_size)


def map_safetensors(path: Path, header: SafetensorsHeader, access: int) -> mmap.mmap:
    """Memory-map the whole file, checking that it is still the size its header was read from."""
    with open(path, "rb") as f:
        file_map = mmap.mmap(f.fileno(), 0, access=access)
    if len(file_map) != header.file_size:
        raise SafetensorsError(f"{path}: the file changed size while it was read")
    return file_map


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Return the ``__metadata__`` dict of a safetensors file ({} if absent).

    Only the header is read, so this is cheap even for a large checkpoint.
    """
    return read_safetensors_header(path).metadata


def _bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """BF16 is the upper half of a float32: shift the 16 bits into place."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def load_safetensors(path: str | os.PathLike, *, copy: bool = False) -> dict[str, np.ndarray]:
    """Load every tensor of a safetensors file, in header order.

    By default the file is memory-mapped: F32/F64/integer/BOOL tensors come
    back as read-only views of the map (no copy; the OS pages them in on
    use), and the map lives as long as any of those arrays does.  F16 and
    BF16 tensors are converted to new float32 arrays.  With ``copy=True``
    every array is an ordinary writable array and the file is not kept open.

    Raises ``SafetensorsError`` (a ValueError) naming the file (and tensor)
    for a malformed file; see ``read_safetensors_header`` for the checks.
    """
    path = Path(path)
    header = read_safetensors_header(path)
    if not header.tensors:
        return {}
    # A zero-length map is an error on some platforms; the file always has
    # bytes (the header), so length 0 (meaning "whole file") is safe here.
    file_map = map_safetensors(path, header, mmap.ACCESS_READ)

    tensors: dict[str, np.ndarray] = {}
    for tensor in header.tensors:
        stored = _STORED_DTYPES[tensor.dtype]
        count = (tensor.end - tensor.begin) // stored.itemsize
        if count == 0:
            raw = np.zeros(tensor.shape, dtype=stored)
        else:
            raw = np.frombuffer(
                file_map, dtype=stored, count=count, offset=header.data_start + tensor.begin
            ).reshape(tensor.shape)
        if tensor.dtype == "BF16":
            array = _bf16_bits_to_float32(raw)
        elif tensor.dtype == "F16":
            array = raw.astype(np.float32)
        elif not np.little_endian and stored.itemsize > 1:
            array = raw.astype(stored.newbyteorder("="))  # big-endian host: must copy
        else:
            array = raw.copy() if copy else raw
        tensors[tensor.name] = array
    return tensors


# --------------------------------------------------------------------- writing


def _float32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """Round float32 to the nearest BF16 (ties to even); return the uint16 bits."""
    bits = np.asarray(values, dtype=np.float32, order="C").view(np.uint32)
    # Adding 0x7FFF plus the lowest kept bit rounds to nearest, ties to even.
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    rounded = ((bits.astype(np.uint64) + rounding) >> 16).astype(np.uint16)
    # Rounding could turn a NaN whose payload sits in the low bits into Inf.
    return np.where(np.isnan(values), np.uint16(0x7FC0), rounded)


def _encode(path: Path, name: str, array, float_dtype: str | None) -> tuple[str, np.ndarray]:
    """Return (safetensors dtype name, contiguous little-endian array to write)."""
    array = np.asarray(array)
    if float_dtype is not None and array.dtype.kind == "f":
        if float_dtype == "BF16":
            return "BF16", _float32_to_bf16_bits(array.astype(np.float32))
        if float_dtype not in ("F16", "F32", "F64"):
            raise ValueError(f"{path}: float_dtype must be F16, BF16, F32 or F64, not {float_dtype!r}")
        array = array.astype(_STORED_DTYPES[float_dtype])
    dtype_name = _NAME_OF_DTYPE.get(array.dtype.newbyteorder("="))
    if dtype_name is None:
        raise ValueError(f"{path}: tensor {name!r}: cannot store dtype {array.dtype}")
    # asarray(order="C") rather than ascontiguousarray, which turns 0-d into 1-d.
    return dtype_name, np.asarray(array, dtype=_STORED_DTYPES[dtype_name], order="C")


def save_safetensors(
    path: str | os.PathLike,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
    *,
    float_dtype: str | None = None,
) -> None:
    """Write ``tensors`` (name -> array) to ``path`` in safetensors format.

    Arrays keep their dtype (float16/32/64, signed/unsigned ints, bool) unless
    ``float_dtype`` ("F32", "F16", "BF16", "F64") converts every floating array;
    BF16 rounds to nearest, ties to even.  Data is laid out in the mapping's
    order.  The file is written atomically (:mod:`.atomic`: a temporary file in
    the same directory, fsynced, renamed over ``path``), so a crash never leaves
    a half-written checkpoint.
    """
    path = Path(path)
    encoded = {}
    for name, array in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"{path}: invalid tensor name {name!r}")
        encoded[name] = _encode(path, name, array, float_dtype)

    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError(f"{path}: __metadata__ keys and values must all be strings")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, (dtype_name, data) in encoded.items():
        header[name] = {
            "dtype": dtype_name,
            "shape": list(data.shape),
            "data_offsets": [offset, offset + data.nbytes],
        }
        offset += data.nbytes

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Space padding keeps the JSON valid and puts the data on an 8-byte boundary.
    header_bytes += b" " * (-len(header_bytes) % 8)

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path, binary=True) as f:
        f.write(len(header_bytes).to_bytes(_HEADER_SIZE_BYTES, "little"))
        f.write(header_bytes)
        for _, data in encoded.values():
            f.write(data.tobytes())
