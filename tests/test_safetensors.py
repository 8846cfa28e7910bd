"""Tests for transformer_np.io.safetensors: round trips, mmap views, malformed files."""

from __future__ import annotations

import json
import mmap
import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import transformer_np.io.safetensors as safetensors_module
from transformer_np.io.safetensors import (
    load_safetensors,
    read_safetensors_metadata,
    save_safetensors,
)


def read_raw_header(path) -> tuple[dict, bytes]:
    """(header dict, data buffer) of a safetensors file, parsed by hand."""
    raw = path.read_bytes()
    header_size = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8 : 8 + header_size]), raw[8 + header_size :]


def write_raw(path, header: dict, data: bytes = b"", header_size: int | None = None) -> None:
    """Write a safetensors file by hand, to test the reader independently of our writer."""
    header_bytes = json.dumps(header).encode()
    size = len(header_bytes) if header_size is None else header_size
    path.write_bytes(struct.pack("<Q", size) + header_bytes + data)


# ------------------------------------------------------------------ round trips

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
storable_dtypes = st.sampled_from(
    [np.float32, np.float16, np.float64, np.int64, np.int32, np.int8, np.uint8, np.bool_]
)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_round_trip_keeps_values_order_and_shapes(tmp_path_factory, data):
    count = data.draw(st.integers(0, 4))
    tensors = {}
    for i in range(count):
        dtype = data.draw(storable_dtypes)
        elements = st.floats(-1e4, 1e4, width=16) if np.dtype(dtype).kind == "f" else None
        tensors[f"t{i}.{data.draw(st.sampled_from(['weight', 'bias']))}"] = data.draw(
            hnp.arrays(dtype, data.draw(shapes), elements=elements)
        )
    path = tmp_path_factory.mktemp("rt") / "m.safetensors"
    save_safetensors(path, tensors)
    loaded = load_safetensors(path)
    assert list(loaded) == list(tensors)
    for name, original in tensors.items():
        expected_dtype = np.float32 if original.dtype == np.float16 else original.dtype
        assert loaded[name].dtype == expected_dtype, name
        assert loaded[name].shape == original.shape, name
        np.testing.assert_array_equal(loaded[name], original.astype(expected_dtype))


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float32, shapes, elements=st.floats(-65000, 65000, width=32)))
def test_f16_storage_equals_numpy_float16_rounding(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("f16") / "m.safetensors"
    save_safetensors(path, {"x": values}, float_dtype="F16")
    assert read_raw_header(path)[0]["x"]["dtype"] == "F16"
    loaded = load_safetensors(path)["x"]
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, values.astype(np.float16).astype(np.float32))


def test_bf16_reader_matches_hand_computed_values(tmp_path):
    # BF16 bits are the top 16 bits of the float32: 0x3F80 -> 0x3F800000 = 1.0, etc.
    bits = [0x3F80, 0xC000, 0x4049, 0x3F81, 0x0000, 0x8000, 0x7F80, 0xFF80, 0x3E80]
    expected = [1.0, -2.0, 3.140625, 1.0078125, 0.0, -0.0, np.inf, -np.inf, 0.25]
    data = struct.pack(f"<{len(bits)}H", *bits)
    write_raw(tmp_path / "b.safetensors", {"x": {"dtype": "BF16", "shape": [3, 3], "data_offsets": [0, len(data)]}}, data)
    loaded = load_safetensors(tmp_path / "b.safetensors")["x"]
    assert loaded.dtype == np.float32 and loaded.shape == (3, 3)
    np.testing.assert_array_equal(loaded.ravel(), np.array(expected, dtype=np.float32))
    assert np.signbit(loaded.ravel()[5])  # -0.0 keeps its sign


def test_bf16_writer_rounds_to_nearest_even(tmp_path):
    values = np.array(
        [
            1.0,
            1.0 + 2**-8,  # exactly halfway between 1.0 and 1.0078125: ties to even (1.0)
            1.0 + 3 * 2**-8,  # halfway between 1.0078125 and 1.015625: ties to even (1.015625)
            1.0 + 2**-8 + 2**-20,  # just above halfway: rounds up
            -3.14159265,
            np.nan,
        ],
        dtype=np.float32,
    )
    save_safetensors(tmp_path / "b.safetensors", {"x": values}, float_dtype="BF16")
    header, data = read_raw_header(tmp_path / "b.safetensors")
    assert header["x"]["dtype"] == "BF16"
    stored_bits = struct.unpack("<6H", data)
    assert stored_bits[:5] == (0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC049)
    loaded = load_safetensors(tmp_path / "b.safetensors")["x"]
    np.testing.assert_array_equal(loaded[:5], [1.0, 1.0, 1.015625, 1.0078125, -3.140625])
    assert np.isnan(loaded[5])


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float32, shapes, elements=st.floats(-(2.0**100), 2.0**100, width=32)))
def test_bf16_round_trip_error_is_within_half_a_unit(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("bf16") / "m.safetensors"
    save_safetensors(path, {"x": values}, float_dtype="BF16")
    loaded = load_safetensors(path)["x"]
    # BF16 keeps 8 significant bits, so rounding moves a value by at most 2**-8 of itself.
    assert np.all(np.abs(loaded - values) <= np.abs(values) * 2**-8 + 1e-38)


def test_metadata_is_kept_and_readable_on_its_own(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"a": np.zeros(3, np.float32)}, metadata={"format": "pt", "source": "test"})
    assert read_safetensors_metadata(path) == {"format": "pt", "source": "test"}
    assert list(load_safetensors(path)) == ["a"]  # __metadata__ is not a tensor


def test_header_is_padded_so_data_starts_on_8_byte_boundary(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"abc": np.ones(5, np.float32), "d": np.arange(3, dtype=np.int64)})
    raw = path.read_bytes()
    header_size = struct.unpack("<Q", raw[:8])[0]
    assert header_size % 8 == 0
    header = json.loads(raw[8 : 8 + header_size])  # padding must keep the JSON valid
    assert header["abc"] == {"dtype": "F32", "shape": [5], "data_offsets": [0, 20]}
    assert header["d"] == {"dtype": "I64", "shape": [3], "data_offsets": [20, 44]}
    assert len(raw) == 8 + header_size + 44  # data contiguous, nothing after it


# ------------------------------------------------------------------ memory map


def test_f32_tensors_are_read_only_views_of_the_file_map(tmp_path):
    path = tmp_path / "m.safetensors"
    weights = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_safetensors(path, {"w": weights, "h": np.float16([1, 2])})
    loaded = load_safetensors(path)
    w = loaded["w"]
    assert not w.flags.owndata and not w.flags.writeable
    base = w
    while isinstance(base, np.ndarray):  # follow the view chain down to the buffer
        base = base.base
    if isinstance(base, memoryview):  # np.frombuffer wraps the map in a memoryview
        base = base.obj
    assert isinstance(base, mmap.mmap)
    np.testing.assert_array_equal(w, weights)
    assert loaded["h"].flags.owndata  # half precision had to be converted


def test_copy_true_gives_writable_arrays(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"w": np.ones((2, 2), np.float32)})
    w = load_safetensors(path, copy=True)["w"]
    assert w.flags.writeable and w.flags.owndata
    w += 1  # must not touch the file
    np.testing.assert_array_equal(load_safetensors(path)["w"], np.ones((2, 2)))


# ------------------------------------------------------------- malformed files


def test_file_shorter_than_size_field(tmp_path):
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="short.safetensors.*too short"):
        load_safetensors(path)


def test_header_size_beyond_end_of_file(tmp_path):
    path = tmp_path / "big.safetensors"
    write_raw(path, {}, header_size=10_000)
    with pytest.raises(ValueError, match="big.safetensors.*header size 10000"):
        load_safetensors(path)


def test_header_not_json(tmp_path):
    path = tmp_path / "nojson.safetensors"
    path.write_bytes(struct.pack("<Q", 8) + b"not json")
    with pytest.raises(ValueError, match="nojson.safetensors.*not valid UTF-8 JSON"):
        load_safetensors(path)


def test_data_offsets_out_of_range(tmp_path):
    path = tmp_path / "range.safetensors"
    write_raw(path, {"h.0.w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8)
    with pytest.raises(ValueError, match=r"range.safetensors.*'h\.0\.w'.*out of range"):
        load_safetensors(path)


def test_data_offsets_not_matching_shape_and_dtype(tmp_path):
    path = tmp_path / "size.safetensors"
    write_raw(path, {"ln.bias": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16)
    with pytest.raises(ValueError, match=r"size.safetensors.*'ln\.bias'.*16 bytes.*needs 12"):
        load_safetensors(path)


def test_unknown_dtype(tmp_path):
    path = tmp_path / "dtype.safetensors"
    write_raw(path, {"q": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0\0")
    with pytest.raises(ValueError, match=r"dtype.safetensors.*'q'.*unsupported dtype 'F8_E4M3'"):
        load_safetensors(path)


def test_bad_shape(tmp_path):
    path = tmp_path / "shape.safetensors"
    write_raw(path, {"s": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4)
    with pytest.raises(ValueError, match=r"shape.safetensors.*'s'.*bad shape"):
        load_safetensors(path)


def test_unstorable_dtype_is_refused_on_save(tmp_path):
    with pytest.raises(ValueError, match="'c'.*cannot store"):
        save_safetensors(tmp_path / "c.safetensors", {"c": np.zeros(2, np.complex64)})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ atomic save


def test_save_replaces_atomically_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "model.safetensors"
    save_safetensors(path, {"a": np.zeros(2, np.float32)})
    save_safetensors(path, {"b": np.ones(3, np.float32)})
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    assert list(load_safetensors(path)) == ["b"]


def test_failed_save_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    save_safetensors(path, {"a": np.zeros(2, np.float32)})

    def disk_full(fd):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors_module.os, "fsync", disk_full)  # fail after the data is written
    with pytest.raises(OSError, match="disk full"):
        save_safetensors(path, {"b": np.ones(4, np.float32)})
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    assert list(load_safetensors(path)) == ["a"]


def test_saved_file_permissions_follow_umask(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"a": np.zeros(1, np.float32)})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------ interop with the package


def test_safetensors_package_reads_what_we_write(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "m.safetensors"
    tensors = {
        "transformer.wte.weight": np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32),
        "transformer.h.0.ln_1.bias": np.float16([1.5, -2.0, 3.0]),
        "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
        "mask": np.array([True, False]),
    }
    save_safetensors(path, tensors, metadata={"format": "np"})
    theirs = safetensors_numpy.load_file(str(path))
    assert set(theirs) == set(tensors)
    for name, array in tensors.items():
        assert theirs[name].dtype == array.dtype
        np.testing.assert_array_equal(theirs[name], array)
    # And we read what the package writes.
    other = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file(tensors, str(other))
    ours = load_safetensors(other)
    np.testing.assert_array_equal(ours["transformer.wte.weight"], tensors["transformer.wte.weight"])
    np.testing.assert_array_equal(ours["transformer.h.0.ln_1.bias"], [1.5, -2.0, 3.0])
