"""Domain errors of the ledger and of its pure verifiers.

Each exception's docstring is its default message. A failed verification carries its
evidence (what was checked, what was expected, what was found) so that an auditor can
see exactly where a log or a proof went wrong.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """The ledger could not complete the operation."""

    def __init__(self, message: str | None = None, **evidence: Any) -> None:
        self.message = message or " ".join((self.__doc__ or type(self).__name__).split())
        self.evidence: dict[str, Any] = evidence
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.evidence:
            return self.message
        details = ", ".join(f"{k}={v}" for k, v in self.evidence.items())
        return f"{self.message} ({details})"


class EncodingError(LedgerError):
    """The value cannot be encoded as canonical JSON (RFC 8785)."""


class EntryTooLarge(EncodingError):
    """The entry is larger than the 64 KiB limit of a log entry."""


class DecodeError(LedgerError, ValueError):
    """The text is not the one canonical spelling (base64 or hex) of the expected bytes."""


class VerificationError(LedgerError):
    """Verification failed."""


class ProofError(VerificationError):
    """A Merkle proof does not verify against the given root."""


class SignatureError(VerificationError):
    """A signature does not verify with the given key."""


class CheckpointError(VerificationError):
    """The checkpoint is malformed or carries no valid signature from a trusted key."""


class ReceiptError(VerificationError):
    """The receipt is malformed or its signature does not verify."""


class EvidenceError(VerificationError):
    """The evidence does not prove a broken promise."""


class KeyFormatError(LedgerError):
    """The key text is not in the expected signed-note key format."""


class CliError(Exception):
    """A command could not do what was asked; the message says why."""


# --- errors of the service and the HTTP shell (problem types: ledger/http/problems.py) ---------


class Unauthorized(LedgerError):
    """A valid bearer token is required."""


class Forbidden(LedgerError):
    """This token may not do that."""


class NotFound(LedgerError):
    """No such resource."""


class NoSuchReceipt(NotFound):
    """No ballot, pending or released, has that receipt code."""


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


class ResultNotCounted(LedgerError):
    """The counter has not yet sent this contest's counted result: there is nothing to
    approve yet."""


class ProofUnavailable(LedgerError):
    """No such proof: the sizes or index are outside the log."""


class Unavailable(LedgerError):
    """The ledger cannot take requests right now; retry later."""


class Internal(LedgerError):
    """Internal error."""
