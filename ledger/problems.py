"""RFC 9457 problem details: one stable type per error, produced by one middleware.

Types are URNs ``urn:ballot-ledger:problem:<slug>``; ``schemas/problems.json`` lists them with
their status codes, and the OpenAPI document refers to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ledger import election as el
from ledger.errors import EncodingError, EntryTooLarge, LedgerError
from ledger.schemas import SchemaViolation
from ledger.settings import ConfigError
from ledger.store import UnknownLog

PREFIX = "urn:ballot-ledger:problem:"


class Unauthorized(LedgerError):
    """A valid bearer token is required."""


class Forbidden(LedgerError):
    """This token may not do that."""


class NotFound(LedgerError):
    """No such resource."""


class MethodNotAllowed(LedgerError):
    """This resource does not accept that method."""


class BadRequest(LedgerError):
    """The request is malformed."""


class InvalidJson(LedgerError):
    """The body is not valid JSON."""


class UnsupportedMediaType(LedgerError):
    """The body's content type is not accepted here."""


class PayloadTooLarge(LedgerError):
    """The request body is larger than allowed."""


class ElectionExists(LedgerError):
    """An election with this id already exists."""


class SubmissionConflict(LedgerError):
    """This submission id was already used with different content."""


class AlreadyVoted(LedgerError):
    """This voter has already voted in this contest."""


class NotOnRoll(LedgerError):
    """The voter is not on the roll of this election."""


class NotEligible(LedgerError):
    """The voter is not eligible to vote in this contest."""


class InvalidRoll(LedgerError):
    """The voter roll is not valid."""


class InvalidBallotData(LedgerError):
    """The database cannot store this ballot paper's data (a voter or submission id holding
    a character it refuses, such as U+0000); the other papers are not affected."""


class InvalidDeclaration(LedgerError):
    """The result declaration does not verify."""


class ProofUnavailable(LedgerError):
    """No such proof: the sizes or index are outside the log."""


class Unavailable(LedgerError):
    """The ledger cannot take requests right now; retry later."""


class Internal(LedgerError):
    """Internal error."""


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    status: int
    title: str


TYPES: dict[type[LedgerError], ProblemType] = {
    Internal: ProblemType("internal", 500, "Internal error"),
    Unauthorized: ProblemType("unauthorized", 401, "Unauthorized"),
    Forbidden: ProblemType("forbidden", 403, "Forbidden"),
    NotFound: ProblemType("not-found", 404, "Not found"),
    UnknownLog: ProblemType("not-found", 404, "Not found"),
    MethodNotAllowed: ProblemType("method-not-allowed", 405, "Method not allowed"),
    BadRequest: ProblemType("bad-request", 400, "Bad request"),
    InvalidJson: ProblemType("invalid-json", 400, "Invalid JSON"),
    UnsupportedMediaType: ProblemType("unsupported-media-type", 415, "Unsupported media type"),
    PayloadTooLarge: ProblemType("payload-too-large", 413, "Payload too large"),
    SchemaViolation: ProblemType("schema-violation", 422, "Schema violation"),
    EntryTooLarge: ProblemType("entry-too-large", 413, "Entry too large"),
    EncodingError: ProblemType("invalid-encoding", 422, "Not canonicalisable"),
    el.InvalidDefinition: ProblemType("invalid-definition", 422, "Invalid election definition"),
    el.WrongPhase: ProblemType("wrong-phase", 409, "Not allowed in this phase"),
    el.RollMissing: ProblemType("roll-missing", 409, "No voter roll published"),
    el.UnknownContest: ProblemType("unknown-contest", 422, "Unknown contest"),
    el.UnknownCandidate: ProblemType("unknown-candidate", 422, "Unknown candidate"),
    el.CandidateNotStanding: ProblemType("candidate-not-standing", 422, "Candidate not standing"),
    el.DuplicateSelection: ProblemType("duplicate-selection", 422, "Duplicate selection"),
    el.TooManySelections: ProblemType("too-many-selections", 422, "Too many selections"),
    el.TooFewSelections: ProblemType("too-few-selections", 422, "Too few selections"),
    el.DuplicateNomination: ProblemType("duplicate-nomination", 409, "Duplicate nomination"),
    el.AlreadyDeclared: ProblemType("already-declared", 409, "Result already declared"),
    ElectionExists: ProblemType("election-exists", 409, "Election exists"),
    SubmissionConflict: ProblemType("submission-conflict", 409, "Submission id reused"),
    AlreadyVoted: ProblemType("already-voted", 409, "Already voted"),
    NotOnRoll: ProblemType("not-on-roll", 403, "Not on the roll"),
    NotEligible: ProblemType("not-eligible", 403, "Not eligible"),
    InvalidRoll: ProblemType("invalid-roll", 422, "Invalid voter roll"),
    InvalidBallotData: ProblemType("invalid-ballot-data", 422, "Invalid ballot data"),
    InvalidDeclaration: ProblemType("invalid-declaration", 422, "Invalid result declaration"),
    ProofUnavailable: ProblemType("proof-unavailable", 400, "Proof unavailable"),
    Unavailable: ProblemType("unavailable", 503, "Service unavailable"),
    ConfigError: ProblemType("internal", 500, "Internal error"),
}

HTTP_STATUS: dict[int, type[LedgerError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def problem_type(exc: LedgerError) -> ProblemType:
    for cls in type(exc).__mro__:
        if cls in TYPES:
            return TYPES[cls]
    return TYPES[Internal]


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def problem_response(
    exc: LedgerError, *, instance: str, request_id: str, headers: dict[str, str] | None = None
) -> web.Response:
    kind = problem_type(exc)
    body: dict[str, Any] = {
        "type": PREFIX + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": exc.message,
        "instance": instance,
        "request_id": request_id,
    }
    for key, value in exc.evidence.items():
        if key not in body:
            body[key] = _jsonable(value)
    return web.Response(
        status=kind.status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def catalogue() -> list[dict[str, Any]]:
    """Every problem type, for schemas/problems.json and the OpenAPI document."""
    seen: dict[str, dict[str, Any]] = {}
    for cls, kind in TYPES.items():
        seen.setdefault(
            kind.slug,
            {
                "type": PREFIX + kind.slug,
                "status": kind.status,
                "title": kind.title,
                "detail": " ".join((cls.__doc__ or "").split()),
            },
        )
    return sorted(seen.values(), key=lambda p: str(p["type"]))
