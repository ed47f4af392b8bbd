"""ledger.domain.strict_json: JSON from outside has one meaning, or is refused with the reason."""

from __future__ import annotations

import re

import pytest

from ledger.domain.strict_json import MAX_DEPTH, JsonRefused, loads


def test_a_plain_document_reads_as_json_loads_reads_it() -> None:
    """Objects, arrays, strings, integers, fractions, booleans and null read as usual."""
    text = '{"a": [1, -2, 3.5, true, false, null], "b": {"c": "d\\u00e9"}}'
    assert loads(text) == {"a": [1, -2, 3.5, True, False, None], "b": {"c": "dé"}}
    assert loads(text.encode()) == loads(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"voter_id": "v020", "voter_id": "v021"}', "appears twice"),
        ('{"a": {"k": 1, "k": 1}}', "appears twice"),
        ("[" * 10_000 + "]" * 10_000, "nested deeper"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested deeper"),
        ('{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "nested deeper"),
        ("9" * 5000, "digits"),
        ('{"n": -' + "1" * 5000 + "}", "digits"),
        ("NaN", "not JSON"),
        ('{"x": -Infinity}', "not JSON"),
        ("1e999", "out of range"),
        ('{"voter_id": "v\\u0000"}', "U+0000"),
        ('{"v\\u0000": 1}', "U+0000"),
        ('["a", ["\\u0000"]]', "U+0000"),
        ("{not json", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b'"\xc3"', "not JSON"),
    ],
)
def test_refused(text: str | bytes, reason: str) -> None:
    """Duplicate keys, deep nesting, huge integers, NaN, infinities and U+0000 are refused."""
    with pytest.raises(JsonRefused, match=re.escape(reason)):
        loads(text)


def test_depth_limit_is_inclusive() -> None:
    """MAX_DEPTH nested containers are accepted; one more is refused."""
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(deepest) is not None
    with pytest.raises(JsonRefused):
        loads("[" + deepest + "]")


def test_the_literal_text_backslash_u0000_is_not_nul() -> None:
    """An escaped backslash followed by u0000 is six ordinary characters, and accepted."""
    assert loads('"\\\\u0000"') == "\\u0000"
