"""Bad-input campaign against the safetensors reader, on mutants of a real checkpoint (the tiny GPT-2 fixture).

Every mutant either loads exactly what its bytes say (and, when its header still describes the original
tensors, bit-identical to the original) or raises the one SafetensorsError: one line naming the file. Any
other exception (KeyError, RecursionError, OverflowError, an allocation) fails the test. Both readers are
held to this: io.load_safetensors and the model loader's copy-on-write models.gpt2.read_checkpoint.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer_np.io.safetensors import SafetensorsError, load_safetensors, read_safetensors_header
from transformer_np.models.gpt2 import read_checkpoint

SOURCE = Path(__file__).parent / "fixtures" / "gpt2_tiny" / "hf_layout" / "model.safetensors"
RAW = SOURCE.read_bytes()
HEADER_SIZE = struct.unpack("<Q", RAW[:8])[0]
HEADER = json.loads(RAW[8:8 + HEADER_SIZE])
DATA = RAW[8 + HEADER_SIZE:]
ORIGINAL = load_safetensors(SOURCE, copy=True)
NAMES = [name for name in HEADER if name != "__metadata__"]
BY_OFFSET = sorted(NAMES, key=lambda name: HEADER[name]["data_offsets"])


def file_bytes(header, data=DATA, header_text=None):
    """A safetensors file from a header (dict, or its exact JSON text) and a data buffer."""
    text = (header_text if header_text is not None else json.dumps(header)).encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(text)) + text + data


def changed(**entries):
    """The original header with some entries replaced (a value of None deletes the entry)."""
    header = json.loads(json.dumps(HEADER))
    for name, entry in entries.items():
        if entry is None:
            header.pop(name, None)
        else:
            header[name] = entry
    return header


def with_field(name, **fields):
    return changed(**{name: dict(HEADER[name], **fields)})


def outcome(path):
    """('error', message) for the one SafetensorsError (from both readers), else ('ok', tensors)."""
    results = []
    for reader in (load_safetensors, read_checkpoint):
        try:
            results.append(("ok", reader(path)))
        except SafetensorsError as exc:
            message = str(exc)
            assert "\n" not in message and str(path) in message, message
            results.append(("error", message))
        except ValueError as exc:                  # a valid file whose integer tensors a model cannot use
            assert reader is read_checkpoint and "expected F32, F16 or BF16" in str(exc), exc
            return results[0]
    assert results[0][0] == results[1][0], results       # the two readers agree on what is a valid file
    return results[0]


def assert_loads_its_own_bytes(path, tensors):
    """A file that loads: each array holds exactly the bytes its entry points at, and those entries tile
    the data buffer (so no tensor aliases another and no byte is left out)."""
    raw = path.read_bytes()
    header = read_safetensors_header(path)
    covered = 0
    for entry in sorted(header.tensors, key=lambda e: (e.begin, e.end)):
        assert entry.begin == covered
        stored = raw[header.data_start + entry.begin:header.data_start + entry.end]
        if entry.dtype == "F32":
            assert np.asarray(tensors[entry.name], "<f4").tobytes() == stored
        covered = entry.end
    assert header.data_start + covered == len(raw)


def assert_bit_identical(tensors):
    assert sorted(tensors) == sorted(ORIGINAL)
    for name, value in ORIGINAL.items():
        assert tensors[name].dtype == value.dtype and tensors[name].shape == value.shape
        assert tensors[name].tobytes() == value.tobytes(), name


def shifted(name, delta):
    begin, end = HEADER[name]["data_offsets"]
    return with_field(name, data_offsets=[begin + delta, end + delta])


FIRST, SECOND, LAST = BY_OFFSET[0], BY_OFFSET[1], BY_OFFSET[-1]
BIG = next(name for name in BY_OFFSET if len(HEADER[name]["shape"]) == 2)
DEEP = "[" * 10_000 + "]" * 10_000

# Each mutant: (id, file bytes, text the message must contain).
INVALID = [
    ("overlap", file_bytes(shifted(SECOND, -4)), repr(SECOND)),
    ("shift-into-next", file_bytes(shifted(FIRST, 4)), "data_offsets"),
    ("alias", file_bytes(with_field(SECOND, **{k: HEADER[FIRST][k] for k in ("shape", "data_offsets", "dtype")})),
     "overlap"),
    ("trailing-bytes", file_bytes(HEADER, DATA + b"\0\0\0\0"), "no tensor covers"),
    ("truncated-data", file_bytes(HEADER, DATA[:-4]), "out of range"),
    ("gap", file_bytes(changed(**{name: dict(HEADER[name], data_offsets=[b + 4 * (name != FIRST),
                                                                         e + 4 * (name != FIRST)])
                                  for name in NAMES for b, e in [HEADER[name]["data_offsets"]]}),
                       DATA[:HEADER[FIRST]["data_offsets"][1]] + b"\0" * 4 + DATA[HEADER[FIRST]["data_offsets"][1]:]),
     "unused"),
    ("duplicate-name", file_bytes(None, header_text=json.dumps(HEADER)[:-1] + ", " + json.dumps(FIRST) + ": "
                                  + json.dumps(HEADER[FIRST]) + "}"), repr(FIRST)),
    ("duplicate-field", file_bytes(None, header_text=json.dumps(HEADER).replace('"dtype": "F32"',
                                                                               '"dtype": "F32", "dtype": "F16"', 1)),
     "twice"),
    ("header-size-plus-1", struct.pack("<Q", HEADER_SIZE + 1) + RAW[8:], ""),     # (the padding may absorb it:
    ("header-size-minus-1", struct.pack("<Q", HEADER_SIZE - 1) + RAW[8:], ""),    # then the data is off by one)
    ("header-size-zero", struct.pack("<Q", 0) + RAW[8:], "not valid"),
    ("header-size-2**64-1", b"\xff" * 8 + RAW[8:], "header size"),
    ("header-size-past-end", struct.pack("<Q", len(RAW)) + RAW[8:], "header size"),
    ("empty-file", b"", "too short"),
    ("seven-bytes", RAW[:7], "too short"),
    ("header-only", RAW[:8 + HEADER_SIZE], "out of range"),
    ("not-utf8", file_bytes(None, header_text=json.dumps(HEADER).replace(FIRST, FIRST[:-1] + "\udcff", 1)),
     "UTF-8"),
    ("nesting-bomb", file_bytes(None, header_text="{\"a\": " + DEEP + "}"), "nests"),
    ("bare-bracket-bomb", file_bytes(None, header_text=DEEP), "must start with"),
    ("leading-space", file_bytes(None, header_text=" " + json.dumps(HEADER)), "must start with"),
    ("not-an-object", file_bytes(None, header_text="{}" + " [1]"), "not valid"),
    ("nan", file_bytes(None, header_text=json.dumps(HEADER)[:-1] + ', "__metadata__": {"a": NaN}}'), "not valid"),
    ("4301-digit-int", file_bytes(None, header_text=json.dumps(HEADER).replace(
        json.dumps(HEADER[FIRST]["shape"]), "[" + "9" * 4301 + "]", 1)), "not valid"),
    ("unknown-dtype", file_bytes(with_field(FIRST, dtype="F8_E4M3")), "unsupported dtype"),
    ("lowercase-dtype", file_bytes(with_field(FIRST, dtype="f32")), "unsupported dtype"),
    ("dtype-number", file_bytes(with_field(FIRST, dtype=32)), "unsupported dtype"),
    ("dtype-list", file_bytes(with_field(FIRST, dtype=["F32"])), "unsupported dtype"),
    ("no-dtype", file_bytes(changed(**{FIRST: {k: v for k, v in HEADER[FIRST].items() if k != "dtype"}})),
     "unsupported dtype"),
    ("f16-same-bytes", file_bytes(with_field(FIRST, dtype="F16")), "needs"),
    ("negative-dim", file_bytes(with_field(FIRST, shape=[-1])), "bad shape"),
    ("float-dim", file_bytes(with_field(FIRST, shape=[float(np.prod(HEADER[FIRST]["shape"]))])), "bad shape"),
    ("bool-dim", file_bytes(with_field(FIRST, shape=[True])), "bad shape"),
    ("string-dim", file_bytes(with_field(FIRST, shape=["32"])), "bad shape"),
    ("nested-shape", file_bytes(with_field(FIRST, shape=[HEADER[FIRST]["shape"]])), "bad shape"),
    ("shape-not-list", file_bytes(with_field(FIRST, shape=32)), "bad shape"),
    ("65-dimensions", file_bytes(with_field(FIRST, shape=[1] * 65)), "bad shape"),
    ("int64-wraparound", file_bytes(with_field(FIRST, shape=[2**32, 2**32, 4], data_offsets=[0, 0])), "overflows"),
    ("empty-but-huge", file_bytes(with_field(FIRST, shape=[0, 2**62])), "overflows"),
    ("transposed-size", file_bytes(with_field(BIG, shape=HEADER[BIG]["shape"][:1])), "needs"),
    ("offsets-one", file_bytes(with_field(FIRST, data_offsets=[0])), "bad data_offsets"),
    ("offsets-three", file_bytes(with_field(FIRST, data_offsets=[0, 4, 8])), "bad data_offsets"),
    ("offsets-negative", file_bytes(shifted(FIRST, -8)), "out of range"),
    ("offsets-float", file_bytes(with_field(FIRST, data_offsets=[0.0, float(HEADER[FIRST]["data_offsets"][1])])),
     "bad data_offsets"),
    ("offsets-bool", file_bytes(with_field(FIRST, data_offsets=[False, HEADER[FIRST]["data_offsets"][1]])),
     "bad data_offsets"),
    ("offsets-reversed", file_bytes(with_field(FIRST, data_offsets=HEADER[FIRST]["data_offsets"][::-1])),
     "out of range"),
    ("offsets-huge", file_bytes(with_field(LAST, data_offsets=[2**63, 2**64 + 8])), "out of range"),
    ("no-offsets", file_bytes(changed(**{FIRST: {"dtype": "F32", "shape": HEADER[FIRST]["shape"]}})),
     "bad data_offsets"),
    ("entry-not-object", file_bytes(changed(**{FIRST: [1, 2]})), "not an object"),
    ("entry-dropped", file_bytes(changed(**{SECOND: None})), "unused"),
    ("metadata-int-value", file_bytes(changed(__metadata__={"format": 1})), "__metadata__"),
    ("metadata-list", file_bytes(changed(__metadata__=["pt"])), "__metadata__"),
    ("metadata-string", file_bytes(changed(__metadata__="pt")), "__metadata__"),
    ("metadata-nested", file_bytes(changed(__metadata__={"a": {"b": "c"}})), "__metadata__"),
]


@pytest.mark.parametrize("mutant, needle", [(m, n) for _, m, n in INVALID], ids=[i for i, _, _ in INVALID])
def test_scripted_invalid_mutant_is_one_safetensors_error(tmp_path, mutant, needle):
    path = tmp_path / "model.safetensors"
    path.write_bytes(mutant)
    kind, message = outcome(path)
    assert kind == "error" and needle in message, message


def reordered_data():
    """The same tensors with their bytes laid out in reverse order (offsets adjusted): still valid."""
    header, chunks, cursor = changed(), [], 0
    for name in reversed(BY_OFFSET):
        begin, end = HEADER[name]["data_offsets"]
        header[name] = dict(HEADER[name], data_offsets=[cursor, cursor + end - begin])
        chunks.append(DATA[begin:end])
        cursor += end - begin
    return file_bytes(header, b"".join(chunks))


VALID = [
    ("original", RAW),
    ("keys-reversed-and-indented", file_bytes(None, header_text=json.dumps(dict(reversed(HEADER.items())), indent=3))),
    ("trailing-spaces", file_bytes(None, header_text=json.dumps(HEADER) + " " * 13)),
    ("data-in-another-order", reordered_data()),
    ("no-metadata", file_bytes(changed(__metadata__=None))),
    ("metadata-null", file_bytes(changed(__metadata__=None) | {"__metadata__": None})),
    ("more-metadata", file_bytes(changed(__metadata__={"format": "pt", "note": "\u00e9\u4e2d"}))),
    ("unicode-escapes", file_bytes(None, header_text=json.dumps(HEADER).replace('"F32"', '"\\u0046\\u0033\\u0032"'))),
]


@pytest.mark.parametrize("mutant", [m for _, m in VALID], ids=[i for i, _ in VALID])
def test_scripted_valid_variant_loads_bit_identical(tmp_path, mutant):
    path = tmp_path / "model.safetensors"
    path.write_bytes(mutant)
    kind, tensors = outcome(path)
    assert kind == "ok", tensors
    assert_bit_identical(tensors)
    assert_loads_its_own_bytes(path, tensors)


def describes_original(path):
    """Whether the mutant's header still gives every original tensor its dtype, shape and offsets."""
    entries = {e.name: e for e in read_safetensors_header(path).tensors}
    return entries.keys() == set(NAMES) and all(
        (entries[n].dtype, list(entries[n].shape), [entries[n].begin, entries[n].end])
        == (HEADER[n]["dtype"], HEADER[n]["shape"], HEADER[n]["data_offsets"]) for n in NAMES)


HEADER_END = 8 + HEADER_SIZE
edits = st.lists(st.tuples(st.integers(0, HEADER_END + 15), st.sampled_from(["replace", "insert", "delete"]),
                           st.binary(min_size=1, max_size=3)), min_size=1, max_size=4)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=edits)
def test_byte_mutants_of_the_header_load_correctly_or_raise_the_one_error(tmp_path, edits):
    """Random byte edits in the size field, the header and the first data bytes."""
    raw = bytearray(RAW)
    for position, kind, payload in edits:
        if kind == "replace":
            raw[position:position + len(payload)] = payload
        elif kind == "insert":
            raw[position:position] = payload
        else:
            del raw[position:position + len(payload)]
    path = tmp_path / "model.safetensors"
    path.write_bytes(bytes(raw))
    kind, tensors = outcome(path)
    if kind == "ok":
        assert_loads_its_own_bytes(path, tensors)
        if describes_original(path) and bytes(raw[-len(DATA):]) == DATA:
            assert_bit_identical(tensors)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(NAMES),
       field=st.sampled_from(["dtype", "shape", "data_offsets"]),
       value=st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                          | st.text(max_size=6) | st.sampled_from(["F32", "F16", "BF16", "I64", "U8", "BOOL"]),
                          lambda inner: st.lists(inner, max_size=4), max_leaves=8))
def test_random_field_values_load_correctly_or_raise_the_one_error(tmp_path, name, field, value):
    """Any JSON value in any field of any tensor."""
    path = tmp_path / "model.safetensors"
    path.write_bytes(file_bytes(with_field(name, **{field: value})))
    kind, tensors = outcome(path)
    if kind == "ok":
        assert_loads_its_own_bytes(path, tensors)
        if value == HEADER[name][field]:
            assert_bit_identical(tensors)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, len(DATA) - 1), byte=st.integers(0, 255))
def test_a_changed_data_byte_loads_as_exactly_that_byte(tmp_path, position, byte):
    """Data bytes are not checked (NaN is legal in the format); a change must show up where it was made."""
    data = bytearray(DATA)
    data[position] = byte
    path = tmp_path / "model.safetensors"
    path.write_bytes(file_bytes(None, bytes(data), header_text=RAW[8:HEADER_END].decode()))
    kind, tensors = outcome(path)
    assert kind == "ok"
    assert_loads_its_own_bytes(path, tensors)
