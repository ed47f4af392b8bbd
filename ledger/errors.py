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
        self.message = message or (self.__doc__ or type(self).__name__).strip()
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


class KeyFormatError(LedgerError):
    """The key text is not in the expected signed-note key format."""


class CliError(Exception):
    """A command could not do what was asked; the message says why."""
