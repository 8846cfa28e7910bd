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

Loading memory-maps the file: F32 (and other natively stored) tensors are
read-only views into the map, so a 500 MB checkpoint is not copied into RAM
before the model picks its weights.  F16 and BF16 are widened to float32,
because the model computes in float32.
"""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from .atomic import atomic_writer

__all__ = [
    "load_safetensors",
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


# --------------------------------------------------------------------- reading


def _read_header(path: Path) -> tuple[dict, int, int]:
    """Return (header dict, byte offset of the data buffer, file size)."""
    file_size = path.stat().st_size
    if file_size < _HEADER_SIZE_BYTES:
        raise ValueError(
            f"{path}: not a safetensors file: {file_size} bytes is too short "
            f"for the {_HEADER_SIZE_BYTES}-byte header size"
        )
    with open(path, "rb") as f:
        header_size = int.from_bytes(f.read(_HEADER_SIZE_BYTES), "little")
        if header_size > file_size - _HEADER_SIZE_BYTES or header_size > _MAX_HEADER_BYTES:
            raise ValueError(
                f"{path}: header size {header_size} runs past the end of the "
                f"{file_size}-byte file"
            )
        raw_header = f.read(header_size)
    try:
        header = json.loads(raw_header.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: header is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is JSON but not an object")
    return header, _HEADER_SIZE_BYTES + header_size, file_size


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Return the ``__metadata__`` dict of a safetensors file ({} if absent).

    Only the header is read, so this is cheap even for a large checkpoint.
    """
    path = Path(path)
    header, _, _ = _read_header(path)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: __metadata__ is not a JSON object")
    return dict(metadata)


def _bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """BF16 is the upper half of a float32: shift the 16 bits into place."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _check_entry(path: Path, name: str, entry, data_size: int) -> tuple[str, tuple, int, int]:
    """Validate one header entry; return (dtype name, shape, begin, end)."""
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: tensor {name!r}: header entry is not an object")
    dtype_name = entry.get("dtype")
    if dtype_name not in _STORED_DTYPES:
        raise ValueError(
            f"{path}: tensor {name!r}: unsupported dtype {dtype_name!r} "
            f"(known: {', '.join(_STORED_DTYPES)})"
        )
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ValueError(f"{path}: tensor {name!r}: bad shape {shape!r}")
    offsets = entry.get("data_offsets")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        raise ValueError(f"{path}: tensor {name!r}: bad data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise ValueError(
            f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] out of range "
            f"for a {data_size}-byte data buffer"
        )
    expected = int(np.prod(shape, dtype=np.int64)) * _STORED_DTYPES[dtype_name].itemsize
    if end - begin != expected:
        raise ValueError(
            f"{path}: tensor {name!r}: data_offsets span {end - begin} bytes but "
            f"{dtype_name} {tuple(shape)} needs {expected}"
        )
    return dtype_name, tuple(shape), begin, end


def load_safetensors(path: str | os.PathLike, *, copy: bool = False) -> dict[str, np.ndarray]:
    """Load every tensor of a safetensors file, in header order.

    By default the file is memory-mapped: F32/F64/integer/BOOL tensors come
    back as read-only views of the map (no copy; the OS pages them in on
    use), and the map lives as long as any of those arrays does.  F16 and
    BF16 tensors are converted to new float32 arrays.  With ``copy=True``
    every array is an ordinary writable array and the file is not kept open.

    Raises ``ValueError`` naming the file (and tensor) for a malformed file.
    """
    path = Path(path)
    header, data_start, file_size = _read_header(path)
    data_size = file_size - data_start

    entries = [(k, v) for k, v in header.items() if k != "__metadata__"]
    checked = [(name, *_check_entry(path, name, entry, data_size)) for name, entry in entries]
    if not checked:
        return {}

    with open(path, "rb") as f:
        # A zero-length map is an error on some platforms; a header-only file
        # with only empty tensors still has bytes (the header), so length 0
        # (meaning "whole file") is safe here.
        file_map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    tensors: dict[str, np.ndarray] = {}
    for name, dtype_name, shape, begin, end in checked:
        stored = _STORED_DTYPES[dtype_name]
        count = (end - begin) // stored.itemsize
        if count == 0:
            raw = np.zeros(shape, dtype=stored)
        else:
            raw = np.frombuffer(
                file_map, dtype=stored, count=count, offset=data_start + begin
            ).reshape(shape)
        if dtype_name == "BF16":
            array = _bf16_bits_to_float32(raw)
        elif dtype_name == "F16":
            array = raw.astype(np.float32)
        elif not np.little_endian and stored.itemsize > 1:
            array = raw.astype(stored.newbyteorder("="))  # big-endian host: must copy
        else:
            array = raw.copy() if copy else raw
        tensors[name] = array
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
