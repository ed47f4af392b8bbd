"""Broken-promise evidence: proven only by a signed log prefix with poll_closed and without
the promised event; every forged or incomplete document is refused with its reason."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.format import merkle
from ledger.format.acceptance import (
    AcceptanceReceipt,
    CheckpointRef,
    event_hash,
    sign_acceptances,
)
from ledger.format.checkpoint import Checkpoint, sign_checkpoint
from ledger.format.entry import template
from ledger.format.evidence import (
    broken_promise_evidence,
    check_evidence,
    log_state,
)
from ledger.format.keys import Keyring, Signer

SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(range(32)))
OTHER = Signer(name="ballot-ledger.test/other", seed=bytes(range(1, 33)))
ELECTION = "e1"
ORIGIN = "ballot-ledger.test/elections/e1"
TIME = "2026-11-23T05:21:16.123Z"


def _ballot(n: int) -> dict[str, Any]:
    return {
        "contest": "members",
        "selections": [f"c{n % 5:02d}"],
        "nonce": hashlib.sha256(b"%d" % n).hexdigest(),
    }


@dataclass
class Log:
    entries: list[str]
    tree: merkle.MemoryTree

    def note(self, size: int | None = None, signer: Signer = SIGNER, origin: str = ORIGIN) -> str:
        size = self.tree.size if size is None else size
        cp = Checkpoint(origin=origin, size=size, root=self.tree.root(size))
        return sign_checkpoint(cp, [signer]).note

    def ref(self, size: int) -> CheckpointRef:
        return CheckpointRef(size=size, root=self.tree.root(size))


def _log(events: list[tuple[str, dict[str, Any]]], election: str = ELECTION) -> Log:
    """A log of ``(type, event)`` entries, built in memory as the ledger writes them."""
    texts = [
        template(election, kind, event).render(i, TIME).decode()
        for i, (kind, event) in enumerate(events)
    ]
    tree = merkle.MemoryTree()
    tree.extend(merkle.leaf_hash(t.encode()) for t in texts)
    return Log(entries=texts, tree=tree)


def _events(ballots: list[int], close_after: int | None) -> list[tuple[str, dict[str, Any]]]:
    """A poll: poll_opened, the ballots, and poll_closed after the first ``close_after``."""
    out: list[tuple[str, dict[str, Any]]] = [("poll_opened", {})]
    for n, b in enumerate(ballots):
        if n == close_after:
            out.append(("poll_closed", {}))
        out.append(("ballot_cast", _ballot(b)))
    if close_after is not None and close_after >= len(ballots):
        out.append(("poll_closed", {}))
    return out


def _receipt(log: Log, at: int, ballot: int = 999) -> AcceptanceReceipt:
    """An acceptance receipt for ``ballot``, given when the log had ``at`` entries."""
    event = _ballot(ballot)
    r = sign_acceptances(
        SIGNER,
        election=ELECTION,
        origin=ORIGIN,
        checkpoint=log.ref(at),
        time="2026-11-23T05:21:16.123456Z",
        items=[("members", event_hash(_ballot(b))) for b in (ballot, 1000, 1001)],
    )[0]
    return AcceptanceReceipt.from_json({**r.to_json(), "event": event})


def _withheld() -> tuple[Log, AcceptanceReceipt, dict[str, Any]]:
    """Ballot 999 accepted at size 3, never released; the poll closed after 6 others."""
    log = _log(_events([1, 2, 3, 4, 5, 6], close_after=6))
    receipt = _receipt(log, 3)
    return (
        log,
        receipt,
        broken_promise_evidence(receipt, [SIGNER.verifier.text()], log.note(), log.entries),
    )


def test_a_withheld_ballot_is_proven_a_broken_promise() -> None:
    """A receipt, a signed checkpoint covering poll_closed and its whole log without the event:
    proven, offline, also after a trip through JSON and with the keys pinned."""
    _, receipt, evidence = _withheld()
    verdict = check_evidence(json.loads(json.dumps(evidence)))
    assert verdict.proven, verdict
    assert verdict.details["poll_closed"] == 7 and verdict.details["code"] == receipt.code
    assert check_evidence(evidence, Keyring([SIGNER.verifier])).proven
    assert json.loads(json.dumps(verdict.to_json()))["proven"] is True


def test_a_ballot_appended_after_poll_closed_is_a_broken_promise() -> None:
    """The promise is "before poll_closed": the event appended after it is proven broken too."""
    log = _log([*_events([1, 2, 3], close_after=3), ("ballot_cast", _ballot(999))])
    verdict = check_evidence(
        broken_promise_evidence(_receipt(log, 2), [SIGNER.verifier.text()], log.note(), log.entries)
    )
    assert verdict.proven and verdict.details["appended_after_close"] == 5


def test_a_kept_or_still_open_promise_is_not_proven() -> None:
    """The event before poll_closed (kept), or a log with no poll_closed yet (still stands):
    not proven, and the reason says which."""
    kept = _log(_events([1, 999, 2], close_after=3))
    verdict = check_evidence(
        broken_promise_evidence(
            _receipt(kept, 1), [SIGNER.verifier.text()], kept.note(), kept.entries
        )
    )
    assert not verdict.proven and "kept" in verdict.reason
    assert verdict.details["index"] == 2
    open_ = _log(_events([1, 2, 3], close_after=None))
    verdict = check_evidence(
        broken_promise_evidence(
            _receipt(open_, 1), [SIGNER.verifier.text()], open_.note(), open_.entries
        )
    )
    assert not verdict.proven and "no poll_closed" in verdict.reason


def _resign_receipt(evidence: dict[str, Any], **changes: Any) -> None:
    """Replace the evidence's receipt by one signed (by the ledger key) with ``changes``."""
    r = AcceptanceReceipt.from_json(evidence["receipt"])
    fields = {
        "election": r.election,
        "origin": r.origin,
        "checkpoint": r.checkpoint,
        "time": r.time,
    }
    fields.update(changes)
    new = sign_acceptances(SIGNER, items=[(r.contest, r.event_hash)], **fields)[0]
    evidence["receipt"] = new.to_json()


def _forgeries() -> list[tuple[str, Any, str]]:
    log, _, _ = _withheld()
    other_log = _log(_events([1, 2, 3, 4, 5, 6, 7], close_after=7), election="e2")

    def flip_signature(e: dict[str, Any]) -> None:
        sig = e["receipt"]["signature"]
        e["receipt"]["signature"] = ("B" if sig[0] == "A" else "A") + sig[1:]

    return [
        ("receipt signature", flip_signature, "does not verify"),
        ("receipt by another key", lambda e: e.update(keys=[OTHER.verifier.text()]), "unknown key"),
        (
            "checkpoint by another key",
            lambda e: e.update(checkpoint=log.note(signer=OTHER)),
            "no signature by a trusted key",
        ),
        (
            "checkpoint of another log",
            lambda e: e.update(checkpoint=log.note(origin=ORIGIN + "x")),
            "another log",
        ),
        ("an entry left out", lambda e: e["entries"].pop(4), "number differs"),
        (
            "an entry changed",
            lambda e: e["entries"].__setitem__(5, e["entries"][5].replace("c00", "c01")),
            "root",
        ),
        (
            "entries swapped",
            lambda e: e["entries"].__setitem__(slice(2, 4), e["entries"][3:1:-1]),
            "out of place",
        ),
        (
            "an entry not canonical",
            lambda e: e["entries"].__setitem__(2, e["entries"][2].replace(":", ": ", 1)),
            "malformed",
        ),
        (
            "another election's log",
            lambda e: e.update(entries=other_log.entries, checkpoint=other_log.note()),
            "out of place",
        ),
        (
            "an older checkpoint",
            lambda e: e.update(checkpoint=log.note(2), entries=log.entries[:2]),
            "older",
        ),
        (
            "the receipt saw another log",
            lambda e: _resign_receipt(e, checkpoint=CheckpointRef(size=3, root=bytes(32))),
            "does not extend",
        ),
        ("wrong kind", lambda e: e.update(kind="kept-promise"), "kind"),
        ("an extra member", lambda e: e.update(note="x"), "exactly"),
        ("keys not texts", lambda e: e.update(keys=[7]), "keys"),
        ("a malformed key", lambda e: e.update(keys=["nope"]), "verifier key"),
        ("a malformed receipt", lambda e: e["receipt"].pop("blind"), "wrong members"),
        (
            "a receipt event that is not its hash",
            lambda e: e["receipt"].update(event=_ballot(5)),
            "does not hash",
        ),
        ("entries not a list", lambda e: e.update(entries="x"), "entries"),
        ("an entry not a string", lambda e: e["entries"].__setitem__(1, 7), "not a string"),
    ]


@pytest.mark.parametrize(
    ("name", "forge", "reason"), _forgeries(), ids=[f[0] for f in _forgeries()]
)
def test_forged_or_incomplete_evidence_is_refused(name: str, forge: Any, reason: str) -> None:
    """Each forgery of a withheld ballot's evidence is refused, with the failed check as the
    reason: nothing but the real signed log prefix proves a broken promise."""
    _, _, evidence = _withheld()
    forged = copy.deepcopy(evidence)
    forge(forged)
    verdict = check_evidence(forged)
    assert not verdict.proven
    assert reason in verdict.reason, verdict


def test_pinned_keys_override_the_documents_keys() -> None:
    """A document whose keys are not the pinned ones does not prove anything."""
    _, _, evidence = _withheld()
    verdict = check_evidence(evidence, Keyring([OTHER.verifier]))
    assert not verdict.proven and "unknown key" in verdict.reason
    assert not check_evidence([evidence]).proven


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    data=st.data(),
)
def test_log_state_finds_the_close_and_the_event(n: int, data: st.DataObject) -> None:
    """For any log, receipt checkpoint and places of poll_closed and of the event (or none):
    log_state says where each is, and the promise is broken exactly when the log has
    poll_closed and the event is not before it."""
    ballots = list(range(n))
    place = data.draw(st.one_of(st.none(), st.integers(0, n)))
    if place is not None:
        ballots.insert(place, 999)
    close = data.draw(st.one_of(st.none(), st.integers(0, len(ballots))))
    log = _log(_events(ballots, close))
    at = data.draw(st.integers(0, log.tree.size))
    receipt = _receipt(log, at)
    cp = Checkpoint(origin=ORIGIN, size=log.tree.size, root=log.tree.root())
    state = log_state(receipt, cp, log.entries)
    kinds = [json.loads(t)["type"] for t in log.entries]
    closed_at = kinds.index("poll_closed") if "poll_closed" in kinds else None
    found_at = next(
        (i for i, t in enumerate(log.entries) if json.loads(t)["event"] == _ballot(999)), None
    )
    assert (state.closed_at, state.found_at) == (closed_at, found_at)
    assert state.broken == (closed_at is not None and (found_at is None or found_at > closed_at))
    evidence = broken_promise_evidence(receipt, [SIGNER.verifier.text()], log.note(), log.entries)
    assert check_evidence(evidence).proven == state.broken
