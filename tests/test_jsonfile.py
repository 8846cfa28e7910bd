"""parse_json_text: every way json.loads fails is one ValueError with a one-line reason."""
import json

import pytest

from transformer_np.io.jsonfile import parse_json_text


def test_valid_json_is_json_loads():
    text = '{"a": [1, 2.5, "x", null, true]}'
    assert parse_json_text(text) == json.loads(text)


def test_a_syntax_error_keeps_its_line_and_column():
    with pytest.raises(json.JSONDecodeError) as error:
        parse_json_text('{\n "a": }')
    assert (error.value.lineno, error.value.colno) == (2, 7)


@pytest.mark.parametrize("text, reason", [
    ("[" * 100_000, "nested too deeply"),                        # json.loads: RecursionError
    ("1" * 5000, "Exceeds the limit (4300 digits)"),             # json.loads: ValueError, no file named
])
def test_deep_nesting_and_huge_integers_are_one_line_value_errors(text, reason):
    with pytest.raises(ValueError) as error:
        parse_json_text(text)
    assert reason in str(error.value) and "\n" not in str(error.value)
