"""Evidence of a broken promise: an accepted ballot that is not in the log before ``poll_closed``.

An acceptance receipt (``ledger.format.acceptance``) promises that the entry whose event hashes
to ``event_hash`` will precede ``poll_closed`` in the log. Once a signed checkpoint covers
``poll_closed``, a voter whose ballot is not there can show it to anyone, with no trust in the
ledger and no network, by an evidence document (docs/log-format.md §8):

    {"kind": "broken-promise",
     "receipt": <the acceptance receipt>,
     "keys": [<ledger verifier key texts>],
     "checkpoint": "<a signed checkpoint note covering poll_closed>",
     "entries": ["<entry 0's exact text>", …, "<entry size-1's exact text>"]}

It proves the broken promise when all of these hold (``check_evidence``):

1. the receipt verifies by a ledger key (its batch signature, and its event, if it carries one,
   hashes to ``event_hash``);
2. the checkpoint is signed by a ledger key, and its origin is the receipt's;
3. the entries are exactly ``size`` canonical entries of the receipt's election, entry ``i``
   with index ``i``, whose leaves rebuild the checkpoint's root; and the first
   ``receipt.checkpoint.size`` of them rebuild the receipt's checkpoint root (the log the
   receipt saw is a prefix of this one);
4. one of them is ``poll_closed``;
5. no entry before ``poll_closed`` has an event that hashes to ``event_hash``.

The keys are the ones the document names unless the verifier pins its own (it should: keys
the ledger published elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import EvidenceError, LedgerError
from ledger.format import merkle
from ledger.format.acceptance import AcceptanceReceipt, event_hash, verify_acceptance
from ledger.format.checkpoint import Checkpoint, open_checkpoint
from ledger.format.entry import parse_entry
from ledger.format.keys import Keyring, Verifier

KIND = "broken-promise"
_MEMBERS = frozenset(("kind", "receipt", "keys", "checkpoint", "entries"))


@dataclass(frozen=True, slots=True, kw_only=True)
class LogState:
    """Where, in a verified log prefix, ``poll_closed`` and the promised event are."""

    size: int
    closed_at: int | None
    """Index of ``poll_closed``, if the prefix has it."""
    found_at: int | None
    """Index of the first entry whose event hashes to the receipt's ``event_hash``."""

    @property
    def kept(self) -> bool:
        """The event is in the log, before ``poll_closed`` if the log has it."""
        return self.found_at is not None and (
            self.closed_at is None or self.found_at < self.closed_at
        )

    @property
    def broken(self) -> bool:
        """``poll_closed`` is in the log and the event is not before it."""
        return self.closed_at is not None and not self.kept


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether an evidence document proves a broken promise, and why (or why not)."""

    proven: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "proven": self.proven,
            "reason": self.reason,
            "details": {k: str(v) for k, v in self.details.items()},
        }


def log_state(
    receipt: AcceptanceReceipt, checkpoint: Checkpoint, entries: Sequence[str]
) -> LogState:
    """Check that ``entries`` are the log of ``checkpoint`` and extend the receipt's checkpoint,
    and say where ``poll_closed`` and the promised event are; raise ``EvidenceError`` (with
    the entry or sizes concerned) if they are not that log."""
    if len(entries) != checkpoint.size:
        raise EvidenceError(
            "the entries are not the checkpoint's log: their number differs from its size",
            entries=len(entries),
            size=checkpoint.size,
        )
    promised = receipt.checkpoint
    if promised.size > checkpoint.size:
        raise EvidenceError(
            "the checkpoint is older than the receipt's",
            size=checkpoint.size,
            receipt_size=promised.size,
        )
    edge = merkle.CompactRange()
    closed_at: int | None = None
    found_at: int | None = None
    for index, text in enumerate(entries):
        if index == promised.size:
            _check_prefix(edge, receipt)
        if not isinstance(text, str):
            raise EvidenceError("an entry is not a string", index=index)
        body = text.encode()
        try:
            entry = parse_entry(body)
        except LedgerError as exc:
            raise EvidenceError(f"entry is malformed: {exc.message}", index=index) from exc
        if entry.index != index or entry.election != receipt.election:
            raise EvidenceError(
                "an entry is out of place (another index or election)",
                index=index,
                found_index=entry.index,
                found_election=entry.election,
            )
        if entry.kind == "poll_closed" and closed_at is None:
            closed_at = index
        if found_at is None and event_hash(entry.event) == receipt.event_hash:
            found_at = index
        edge.append(merkle.leaf_hash(body))
    if promised.size == checkpoint.size:
        _check_prefix(edge, receipt)
    if edge.root() != checkpoint.root:
        raise EvidenceError(
            "the entries do not rebuild the checkpoint's root",
            size=checkpoint.size,
            expected=checkpoint.root.hex(),
            computed=edge.root().hex(),
        )
    return LogState(size=checkpoint.size, closed_at=closed_at, found_at=found_at)


def _check_prefix(edge: merkle.CompactRange, receipt: AcceptanceReceipt) -> None:
    if edge.root() != receipt.checkpoint.root:
        raise EvidenceError(
            "the log does not extend the checkpoint the receipt was given",
            size=receipt.checkpoint.size,
            expected=receipt.checkpoint.root.hex(),
            computed=edge.root().hex(),
        )


def broken_promise_evidence(
    receipt: AcceptanceReceipt, keys: Sequence[str], note: str, entries: Sequence[str]
) -> dict[str, Any]:
    """The evidence document for ``receipt``, ``keys``, a checkpoint ``note`` and its log."""
    return {
        "kind": KIND,
        "receipt": receipt.to_json(),
        "keys": list(keys),
        "checkpoint": note,
        "entries": list(entries),
    }


def check_evidence(data: Any, keyring: Keyring | None = None) -> Verdict:
    """Judge an evidence document (parsed JSON): ``proven`` only if every check of the module
    docstring holds; otherwise the first check that fails is the reason. ``keyring`` pins the
    ledger keys; without it the document's own ``keys`` are used."""
    try:
        return _judge(data, keyring)
    except LedgerError as exc:
        return Verdict(proven=False, reason=exc.message, details=exc.evidence)


def _judge(data: Any, pinned: Keyring | None) -> Verdict:
    if not isinstance(data, dict) or data.keys() != _MEMBERS:
        raise EvidenceError(
            "not an evidence document: it is an object with exactly kind, receipt, keys, "
            "checkpoint and entries"
        )
    if data["kind"] != KIND:
        raise EvidenceError(f'not an evidence document: "kind" is not "{KIND}"')
    keys, note, entries = data["keys"], data["checkpoint"], data["entries"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise EvidenceError('"keys" must be a list of verifier key texts')
    if not isinstance(note, str) or not isinstance(entries, list):
        raise EvidenceError('"checkpoint" must be a signed note and "entries" a list of texts')
    keyring = pinned if pinned is not None else Keyring(Verifier.parse(k) for k in keys)
    receipt = AcceptanceReceipt.from_json(data["receipt"])
    verify_acceptance(receipt, keyring)
    checkpoint = open_checkpoint(note, keyring, origin=receipt.origin)
    state = log_state(receipt, checkpoint, entries)
    if state.closed_at is None:
        raise EvidenceError(
            "the log up to the checkpoint has no poll_closed: the promise still stands",
            size=state.size,
        )
    if state.kept:
        raise EvidenceError(
            "the promise was kept: the event is in the log before poll_closed",
            index=state.found_at,
            poll_closed=state.closed_at,
        )
    details: dict[str, Any] = {
        "election": receipt.election,
        "contest": receipt.contest,
        "code": receipt.code,
        "event_hash": receipt.event_hash.hex(),
        "accepted": receipt.time,
        "poll_closed": state.closed_at,
        "size": state.size,
    }
    if state.found_at is not None:
        details["appended_after_close"] = state.found_at
    return Verdict(
        proven=True,
        reason="broken promise: the accepted ballot is not in the log before poll_closed",
        details=details,
    )
