"""JSON text from files a user, a server or a crash may have damaged.

`json.loads` fails in three ways: bad syntax (json.JSONDecodeError, a ValueError), nesting deeper than its
recursive parser allows (RecursionError, which is not a ValueError), and an integer of more than 4,300
digits (a ValueError whose message names no file). `parse_json_text` turns all three into a ValueError
with a one-line reason, so every reader catches one exception and names its own file.
"""
import json

__all__ = ["parse_json_text"]


def parse_json_text(text, **options):
    """json.loads(text, **options); any failure is a ValueError with a one-line message (a syntax error is
    re-raised as the json.JSONDecodeError itself, so callers can report its line and column)."""
    try:
        return json.loads(text, **options)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
