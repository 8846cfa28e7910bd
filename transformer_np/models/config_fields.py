"""Checked reading of config.json: every field a loader uses is type- and range-checked before a model exists.

A config.json is user input: `"n_head": 0` would be a ZeroDivisionError deep in the attention,
`"n_layer": 100000` minutes of allocation, `"tie_word_embeddings": "false"` a silent `True`. Each loader
reads its fields through `ConfigFields`, which raises one `ConfigError` line naming the file and the field:

    config.json: n_head must be a positive integer, got 0

and the memory the model's parameters will take is compared with what the machine has
(`check_memory`) before any array is allocated.
"""
from __future__ import annotations

import math
import os
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from ..io.jsonfile import parse_json_text

# Sizes and ids beyond 64 bits describe no model that fits any machine; refusing them early keeps the
# arithmetic on them (products, divisions) cheap and the messages short.
MAX_INT = 2**63 - 1


class ConfigError(ValueError):
    """A configuration field of the wrong type or out of range. One line: the file (or source), the field."""


def describe(value) -> str:
    """A short repr for messages: a 5,000-digit integer is named by its length, not printed (nor can str()
    print it past 4,300 digits), long strings and lists are cut."""
    if isinstance(value, Integral) and not isinstance(value, bool) and abs(int(value)) > MAX_INT:
        return f"an integer of about {int(int(value).bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_int(value) -> bool:
    """A JSON integer (or a NumPy one); `True` is not an integer here."""
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


class ConfigFields:
    """Typed access to a config dict; every getter raises `ConfigError` naming `source` and the key."""

    def __init__(self, config: dict, source: str | os.PathLike):
        self.config, self.source = config, str(source)

    def error(self, key: str, requirement: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key} must be {requirement}, got {describe(self.config.get(key))}")

    def integer(self, key: str, minimum: int = 1, optional: bool = False) -> int | None:
        """An integer in [minimum, 2**63); None (or absent) only if optional."""
        value = self.config.get(key)
        if value is None and optional:
            return None
        if not is_int(value) or not minimum <= value <= MAX_INT:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise self.error(key, kind + " or null" if optional else kind)
        return int(value)

    def positive_float(self, key: str) -> float:
        """A finite number > 0 (a rotary base)."""
        value = self.config.get(key)
        if not is_number(value) or not 0.0 < float(value) < math.inf:
            raise self.error(key, "a finite number > 0")
        return float(value)

    def epsilon(self, key: str) -> float:
        """A normalisation's epsilon, in (0, 1]: larger values (1e300) would not even survive float32."""
        value = self.config.get(key)
        if not is_number(value) or not 0.0 < float(value) <= 1.0:
            raise self.error(key, "a number in (0, 1]")
        return float(value)

    def probability(self, key: str) -> float:
        """A dropout rate in [0, 1)."""
        value = self.config.get(key)
        if not is_number(value) or not 0.0 <= float(value) < 1.0:
            raise self.error(key, "a number in [0, 1)")
        return float(value)

    def boolean(self, key: str, default: bool | None = None) -> bool:
        """true or false (`default` when absent, if given): neither the string "false" (bool("false") would
        be True) nor null is a boolean."""
        value = self.config.get(key, default)
        if not isinstance(value, (bool, np.bool_)):
            raise self.error(key, "true or false")
        return bool(value)

    def choice(self, key: str, choices) -> str:
        value = self.config.get(key)
        if not isinstance(value, str) or value not in choices:
            raise self.error(key, "one of " + ", ".join(map(repr, choices)))
        return value

    def mapping(self, key: str) -> dict:
        """A JSON object (or null/absent: {})."""
        value = self.config.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, "a JSON object or null")
        return value

    def token_id(self, key: str, vocab_size: int | None = None) -> int | None:
        """null, or an id in [0, vocab_size) (any id >= 0 when vocab_size is None)."""
        value = self.integer(key, minimum=0, optional=True)
        if value is not None and vocab_size is not None and value >= vocab_size:
            raise ConfigError(f"{self.source}: {key} must be an id below vocab_size={vocab_size}, got {value}")
        return value

    def divides(self, divisor_key: str, divisor: int, total_key: str, total: int) -> None:
        if total % divisor:
            raise ConfigError(f"{self.source}: {divisor_key}={divisor} does not divide {total_key}={total}")


# ----------------------------------------------------------------------------------------- files

def read_json(path: str | os.PathLike):
    """A JSON file's value; a file that is not UTF-8 JSON is one ConfigError naming it (including Python's
    refusal of integers over 4,300 digits, which otherwise names no file)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (byte {exc.start} is not UTF-8)") from None
    try:
        return parse_json_text(text)
    except ValueError as exc:                      # bad syntax, too deep, an integer of over 4,300 digits
        raise ConfigError(f"{path}: not valid JSON ({str(exc).splitlines()[0]})") from None


def read_config_json(path: str | os.PathLike) -> dict:
    """config.json (or another JSON file that must hold an object) -> dict, or one ConfigError naming it."""
    config = read_json(path)
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return config


# ---------------------------------------------------------------------------------------- memory

def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (what can be allocated without swapping), or None where there is
    no such file (not Linux): the memory check is then skipped."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024          # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def gigabytes(n_bytes: int) -> str:
    """'1.5 GB', '30,720 GB': three significant digits, never an exponent."""
    size = n_bytes / 1e9
    return f"{size:,.0f} GB" if size >= 1000 else f"{size:.3g} GB"


def check_memory(n_bytes: int, what: str, source: str, available: int | None = None) -> None:
    """Refuse, before allocating, something that needs more than the machine's available memory."""
    available = available_memory_bytes() if available is None else available
    if available is not None and n_bytes > available:
        raise ConfigError(f"{source}: {what} need {gigabytes(n_bytes)} of memory but only "
                          f"{gigabytes(available)} is available (MemAvailable)")
