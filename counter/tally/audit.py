"""`ballot audit`: replay an election's whole public log, trusting nothing recomputable.

Given an export (ledger/format/export.py) and the keys the auditor pins, the audit checks:

1. every checkpoint's signature (by a pinned ledger key), its origin, and that sizes only grow;
2. every entry, with the log fold (counter/tally/fold.py): contiguous indices, canonical bytes, leaf
   and chain hashes equal to the published ones, schema, phase legality, sealed openings
   against their commitments, ballots per contest within the eligible count;
3. at every checkpoint's size, the Merkle root recomputed from the entries equals the signed
   root (so successive checkpoints are consistent: they are prefixes of one tree);
4. the export ends at its last checkpoint, and holds exactly the entries the header says;
5. the release rounds (counter/tally/rounds.py): every round of a contest holds at least the
   definition's ``round_size`` K ballots unless it is the contest's only round, at the close;
   no event appears twice among the ballots; ``below_round_size`` flags exactly the contests
   whose roll is below K (the report lists them);
6. each contest recounted by its rule and constraints with the lot seeded by the counted root,
   and each ``result_declared`` equal to the recount (hash, elected, counted size and root),
   signed by a pinned counter key.

Given acceptance receipts (:class:`~counter.tally.rounds.Promise`), it also says of each
whether its event is in the log, still pending (no ``poll_closed`` yet), or a broken promise
(not released before ``poll_closed``): ``AuditReport.broken`` holds those.

The first failure stops the audit; its evidence (entry index, check, expected, found) is the
report's ``failure``. Pure: the caller supplies the records and a progress callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from counter.errors import CounterError
from counter.tally import fold as fl
from counter.tally import rounds as rd
from ledger.domain.election import declaration_message
from ledger.errors import LedgerError, VerificationError
from ledger.format.acceptance import AcceptanceReceipt, verify_acceptance
from ledger.format.checkpoint import names_election, open_checkpoint
from ledger.format.encoding import b64_strict
from ledger.format.export import ExportCheckpoint, ExportEntry, Header
from ledger.format.keys import Keyring, Verifier


class AuditFailure(VerificationError):
    """The log does not verify."""


@dataclass(slots=True)
class AuditReport:
    election: str = ""
    ok: bool = False
    size: int = 0
    root: str = ""
    checkpoints: int = 0
    entries: int = 0
    seconds: float = 0.0
    keys_pinned: bool = True
    warnings: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    failure: dict[str, Any] | None = None
    rounds: rd.RoundsSummary | None = None
    promises: list[rd.Promise] | None = None
    """The receipts' promises given to the audit (``None``: none were given)."""

    @property
    def broken(self) -> tuple[rd.Promise, ...]:
        """Promises not kept: accepted, and not released before ``poll_closed``."""
        return self.rounds.broken if self.rounds is not None else ()

    def _promises_json(self) -> dict[str, Any] | None:
        if self.promises is None:
            return None
        s = self.rounds

        def one(p: rd.Promise) -> dict[str, Any]:
            return {"contest": p.contest, "event_hash": p.event_hash.hex(), "source": p.source}

        if s is None:
            return {"given": len(self.promises), "checked": False}
        return {
            "given": len(self.promises),
            "checked": True,
            "released": [{**one(p), "index": i} for p, i in s.released],
            "not_yet_released": [one(p) for p in s.waiting],
            "broken": [one(p) for p in s.broken],
        }

    def to_json(self) -> dict[str, Any]:
        rounds = self.rounds.to_json() if self.rounds is not None else None
        return {
            "election": self.election,
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "checkpoints": self.checkpoints,
            "entries": self.entries,
            "seconds": round(self.seconds, 3),
            "entries_per_second": int(self.entries / self.seconds) if self.seconds else None,
            "keys_pinned": self.keys_pinned,
            "warnings": self.warnings,
            "results": self.results,
            "failure": self.failure,
            "round_size": rounds["round_size"] if rounds else None,
            "below_round_size": rounds["below_round_size"] if rounds else None,
            "rounds": rounds["rounds"] if rounds else None,
            "promises": self._promises_json(),
        }


def _fail(message: str, **evidence: Any) -> AuditFailure:
    return AuditFailure(message, **evidence)


def audit(
    records: Iterable[Header | ExportEntry | ExportCheckpoint],
    *,
    ledger_keys: Iterable[str] = (),
    counter_keys: Iterable[str] = (),
    progress: Callable[[int, int], None] | None = None,
    promises: Iterable[rd.Promise] | None = None,
) -> AuditReport:
    """Audit an export. Keys are verifier strings; with none given, the header's keys are
    used and the report says the keys were not pinned. ``promises`` are those of acceptance
    receipts of this election (see :func:`promises_from_json`)."""
    report = AuditReport(promises=None if promises is None else list(promises))
    started = time.perf_counter()
    try:
        _run(records, report, list(ledger_keys), list(counter_keys), progress)
        report.ok = True
    except LedgerError as exc:
        report.failure = {"message": exc.message, **{k: _plain(v) for k, v in exc.evidence.items()}}
    report.seconds = time.perf_counter() - started
    return report


def _plain(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def _run(
    records: Iterable[Header | ExportEntry | ExportCheckpoint],
    report: AuditReport,
    ledger_keys: list[str],
    counter_keys: list[str],
    progress: Callable[[int, int], None] | None,
) -> None:
    it = iter(records)
    header = next(it, None)
    if not isinstance(header, Header):
        raise _fail("the export does not start with its header")
    report.election = header.election
    if not names_election(header.origin, header.election):
        # §6: the ledger names a log <prefix>/elections/<election>; a header that names
        # another log's origin would make its checkpoints pass for this election's.
        raise _fail(
            "the export's origin is not this election's log",
            election=header.election,
            origin=header.origin,
        )
    for p in report.promises or ():
        if p.election != header.election:
            raise _fail(
                "a receipt is for another election",
                election=header.election,
                receipt_election=p.election,
                source=p.source,
            )
    if not ledger_keys:
        ledger_keys = list(header.ledger_keys)
        report.keys_pinned = False
        report.warnings.append("ledger keys taken from the export itself: pin them with --key")
    if not counter_keys:
        counter_keys = list(header.counter_keys)
        if header.counter_keys:
            report.warnings.append("counter keys taken from the export: pin with --counter-key")
    keyring = Keyring(Verifier.parse(k) for k in ledger_keys)
    counters = Keyring(Verifier.parse(k) for k in counter_keys)
    for p in report.promises or ():
        _check_receipt(p, keyring, header.origin)
    roots: dict[int, bytes] = {}
    state = fl.initial(header.election)
    check = rd.RoundCheck(election=header.election, promises=report.promises or ())
    last_size = -1
    for record in it:
        if isinstance(record, ExportCheckpoint):
            if state.size:
                raise _fail("checkpoint after the entries began", size=record.size)
            try:
                cp = open_checkpoint(record.note, keyring, origin=header.origin)
            except LedgerError as exc:
                evidence = {**exc.evidence, "size": record.size}
                raise _fail(f"checkpoint at size {record.size}: {exc.message}", **evidence) from exc
            if cp.size != record.size or cp.size <= last_size:
                raise _fail("checkpoints out of order or mislabelled", size=cp.size)
            roots[cp.size] = cp.root
            last_size = cp.size
            continue
        if isinstance(record, Header):
            raise _fail("a second header in the export")
        state, entry = fl.apply_entry(
            state,
            record.index,
            record.body,
            leaf_hash=record.leaf_hash,
            chain_hash=record.chain_hash,
        )
        check.add(record.index, entry, record.body)
        expected = roots.get(state.size)
        if expected is not None and expected != state.root:
            raise _fail(
                "Merkle root does not match the signed checkpoint",
                index=state.size - 1,
                size=state.size,
                expected=expected.hex(),
                found=state.root.hex(),
            )
        if progress is not None and state.size % 10000 == 0:
            progress(state.size, header.size)
    if progress is not None:
        progress(state.size, header.size)
    report.entries = state.size
    report.checkpoints = len(roots)
    report.size, report.root = state.size, state.root.hex()
    if state.size != header.size:
        raise _fail(
            "the export holds another number of entries than its header says",
            expected=header.size,
            found=state.size,
        )
    if not roots or max(roots) != state.size:
        raise _fail(
            "the log's last entries are not covered by a signed checkpoint",
            size=state.size,
            last_checkpoint=max(roots) if roots else None,
        )
    if state.phase.definition is not None:
        report.rounds = check.finish(state.phase.definition)
    _recount(state, counters, report)


def _check_receipt(p: rd.Promise, keyring: Keyring, origin: str) -> None:
    """A promise counts only if a ledger key the auditor trusts made it, for this log."""
    if p.receipt is None:
        return
    if p.receipt.origin != origin:
        raise _fail(
            "an acceptance receipt is for another log",
            source=p.source,
            origin=origin,
            receipt_origin=p.receipt.origin,
        )
    try:
        verify_acceptance(p.receipt, keyring)
    except LedgerError as exc:
        raise _fail(
            f"an acceptance receipt does not verify: {exc.message}",
            source=p.source,
            event_hash=p.event_hash.hex(),
        ) from exc


def _recount(state: fl.FoldState, counters: Keyring, report: AuditReport) -> None:
    d = state.phase.definition
    if d is None:
        return
    for c in d.contests:
        declared = state.declarations.get(c.id)
        if state.counted_at is None:
            report.results[c.id] = {"counted": False, "declared": declared is not None}
            if declared is not None:
                raise _fail("a result was declared before the count could run", contest=c.id)
            continue
        try:
            _, document = fl.count_contest(state, c.id)
        except CounterError as exc:  # e.g. a minimum no count can meet: a finding, not a crash
            raise _fail("the contest cannot be recounted", contest=c.id, error=str(exc)) from exc
        digest = fl.result_hash(document)
        entry: dict[str, Any] = {
            "counted": True,
            "elected": list(document["elected"]),
            "elected_ids": document["elected_ids"],
            "outcome": document["outcome"],
            "vacant": document["vacant"],
            "returned_unopposed": document["returned_unopposed"],
            "notes": document["constraints_adjusted"],
            "minimums_unmet": document["minimums_unmet"],
            "approved": state.phase.approved.get(c.id),
            "result_hash": digest,
            "counted_size": document["counted_size"],
            "declared": declared is not None,
        }
        report.results[c.id] = entry
        if declared is None:
            continue
        key = Verifier.parse(declared["key"])
        if counters.get(key.name, key.key_id) is None:
            raise _fail(
                "result declared by a key that is not trusted", contest=c.id, key=declared["key"]
            )
        signature = b64_strict(declared["signature"], 64, what="declaration signature")
        key.verify(declaration_message(declared), signature)
        older = fl.result_hash(fl.before_status(document))
        if declared.get("result_hash") == older:
            digest = entry["result_hash"] = older
            entry["document_form"] = "before candidate status"
        for name, mine in (
            ("result_hash", digest),
            ("elected", document["elected_ids"]),
            ("counted_size", document["counted_size"]),
            ("counted_root", document["counted_root"]),
        ):
            if declared.get(name) != mine:
                raise _fail(
                    "declared result differs from the recount",
                    contest=c.id,
                    field=name,
                    expected=mine,
                    found=declared.get(name),
                )
        entry["matches_declaration"] = True


def promises_from_json(doc: Any, source: str = "") -> list[rd.Promise]:
    """The promises of an acceptance receipt, of a whole cast answer (``{"submission_id",
    "receipts": {contest: receipt}}``), or of a JSON array of either. Each receipt is parsed
    strictly (``ledger.format.acceptance``); :func:`audit` verifies its signature."""
    if isinstance(doc, list):
        return [p for item in doc for p in promises_from_json(item, source)]
    if isinstance(doc, dict) and isinstance(doc.get("receipts"), dict) and "stage" not in doc:
        return [p for item in doc["receipts"].values() for p in promises_from_json(item, source)]
    try:
        receipt = AcceptanceReceipt.from_json(doc)
    except LedgerError as exc:
        raise AuditFailure(exc.message, source=source, **exc.evidence) from exc
    return [
        rd.Promise(
            election=receipt.election,
            contest=receipt.contest,
            event_hash=receipt.event_hash,
            source=source,
            receipt=receipt,
        )
    ]
