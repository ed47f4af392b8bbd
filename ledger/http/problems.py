"""RFC 9457 problem details: one stable type per error, produced by one middleware.

Types are URNs ``urn:ballot-ledger:problem:<slug>``; ``schemas/problems.json`` lists them with
their status codes, and the OpenAPI document refers to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ledger.domain import election as el
from ledger.domain.schemas import SchemaViolation
from ledger.errors import (
    AlreadyVoted,
    BadRequest,
    ElectionExists,
    EncodingError,
    EntryTooLarge,
    Forbidden,
    Internal,
    InvalidBallotData,
    InvalidDeclaration,
    InvalidJson,
    InvalidRoll,
    LedgerError,
    MethodNotAllowed,
    NoSuchReceipt,
    NotEligible,
    NotFound,
    NotOnRoll,
    PayloadTooLarge,
    ProofUnavailable,
    ResultNotCounted,
    SubmissionConflict,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from ledger.runtime.settings import ConfigError
from ledger.storage.store import UnknownLog

PREFIX = "urn:ballot-ledger:problem:"

# The service's and the HTTP shell's errors are in ``ledger.errors`` (so that the service never
# imports this module); this module maps each to its stable problem type and renders it.
__all__ = [
    "HTTP_STATUS",
    "TYPES",
    "AlreadyVoted",
    "BadRequest",
    "ElectionExists",
    "Forbidden",
    "Internal",
    "InvalidBallotData",
    "InvalidDeclaration",
    "InvalidJson",
    "InvalidRoll",
    "MethodNotAllowed",
    "NoSuchReceipt",
    "NotEligible",
    "NotFound",
    "NotOnRoll",
    "PayloadTooLarge",
    "ProblemType",
    "ProofUnavailable",
    "SubmissionConflict",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "catalogue",
    "problem_response",
    "problem_type",
]


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
    NoSuchReceipt: ProblemType("no-such-receipt", 404, "No such receipt"),
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
    el.NotApproved: ProblemType("not-approved", 409, "Result not approved"),
    el.ContestNotPolled: ProblemType("contest-not-polled", 422, "Contest not polled"),
    el.NominatorNotAllowed: ProblemType("nominator-not-allowed", 422, "Nominator not allowed"),
    ResultNotCounted: ProblemType("result-not-counted", 409, "Result not counted yet"),
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
