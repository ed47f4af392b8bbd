"""JSON Schema validation of every request body and every event, from the files in schemas/.

``pattern`` is ECMA-262, matched as JSON Schema means it (``$`` is the end of the string, not
"before a final newline" as in Python), and ``format: date-time`` is asserted (RFC 3339), so
this validator and one written from the published schemas in another language agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from ledger.errors import LedgerError

SCHEMA_FILES = ("definition.schema.json", "requests.schema.json", "events.schema.json")
EVENT_TYPES = (
    "election_defined",
    "roll_published",
    "nominations_opened",
    "nomination_recorded",
    "nominations_closed",
    "candidate_withdrawn",
    "poll_opened",
    "ballot_cast",
    "turnout_reported",
    "poll_closed",
    "ballot_opened",
    "result_approved",
    "result_declared",
)


class SchemaViolation(LedgerError):
    """The document does not match its JSON Schema."""


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("schemas").joinpath(name).read_text())
    return data


# --- ECMA-262 patterns -------------------------------------------------------------------------

_ECMA_DOT = "[^\\n\\r\\u2028\\u2029]"


@cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """Compile a JSON Schema ``pattern`` (an ECMA-262 regular expression, not anchored) so that
    Python's ``re.search`` means what ECMA-262 means: an unescaped ``$`` outside a character
    class matches only at the end of the string (``\\Z``; Python's ``$`` also matches before a
    final newline), ``.`` matches no line terminator (``\\n``, ``\\r``, U+2028, U+2029), and
    ``\\d``, ``\\w``, ``\\b`` are ASCII. ``^`` already means the start of the string in both."""
    out: list[str] = []
    in_class = False
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(ch + next(chars, ""))
        elif in_class:
            in_class = ch != "]"
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == "$":
            out.append("\\Z")
        elif ch == ".":
            out.append(_ECMA_DOT)
        else:
            out.append(ch)
    return re.compile("".join(out), re.ASCII)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, properties: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        for key, value in instance.items():
            if ecma_regex(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


# --- formats -----------------------------------------------------------------------------------

FORMATS = FormatChecker(formats=())
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def is_date_time(instance: object) -> bool:
    """RFC 3339 ``date-time`` (an offset is required), a real moment: ``2026-05-07T22:00:00Z``,
    between years 1 and 9999 once in UTC (the range a stored time can take)."""
    if not isinstance(instance, str):
        return True
    if _DATE_TIME.fullmatch(instance) is None:
        return False
    moment = datetime.fromisoformat(instance.upper())  # a real day and time, or ValueError
    try:
        moment.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+23:59 is in year 0 in UTC
        raise ValueError("the moment is outside years 1 to 9999 in UTC") from exc
    return True


FORMATS.checks("date-time", raises=ValueError)(is_date_time)


# --- validators --------------------------------------------------------------------------------

Validator = validators.extend(
    Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties},
)
"""Draft 2020-12 with ECMA-262 ``pattern`` semantics (see ``ecma_regex``)."""


@cache
def _registry() -> Registry:
    """The three schema files as draft 2020-12 resources. Their ``$schema`` is left out here:
    a ``$ref`` into a document that names its dialect would switch to jsonschema's own
    ``Draft202012Validator`` and so lose the ECMA-262 ``pattern`` of ``Validator``."""
    resources_ = []
    for name in SCHEMA_FILES:
        contents = {k: v for k, v in load(name).items() if k != "$schema"}
        resources_.append((contents["$id"], DRAFT202012.create_resource(contents)))
    return Registry().with_resources(resources_)


@cache
def validator(ref: str) -> Any:
    """A validator for ``ref``, e.g. ``urn:ballot-ledger:schema:requests#/$defs/cast``."""
    return Validator({"$ref": ref}, registry=_registry(), format_checker=FORMATS)


def validate(ref: str, document: Any) -> None:
    """Raise ``SchemaViolation`` listing where ``document`` breaks the schema ``ref``."""
    try:
        errors = sorted(validator(ref).iter_errors(document), key=lambda e: list(e.absolute_path))
    except RecursionError as exc:
        raise SchemaViolation(
            "the document is nested too deeply to validate",
            errors=[{"path": "/", "message": "nested too deeply"}],
        ) from exc
    if errors:
        raise SchemaViolation(
            "the document does not match its schema",
            errors=[
                {"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message}
                for e in errors[:10]
            ],
        )


def validate_event(kind: str, event: Any) -> None:
    if kind not in EVENT_TYPES:
        raise SchemaViolation("unknown event type", type=kind)
    validate(f"urn:ballot-ledger:schema:events#/$defs/{kind}", event)


DEFINITION = "urn:ballot-ledger:schema:definition"
CAST = "urn:ballot-ledger:schema:requests#/$defs/cast"
NOMINATION = "urn:ballot-ledger:schema:requests#/$defs/nomination"
WITHDRAWAL = "urn:ballot-ledger:schema:requests#/$defs/withdrawal"
ROLL_ROW = "urn:ballot-ledger:schema:requests#/$defs/roll_row"
DECLARATION = "urn:ballot-ledger:schema:requests#/$defs/declaration"
