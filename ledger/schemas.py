"""JSON Schema validation of every request body and every event, from the files in schemas/."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

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
    "result_declared",
)


class SchemaViolation(LedgerError):
    """The document does not match its JSON Schema."""


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("schemas").joinpath(name).read_text())
    return data


@cache
def _registry() -> Registry:
    resources_ = [(load(n)["$id"], Resource.from_contents(load(n))) for n in SCHEMA_FILES]
    return Registry().with_resources(resources_)


@cache
def validator(ref: str) -> Draft202012Validator:
    """A validator for ``ref``, e.g. ``urn:ballot-ledger:schema:requests#/$defs/cast``."""
    return Draft202012Validator({"$ref": ref}, registry=_registry())


def validate(ref: str, document: Any) -> None:
    """Raise ``SchemaViolation`` listing where ``document`` breaks the schema ``ref``."""
    errors = sorted(validator(ref).iter_errors(document), key=lambda e: list(e.absolute_path))
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
