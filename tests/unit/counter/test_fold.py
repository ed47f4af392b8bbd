"""The log fold: incremental and from-scratch agree; every kind of tampering is caught."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.bench import synthetic
from counter.tally import fold as fl
from ledger.domain import schemas
from ledger.format.entry import template


@cache
def sealed_log() -> synthetic.SyntheticLog:
    return synthetic.build(voters=120, seed=3)


@cache
def open_log() -> synthetic.SyntheticLog:
    return synthetic.build(voters=120, seed=4, sealed=False)


def from_scratch(log: synthetic.SyntheticLog, upto: int) -> fl.FoldState:
    return fl.fold(fl.initial(log.election), enumerate(log.entries[:upto]))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_incremental_fold_in_any_chunking_equals_recount(data: st.DataObject) -> None:
    """Folding in random chunks, restarting from the persisted prefix at random points, gives
    at every chunk end the same tallies as a recount from scratch, and the same final count."""
    log = data.draw(st.sampled_from([sealed_log(), open_log()]))
    n = len(log.entries)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=8))))
    state = fl.initial(log.election)
    start = 0
    for end in [*cuts, n]:
        if data.draw(st.booleans()):
            # A restart: the follower rebuilds its state from the prefix it had stored.
            state = from_scratch(log, start)
        for i in range(start, end):
            state = fl.apply(
                state, i, log.entries[i], leaf_hash=log.leaves[i], chain_hash=log.chains[i]
            )
        assert fl.running(state) == fl.running(from_scratch(log, end))
        start = end
    assert state.root == log.tree.root() and state.chain_head == log.chains[-1]
    for contest in ("members", "youth"):
        assert (
            fl.count_contest(state, contest)[1]
            == fl.count_contest(from_scratch(log, n), contest)[1]
        )


def test_declarations_match_the_recount() -> None:
    """The synthetic counter's declarations carry the hash of the recounted result."""
    state = from_scratch(sealed_log(), len(sealed_log().entries))
    for contest, declared in state.declarations.items():
        _, document = fl.count_contest(state, contest)
        assert declared["result_hash"] == fl.result_hash(document)
        assert declared["elected"] == document["elected_ids"]


def test_sealed_tallies_stay_hidden_until_opened() -> None:
    """While the poll is open, a sealed election's running tallies have turnout only."""
    log = sealed_log()
    open_at = next(i for i, e in enumerate(log.entries) if b'"type":"poll_closed"' in e)
    view = fl.running(from_scratch(log, open_at))
    assert all("first_preferences" not in c and "votes" not in c for c in view["contests"].values())
    assert view["contests"]["members"]["cast"] > 0
    live = fl.running(from_scratch(open_log(), 60))
    assert "first_preferences" in live["contests"]["members"]


def _retemplate(body: bytes, **changes: object) -> bytes:
    import json

    value = json.loads(body)
    value["event"].update(changes)
    return template(value["election"], value["type"], value["event"]).render(
        value["index"], value["time"]
    )


def _index_of(log: synthetic.SyntheticLog, kind: str, nth: int = 0) -> int:
    hits = [i for i, e in enumerate(log.entries) if f'"type":"{kind}"'.encode() in e]
    return hits[nth]


def test_tampering_is_caught_with_evidence() -> None:
    """A changed byte, a removed or swapped entry, a bad opening, a ballot after close and a
    forged chain value each fail at the right index with the check named."""
    log = sealed_log()
    entries = list(log.entries)
    cast = _index_of(log, "ballot_cast", 3)
    opened = _index_of(log, "ballot_opened", 2)
    closed = _index_of(log, "poll_closed")

    def run(mutated: list[bytes]) -> fl.FoldError:
        with pytest.raises(fl.FoldError) as err:
            fl.fold(fl.initial(log.election), enumerate(mutated))
        return err.value

    changed = bytearray(entries[cast])
    changed[changed.index(b'"commitment":"') + 15] = ord("g")  # not hex: refused right there
    err = run([*entries[:cast], bytes(changed), *entries[cast + 1 :]])
    assert err.evidence["index"] == cast
    removed = run(entries[:cast] + entries[cast + 1 :])
    assert removed.evidence["index"] == cast and "another index" in removed.message
    swapped = run([*entries[:cast], entries[cast + 1], entries[cast], *entries[cast + 2 :]])
    assert swapped.evidence["index"] == cast
    bad_open = _retemplate(entries[opened], selections=["c00"])
    err = run([*entries[:opened], bad_open, *entries[opened + 1 :]])
    assert err.evidence["check"] == "opening does not match its commitment"
    late = _retemplate(entries[cast], commitment="ab" * 32)
    late = late.replace(f'"index":{cast},'.encode(), f'"index":{closed + 1},'.encode())
    err = run([*entries[: closed + 1], late])
    assert "not valid here" in err.message and err.evidence["index"] == closed + 1
    state = fl.fold(fl.initial(log.election), enumerate(entries[:cast]))
    with pytest.raises(fl.FoldError) as forged:
        fl.apply(state, cast, entries[cast], chain_hash=bytes(32))
    assert forged.value.evidence["check"] == "chain hash"


ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,3}|[A-Z]{1,2}|", fullmatch=True)
hexes = st.one_of(st.from_regex(r"[0-9a-f]{64}", fullmatch=True), st.text(max_size=3))
events = st.fixed_dictionaries(
    {},
    optional={
        "contest": st.one_of(ids, st.integers()),
        "commitment": hexes,
        "selections": st.one_of(st.lists(ids, max_size=3), ids),
        "cast_index": st.one_of(st.integers(-2, 5), st.booleans(), st.text(max_size=1)),
        "salt": hexes,
        "nonce": hexes,
        "extra": st.integers(),
    },
)


@given(st.sampled_from(["ballot_cast", "ballot_opened"]), events)
def test_fast_ballot_checks_agree_with_the_schemas(kind: str, event: dict[str, object]) -> None:
    """The hand-written ballot event checks accept exactly what the JSON Schemas accept."""
    expected = schemas.validator(f"urn:ballot-ledger:schema:events#/$defs/{kind}").is_valid(event)
    assert fl.valid_ballot_event(kind, event) == expected


def test_an_open_ballot_needs_its_nonce() -> None:
    """An unsealed ballot_cast carries `nonce` (64 lower-case hex, log format v2): with it the
    fast check and the schema accept it; without it, or with another nonce, both refuse."""
    event = {"contest": "members", "selections": ["c01", "c00"], "nonce": "0f" * 32}
    schema = schemas.validator("urn:ballot-ledger:schema:events#/$defs/ballot_cast")
    assert fl.valid_ballot_event("ballot_cast", event) and schema.is_valid(event)
    without = {k: v for k, v in event.items() if k != "nonce"}
    for bad in (without, {**event, "nonce": "0F" * 32}, {**event, "nonce": "0f" * 16}):
        assert not fl.valid_ballot_event("ballot_cast", bad) and not schema.is_valid(bad)


def test_minimum_applies_as_far_as_candidates_stand() -> None:
    """Under ``as_far_as_standing``, when fewer women stand than a contest's minimum, the
    minimum becomes the number standing, and the result document says so; with enough
    standing it is unchanged."""
    from counter.rules.model import Candidate, Profile
    from ledger.domain import election as el

    d = el.parse_definition(synthetic.definition(seats=3, candidates=6))
    contest = d.contest("members")
    assert [(k.value, k.min) for k in contest.constraints] == [("woman", 1)]
    women_gone = tuple(
        Candidate(id=c.id, name=c.name, gender=c.gender, withdrawn=c.gender == "woman")
        for c in contest.candidates
    )
    plan = fl.poll_plan(
        contest, Profile(candidates=women_gone, ballots=()), policy="as_far_as_standing"
    )
    assert plan.constraints == () and plan.seats == 3
    assert plan.notes == ["minimum gender=woman:1 applied as 0: only 0 such candidate(s) standing"]
    everyone = tuple(Candidate(id=c.id, name=c.name, gender=c.gender) for c in contest.candidates)
    plan = fl.poll_plan(contest, Profile(candidates=everyone, ballots=()))
    assert [k.minimum for k in plan.constraints] == [1] and plan.notes == []


def test_unmet_minimum_leaves_the_reserved_seats_vacant_by_default() -> None:
    """Under the default ``vacant`` policy, a minimum too few stand for leaves its unfilled
    reserved seats vacant: the poll is for fewer seats, and the document says so."""
    from counter.rules.model import Candidate, Profile
    from ledger.domain import election as el

    d = el.parse_definition(synthetic.definition(seats=3, candidates=6))
    contest = d.contest("members")
    women_gone = tuple(
        Candidate(id=c.id, name=c.name, gender=c.gender, withdrawn=c.gender == "woman")
        for c in contest.candidates
    )
    plan = fl.poll_plan(contest, Profile(candidates=women_gone, ballots=()))
    assert plan.seats == 2 and plan.reserved_vacant == 1 and plan.constraints == ()
    assert plan.notes == [
        "minimum gender=woman:1 cannot be met: only 0 such candidate(s) standing; "
        "1 reserved seat(s) left vacant"
    ]


def test_result_candidates_say_why_they_are_off_the_paper() -> None:
    """A result document's candidates each carry a ``status``: ``withdrawn`` (the only ones
    with ``withdrawn`` true), ``not validly nominated``, ``returned unopposed`` or
    ``standing``; a counted contest's document says the same."""
    from dataclasses import replace

    log = open_log()
    state = from_scratch(log, len(log.entries))
    contest = state.phase.require_definition().contest("members")
    ids = [x.id for x in contest.candidates]
    phase = replace(
        state.phase,
        withdrawn={"members": frozenset({ids[0]})},
        standing={"members": frozenset(ids) - {ids[1]}},
    )
    rows = [{"name": x.name, "withdrawn": True} for x in contest.candidates]
    out = fl.candidate_statuses(replace(state, phase=phase), contest, rows, {ids[2]})
    assert [(r["status"], r["withdrawn"]) for r in out[:4]] == [
        ("withdrawn", True),
        ("not validly nominated", False),
        ("returned unopposed", False),
        ("standing", False),
    ]
    assert {r["status"] for r in out[3:]} == {"standing"}
    _, document = fl.count_contest(state, "members")
    assert {c["status"] for c in document["candidates"]} <= set(fl.CANDIDATE_STATUSES)
    assert all(c["status"] == "standing" for c in document["candidates"])
