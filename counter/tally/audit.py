"""`ballot audit`: replay an election's whole public log, trusting nothing recomputable.

Given an export (ledger/format/export.py) and the keys the auditor pins, the audit checks:

1. every checkpoint's signature (by a pinned ledger key), its origin, and that sizes only grow;
2. every entry, with the log fold (counter/tally/fold.py): contiguous indices, canonical bytes, leaf
   and chain hashes equal to the published ones, schema, phase legality, sealed openings
   against their commitments, ballots per contest within the eligible count;
3. at every checkpoint's size, the Merkle root recomputed from the entries equals the signed
   root (so successive checkpoints are consistent: they are prefixes of one tree);
4. the export ends at its last checkpoint, and holds exactly the entries the header says;
5. each contest recounted by its rule and constraints with the lot seeded by the counted root,
   and each ``result_declared`` equal to the recount (hash, elected, counted size and root),
   signed by a pinned counter key.

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
from ledger.domain.election import declaration_message
from ledger.errors import LedgerError, VerificationError
from ledger.format.checkpoint import open_checkpoint
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

    def to_json(self) -> dict[str, Any]:
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
        }


def _fail(message: str, **evidence: Any) -> AuditFailure:
    return AuditFailure(message, **evidence)


def audit(
    records: Iterable[Header | ExportEntry | ExportCheckpoint],
    *,
    ledger_keys: Iterable[str] = (),
    counter_keys: Iterable[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Audit an export. Keys are verifier strings; with none given, the header's keys are
    used and the report says the keys were not pinned."""
    report = AuditReport()
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
    roots: dict[int, bytes] = {}
    state = fl.initial(header.election)
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
        state = fl.apply(
            state,
            record.index,
            record.body,
            leaf_hash=record.leaf_hash,
            chain_hash=record.chain_hash,
        )
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
    _recount(state, counters, report)


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
