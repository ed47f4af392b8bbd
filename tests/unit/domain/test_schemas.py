"""The JSON Schemas as the published documents mean them: ECMA-262 ``pattern`` matched whole,
control characters refused in ids, names and titles, RFC 3339 date-times, bounded nesting."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from ledger.domain import election as el
from ledger.domain import schemas


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^a$", "a", True),
        ("^a$", "a\n", False),
        ("^[a-z0-9][a-z0-9_-]{0,62}$", "c\n", False),
        ("^[a-z0-9][a-z0-9_-]{0,62}$", "c", True),
        ("a$|^b", "a\n", False),
        ("a$|^b", "b\n", True),
        ("^[$]$", "$", True),
        ("^\\$$", "$", True),
        ("^\\$$", "$\n", False),
        ("^[^\\]$]$", "x", True),
        ("^[^\\]$]$", "$", False),
        ("^a.b$", "a-b", True),
        ("^a.b$", "a\nb", False),
        ("^a.b$", "a\rb", False),
        ("^a.b$", "a\u2028b", False),
        ("^[.]$", ".", True),
        ("^\\d+$", "123", True),
        ("^\\d+$", "\u0663", False),
        ("^\\w+$", "\u00e9", False),
        ("b", "abc", True),
    ],
)
def test_patterns_mean_what_ecma_262_means(pattern: str, text: str, matches: bool) -> None:
    """A schema ``pattern`` is searched as ECMA-262 does: ``$`` only at the very end (not
    before a final newline), ``.`` never a line terminator, ``\\d``/``\\w`` ASCII."""
    assert (schemas.ecma_regex(pattern).search(text) is not None) is matches


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return own + [p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


def test_every_anchored_schema_pattern_refuses_a_final_newline() -> None:
    """Every ``^…$`` pattern in schemas/ refuses a string it matches plus a final newline
    (Python's ``re.search`` with ``$`` would accept it)."""
    samples = {
        "^[a-z0-9][a-z0-9_-]{0,62}$": "c",
        "^[a-z][a-z0-9_]{0,31}$": "age",
        "^[a-z0-9_:=,.-]{1,120}$": "scottish",
        "^[A-Za-z0-9_.:-]{8,128}$": "sub-0001",
        "^[0-9a-f]{64}$": "0" * 64,
    }
    seen = set()
    for name in schemas.SCHEMA_FILES:
        text = resources.files("schemas").joinpath(name).read_text()
        for pattern in _patterns(json.loads(text)):
            seen.add(pattern)
            if pattern in samples:
                regex = schemas.ecma_regex(pattern)
                assert regex.search(samples[pattern]) is not None, pattern
                assert regex.search(samples[pattern] + "\n") is None, pattern
                assert re.search(pattern, samples[pattern] + "\n") is not None, pattern
    assert set(samples) <= seen


def _cast(**changes: Any) -> dict[str, Any]:
    return {"submission_id": "sub-0001", "voter_id": "v", "selections": {"m": ["x"]}, **changes}


@pytest.mark.parametrize(
    ("ref", "document"),
    [
        (schemas.CAST, {"submission_id": "sub-0001\n", "voter_id": "v", "selections": {"m": []}}),
        (schemas.CAST, {"submission_id": "sub-0001", "voter_id": "v", "selections": {"m\n": []}}),
        (
            schemas.CAST,
            {"submission_id": "sub-0001", "voter_id": "v", "selections": {"m": ["x\n"]}},
        ),
        (schemas.CAST, {"submission_id": "sub-0001", "voter_id": "v\x00", "selections": {"m": []}}),
        (schemas.CAST, {"submission_id": "sub-0001", "voter_id": "v\n", "selections": {"m": []}}),
        (schemas.NOMINATION, {"contest": "m", "candidate": "x\n", "body": "b"}),
        (schemas.NOMINATION, {"contest": "m", "candidate": "x", "body": "b\x00"}),
        (schemas.WITHDRAWAL, {"reason": "withdrawn", "note": "x\x00"}),
        (schemas.WITHDRAWAL, {"reason": "withdrawn", "note": "x\x1b"}),
        (schemas.ROLL_ROW, {"voter_id": "v\x00"}),
        (schemas.ROLL_ROW, {"voter_id": "v", "attributes": {"age\n": 3}}),
        (schemas.ROLL_ROW, {"voter_id": "v", "attributes": {"region": "n\x00"}}),
        (schemas.DECLARATION, {"contest": "m", "result_hash": "0" * 64 + "\n"}),
    ],
)
def test_schemas_refuse_control_characters_and_final_newlines(ref: str, document: Any) -> None:
    """Ids with a final newline and U+0000 or control characters in one-line text are
    refused by the request schemas."""
    assert not schemas.validator(ref).is_valid(document)


def test_free_text_keeps_tab_and_line_breaks() -> None:
    """A withdrawal note is free text: tab, line feed and carriage return are allowed."""
    note = {"reason": "withdrawn", "note": "Moved.\r\n\tSee letter."}
    schemas.validate(schemas.WITHDRAWAL, note)


# Line and paragraph separators, bidirectional marks, embeddings, overrides and isolates.
SEPARATORS = ("\u2028", "\u2029")
MARKS = ("\u200e", "\u200f", "\u061c")
OVERRIDES = ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e")
ISOLATES = ("\u2066", "\u2067", "\u2068", "\u2069")


def _definition_with(**where: str) -> dict[str, Any]:
    candidate = {"id": "a", "name": where.get("name", "Ann")}
    contest = {
        "id": "m",
        "title": where.get("contest", "M"),
        "seats": 1,
        "method": {"type": "bloc"},
        "candidates": [candidate],
    }
    return {"title": where.get("title", "NEC"), "contests": [contest]}


@pytest.mark.parametrize("char", SEPARATORS + MARKS + OVERRIDES + ISOLATES)
def test_one_line_text_refuses_separators_and_bidi_controls(char: str) -> None:
    """A title, candidate name, voter id, nominating body or roll value (``$defs/line``)
    holding U+2028/U+2029 or a bidirectional control (mark, embedding, override, isolate) is
    refused, as ``election.one_line`` refuses it."""
    valid = schemas.validator(schemas.DEFINITION).is_valid
    assert valid(_definition_with())
    assert not valid(_definition_with(title="NEC" + char))
    assert not valid(_definition_with(contest=char + "M"))
    assert not valid(_definition_with(name="A" + char))
    assert not schemas.validator(schemas.CAST).is_valid(_cast(voter_id="v" + char))
    nomination = {"contest": "m", "candidate": "x", "body": "b" + char}
    assert not schemas.validator(schemas.NOMINATION).is_valid(nomination)
    row = {"voter_id": "v", "attributes": {"region": "n" + char}}
    assert not schemas.validator(schemas.ROLL_ROW).is_valid(row)
    assert not el.one_line("A" + char)


@pytest.mark.parametrize("char", OVERRIDES + ISOLATES)
def test_free_text_refuses_bidi_overrides_and_isolates(char: str) -> None:
    """A withdrawal note (``$defs/text``) may not hold a bidirectional embedding, override or
    isolate: they can make the text display as something other than it is."""
    note = {"reason": "withdrawn", "note": "Moved " + char + "abroad"}
    assert not schemas.validator(schemas.WITHDRAWAL).is_valid(note)


def test_free_text_keeps_line_breaks_and_bidi_marks() -> None:
    """Free text keeps what mixed-direction prose needs: line and paragraph separators and the
    bidirectional marks (LRM, RLM, ALM)."""
    note = {"reason": "withdrawn", "note": "Moved\u2028\u200fabroad\u2029\u200e\u061c."}
    schemas.validate(schemas.WITHDRAWAL, note)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2026-05-07T22:00:00Z", True),
        ("2026-05-07t22:00:00.123456789z", True),
        ("2026-05-07T22:00:00+01:00", True),
        ("2026-05-07T22:00:00", False),
        ("2026-05-07 22:00:00Z", False),
        ("2026-02-30T22:00:00Z", False),
        ("2026-05-07T24:00:00Z", False),
        ("2026-05-07T22:00:00Z\n", False),
        ("0001-01-01T00:00:00+23:59", False),  # before year 1 in UTC: no datetime holds it
        ("9999-12-31T23:59:59-23:59", False),  # after year 9999 in UTC
        ("0001-01-01T00:00:00Z", True),
        ("9999-12-31T23:59:59Z", True),
        ("next tuesday", False),
    ],
)
def test_date_time_format_is_asserted(text: str, valid: bool) -> None:
    """``format: date-time`` is checked as RFC 3339 (offset required, a real moment)."""
    doc = {"title": "t", "schedule": {"poll_close": text}, "contests": []}
    errors = list(schemas.validator(schemas.DEFINITION).iter_errors(doc))
    assert any(e.validator == "format" for e in errors) is not valid


def _nested(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"attr": "age", "lt": 27}
    for _ in range(depth - 1):
        rule = {"not": rule}
    return rule


def _definition(rule: dict[str, Any]) -> dict[str, Any]:
    contest = {
        "id": "m",
        "title": "M",
        "seats": 1,
        "method": {"type": "bloc"},
        "candidates": [{"id": "a", "name": "A"}],
        "eligibility": rule,
    }
    return {"title": "t", "contests": [contest]}


def test_eligibility_nests_at_most_32_deep() -> None:
    """A rule 32 deep is accepted; 33 deep (or 5,000) is a SchemaViolation, not a
    RecursionError."""
    assert el.parse_definition(_definition(_nested(el.MAX_RULE_DEPTH))).contests[0].eligibility
    for depth in (el.MAX_RULE_DEPTH + 1, 5000):
        with pytest.raises(schemas.SchemaViolation, match="32"):
            el.parse_definition(_definition(_nested(depth)))


def test_a_too_deep_document_is_a_schema_violation() -> None:
    """Validating a document nested beyond the interpreter's recursion limit (say a logged
    definition an auditor reads) is a SchemaViolation, not a RecursionError."""
    event = {"definition": _definition(_nested(5000)), "keys": {"ledger": ["k"]}}
    with pytest.raises(schemas.SchemaViolation):
        schemas.validate_event("election_defined", event)


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("30", 30),
        (" -5 ", -5),
        ("007", 7),
        ("true", True),
        ("FALSE", False),
        ("+5", "+5"),
        ("2024-01", "2024-01"),
        ("-", "-"),
        ("1234567890123456789", "1234567890123456789"),
        ("north", "north"),
    ],
)
def test_roll_cells_become_typed_values(cell: str, value: Any) -> None:
    """A roll cell of ASCII digits is an integer (up to 18 digits), true/false a boolean,
    anything else text."""
    parsed = el.parse_attribute(cell)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("cell", ["--5", "\u00b2", "-\u00b2", "\u0663", "5\u0663"])
def test_roll_cells_that_only_look_like_integers_are_refused(cell: str) -> None:
    """``--5``, superscript or non-ASCII digits are mistakes, refused (not a 500, not text)."""
    with pytest.raises(ValueError, match="not an integer"):
        el.parse_attribute(cell)
