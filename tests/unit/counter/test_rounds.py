"""Release rounds, repeated events, acceptance promises and ballots across a withdrawal, on logs
built in memory (docs/log-format.md §10, "Release rounds")."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pytest

from counter.tally import fold as fl
from counter.tally import rounds as rd
from counter.tally.audit import AuditFailure, promises_from_json
from ledger.domain import election as el
from ledger.format.acceptance import AcceptanceSigner, event_hash
from ledger.format.canonical import canonical_bytes
from ledger.format.entry import template
from ledger.format.keys import Signer

EID = "e1"
T0 = "2026-11-23T09:00:00.000Z"


def t(second: int) -> str:
    return f"2026-11-23T09:00:{second:02d}.000Z"


def definition(k: int, sealed: bool) -> dict[str, Any]:
    return {
        "title": "Rounds",
        "sealed": sealed,
        "round_size": k,
        "contests": [
            {
                "id": "members",
                "title": "Members",
                "seats": 1,
                "method": {"type": "stv", "rule": "scottish"},
                "candidates": [{"id": x, "name": x.upper()} for x in ("a", "b", "c")],
            },
            {
                "id": "youth",
                "title": "Youth",
                "seats": 1,
                "method": {"type": "bloc"},
                "candidates": [{"id": "y1", "name": "Y1"}, {"id": "y2", "name": "Y2"}],
            },
        ],
    }


class Log:
    """An election's entries, written as the ledger writes them, up to an open poll."""

    def __init__(
        self,
        k: int = 3,
        *,
        sealed: bool = False,
        eligible: int = 50,
        young: int = 2,
        flags: dict[str, bool] | None = None,
        withdrawn_before: str | None = None,
    ) -> None:
        self.k, self.sealed = k, sealed
        self.bodies: list[bytes] = []
        self.salts: dict[int, tuple[str, list[str], bytes]] = {}
        self.add(
            "election_defined", {"definition": definition(k, sealed), "keys": {"ledger": ["k"]}}
        )
        counts = {"members": eligible, "youth": young}
        contests: dict[str, dict[str, Any]] = {}
        for c, n in counts.items():
            contests[c] = {"eligible": n, "roll_hash": "00" * 32}
            if (flags or {}).get(c, n < k):
                contests[c]["below_round_size"] = True
        self.add("roll_published", {"voters": eligible, "contests": contests})
        if withdrawn_before:
            self.withdraw(withdrawn_before)
        self.add("poll_opened", {})

    def add(self, kind: str, event: dict[str, Any], time: str = T0) -> int:
        index = len(self.bodies)
        self.bodies.append(template(EID, kind, event).render(index, time))
        return index

    def event(self, contest: str, selections: list[str]) -> dict[str, Any]:
        n = len(self.bodies)
        if self.sealed:
            salt = hashlib.sha256(b"salt %d" % n).digest()
            commitment = el.commitment(EID, contest, selections, salt)
            self.salts[n] = (contest, selections, salt)
            return {"contest": contest, "commitment": commitment}
        return {"contest": contest, "selections": selections, "nonce": f"{n:064x}"}

    def round(self, contest: str, papers: list[list[str]], time: str) -> list[int]:
        return [self.add("ballot_cast", self.event(contest, p), time) for p in papers]

    def withdraw(self, candidate: str, time: str = T0) -> int:
        event = {"contest": "members", "candidate": candidate, "reason": "withdrawn"}
        return self.add("candidate_withdrawn", event, time)

    def close(self, time: str) -> int:
        return self.add("poll_closed", {}, time)

    def open_all(self) -> None:
        for index, (contest, selections, salt) in self.salts.items():
            event = {
                "contest": contest,
                "cast_index": index,
                "selections": selections,
                "salt": salt.hex(),
            }
            self.add("ballot_opened", event, t(59))


def check(log: Log, promises: Sequence[rd.Promise] = ()) -> tuple[fl.FoldState, rd.RoundsSummary]:
    state = fl.initial(EID)
    rounds = rd.RoundCheck(election=EID, promises=promises)
    for i, body in enumerate(log.bodies):
        state, entry = fl.apply_entry(state, i, body)
        rounds.add(i, entry, body)
    return state, rounds.finish(state.phase.require_definition())


def refused(log: Log) -> rd.RoundError:
    with pytest.raises(rd.RoundError) as err:
        check(log)
    return err.value


def test_rounds_of_k_and_a_whole_small_contest_at_the_close_pass() -> None:
    """Rounds of at least K, and a contest with fewer than K ballots in all released as one
    round at the close, pass; the summary counts rounds and lists the flagged contest."""
    log = Log(k=3)
    log.round("members", [["a"], ["b"], ["c"]], t(1))
    log.round("members", [["a"], ["b"], ["c"], ["a", "b"]], t(2))
    log.round("members", [["c"], ["b"], ["a"]], t(3))
    log.round("youth", [["y1"], ["y2"]], t(3))
    log.close(t(3))
    _, summary = check(log)
    assert summary.round_size == 3 and summary.below_round_size == ("youth",)
    assert summary.to_json()["rounds"] == {
        "members": {"rounds": 3, "ballots": 10, "smallest": 3},
        "youth": {"rounds": 1, "ballots": 2, "smallest": 2},
    }


def test_a_round_smaller_than_k_is_refused() -> None:
    """A release round of fewer than K ballots, when the contest has others, is refused with
    its first index, size and K."""
    log = Log(k=3)
    first = log.round("members", [["a"], ["b"]], t(1))[0]
    log.round("members", [["a"], ["b"], ["c"]], t(2))
    log.close(t(2))
    err = refused(log)
    assert err.message == "a release round holds fewer than round_size ballots"
    wanted = {"contest": "members", "index": first, "size": 2, "round_size": 3}
    assert {k: err.evidence[k] for k in wanted} == wanted


def test_two_time_stamps_in_one_run_are_two_rounds() -> None:
    """A run of one contest's ballots with two time stamps is two rounds, each held to K: five
    ballots as 3 + 2 are refused at the close even though the run holds five."""
    log = Log(k=3)
    log.round("members", [["a"], ["b"], ["c"]], t(1))
    second = log.round("members", [["a"], ["b"]], t(2))[0]
    log.close(t(2))
    err = refused(log)
    assert err.evidence["index"] == second and err.evidence["size"] == 2
    assert err.evidence["rounds"] == 2 and err.evidence["at_close"] is True


def test_a_small_only_round_must_be_released_at_the_close() -> None:
    """A contest's only round below K passes only at the close: released during the poll (an
    entry between it and poll_closed), it is refused."""
    log = Log(k=3)
    youth = log.round("youth", [["y1"], ["y2"]], t(1))[0]
    log.withdraw("c", t(2))
    log.round("members", [["a"], ["b"], ["a"]], t(3))
    log.close(t(3))
    err = refused(log)
    assert err.evidence["contest"] == "youth" and err.evidence["index"] == youth
    assert err.evidence["at_close"] is False


def test_a_repeated_event_is_refused_with_its_indices() -> None:
    """Two ballot_cast entries with one event (a replayed nonce) are refused, naming both
    indices and the event hash."""
    log = Log(k=2)
    event = {"contest": "members", "selections": ["a"], "nonce": "ab" * 32}
    first = log.add("ballot_cast", event, t(1))
    log.add("ballot_cast", {**event, "nonce": "cd" * 32}, t(1))
    again = log.add("ballot_cast", event, t(2))
    log.add("ballot_cast", {**event, "nonce": "ef" * 32}, t(2))
    log.close(t(2))
    err = refused(log)
    assert err.message == "an event appears twice among the ballots"
    assert err.evidence["indices"] == [first, again]
    assert err.evidence["event_hash"] == hashlib.sha256(canonical_bytes(event)).hexdigest()
    assert err.evidence["repeated_events"] == 1


def test_a_ballot_after_poll_closed_is_refused() -> None:
    """A ballot_cast after poll_closed is illegal in its phase: the fold refuses it."""
    log = Log(k=1)
    log.round("members", [["a"]], t(1))
    log.close(t(1))
    late = log.round("members", [["b"]], t(2))[0]
    with pytest.raises(fl.FoldError) as err:
        check(log)
    assert err.value.evidence["index"] == late and "not valid here" in err.value.message


def test_the_roll_must_flag_exactly_the_contests_below_k() -> None:
    """`below_round_size` missing on a contest whose roll is below K, or present on one that
    is not, is refused."""
    for flags in ({"youth": False}, {"members": True}):
        log = Log(k=3, flags=flags)
        log.close(t(1))
        err = refused(log)
        assert err.message == "roll_published flags below_round_size wrongly"
        assert err.evidence["contest"] == next(iter(flags))


def test_promises_released_waiting_and_broken() -> None:
    """A promised event in the log is released (with its index); one missing while the poll
    is open is waiting; once poll_closed is in the log it is a broken promise."""
    log = Log(k=2)
    cast = log.round("members", [["a"], ["b"]], t(1))
    kept = json.loads(log.bodies[cast[1]])["event"]

    def promise(event: dict[str, Any]) -> rd.Promise:
        return rd.Promise(election=EID, contest="members", event_hash=event_hash(event))

    missing = {"contest": "members", "selections": ["c"], "nonce": "77" * 32}
    _, summary = check(log, [promise(kept), promise(missing)])
    assert summary.released == ((promise(kept), cast[1]),)
    assert summary.waiting == (promise(missing),) and summary.broken == ()
    log.close(t(2))
    _, summary = check(log, [promise(kept), promise(missing)])
    assert summary.broken == (promise(missing),) and summary.waiting == ()


def test_event_hash_is_sha256_of_the_events_canonical_bytes() -> None:
    """The hash the check takes from an entry's bytes is SHA-256(JCS(event)), for both
    ballot forms."""
    for sealed in (False, True):
        log = Log(k=1, sealed=sealed)
        log.round("members", [["b", "a"]], t(1))
        log.close(t(1))
        event = json.loads(log.bodies[-2])["event"]
        _, summary = check(
            log, [rd.Promise(election=EID, contest="members", event_hash=event_hash(event))]
        )
        assert [i for _, i in summary.released] == [len(log.bodies) - 2]
        assert event_hash(event) == hashlib.sha256(canonical_bytes(event)).digest()


def test_a_ballot_released_after_a_withdrawal_is_valid_and_counts_as_withdrawn() -> None:
    """An open ballot naming a candidate who withdrew after poll_opened, released after the
    withdrawal, is valid; the count treats the candidate as withdrawn (preferences pass on)."""
    log = Log(k=2)
    log.round("members", [["b", "a"], ["c"]], t(1))
    log.withdraw("b", t(2))
    log.round("members", [["b", "a"], ["b", "a"]], t(3))
    log.round("members", [["c"], ["a"]], t(4))
    log.close(t(4))
    state, _ = check(log)
    profile = fl.profile_of(state, "members")
    assert [c.withdrawn for c in profile.candidates] == [False, True, False]
    _, document = fl.count_contest(state, "members")
    assert document["elected_ids"] == ["a"]
    assert document["rounds"][0]["tallies"] == {"A": "4.00000", "C": "2.00000"}


def test_a_sealed_ballot_opened_after_a_withdrawal_is_valid() -> None:
    """A sealed ballot naming a candidate who withdrew during the poll opens as valid; the
    count treats the candidate as withdrawn."""
    log = Log(k=1, sealed=True)
    log.round("members", [["b", "c"]], t(1))
    log.withdraw("b", t(2))
    log.round("members", [["b", "a"]], t(3))
    log.close(t(3))
    log.open_all()
    state, _ = check(log)
    _, document = fl.count_contest(state, "members")
    assert document["rounds"][0]["tallies"] == {"A": "1.00000", "C": "1.00000"}


@pytest.mark.parametrize("sealed", [False, True])
def test_a_ballot_naming_a_candidate_withdrawn_before_the_poll_is_refused(sealed: bool) -> None:
    """A ballot (open, or a sealed one's opening) naming a candidate not standing when the poll
    opened is invalid."""
    log = Log(k=1, sealed=sealed, withdrawn_before="b")
    cast = log.round("members", [["b", "a"]], t(1))[0]
    log.close(t(1))
    log.open_all()
    with pytest.raises(fl.FoldError) as err:
        check(log)
    assert err.value.evidence["index"] == (len(log.bodies) - 1 if sealed else cast)
    assert err.value.evidence.get("candidate", "b") == "b"
    assert "invalid" in err.value.message


def test_promises_from_receipts_and_cast_answers() -> None:
    """An acceptance receipt, a whole cast answer and an array give their promises, each with
    its receipt; anything else, or a malformed receipt, is refused."""
    signer = AcceptanceSigner(Signer(name="test/ledger", seed=bytes(32)))
    members, youth = signer.sign_batch(
        election=EID,
        origin="test/elections/e1",
        checkpoint=(3, bytes(32)),
        time="2026-11-23T09:00:00.123456Z",
        items=[("members", b"\xab" * 32), ("youth", b"\xcd" * 32)],
    )
    answer = {
        "submission_id": "s1",
        "receipts": {"members": members.to_json(), "youth": youth.to_json()},
    }
    got = promises_from_json([answer, members.to_json()], source="f")
    assert [(p.contest, p.event_hash.hex(), p.source, p.receipt) for p in got] == [
        ("members", "ab" * 32, "f", members),
        ("youth", "cd" * 32, "f", youth),
        ("members", "ab" * 32, "f", members),
    ]
    receipt = members.to_json()
    for bad in ({**receipt, "stage": "released"}, {**receipt, "event_hash": "AB" * 32}, 5):
        with pytest.raises(AuditFailure):
            promises_from_json(bad)
