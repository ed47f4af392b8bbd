"""The log fold: verify every public entry of an election's log and fold it into tallies.

Pure: no I/O, no clock. The counter service applies it to entries as it follows the ledger's
feed; ``ballot audit`` applies it to a downloaded log. Both therefore check exactly the same
things, entry by entry:

- the index is the next one (no gap, no repeat) and the entry names this election;
- the bytes are RFC 8785 canonical and the envelope is well formed;
- the leaf hash and chain value recompute (and equal the published ones, when given);
- the event matches its JSON Schema and is legal in the election's phase
  (``ledger.domain.election.apply``);
- an open ballot's selections are valid for its contest against the candidates standing when
  the poll opened (a ballot accepted before a withdrawal may be released after it); a sealed
  ballot carries only a commitment; ballots per contest never exceed the published eligible
  count;
- every opening names an unopened sealed ballot of the same contest, its selections and
  salt reproduce that ballot's commitment, and they are valid as an open ballot's are.

Release rounds, the one-time use of each event and the promises of acceptance receipts need the
whole log: ``counter.tally.rounds``, run by ``ballot audit``, checks them.

State values are frozen; collections that grow with the log are persistent maps (``rpds``), so
``apply`` returns a new state in O(log n) without copying. The same fold over the same entries,
in any chunking, gives the same state: a property test pins it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from rpds import HashTrieMap

from counter.rules import count as count_profile
from counter.rules import report
from counter.rules import resolve as resolve_rule
from counter.rules.model import Candidate, Constraint, CountResult, Profile
from ledger.domain import election as el
from ledger.domain import returns as rt
from ledger.domain import schemas
from ledger.errors import LedgerError, VerificationError
from ledger.format import merkle
from ledger.format.canonical import canonical_bytes
from ledger.format.chain import GENESIS, chain_next
from ledger.format.entry import Entry, parse_entry

BALLOT_KINDS = ("ballot_cast", "ballot_opened")


class FoldError(VerificationError):
    """An entry of the log does not verify."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContestTally:
    cast: int = 0
    opened: int = 0
    profile: HashTrieMap[tuple[str, ...], int] = field(default_factory=HashTrieMap)
    """Selections (a tuple of candidate ids: ranked for STV, sorted for bloc) -> ballots."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnoutPoint:
    index: int
    time: str
    cast: Mapping[str, int]
    report: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FoldState:
    election: str
    size: int = 0
    chain_head: bytes = GENESIS
    edge: tuple[bytes, ...] = ()
    phase: el.ElectionState
    contests: Mapping[str, ContestTally] = field(default_factory=dict)
    pending: HashTrieMap[int, tuple[str, str]] = field(default_factory=HashTrieMap)
    """Sealed ballots not opened yet: cast index -> (contest, commitment)."""
    turnout: tuple[TurnoutPoint, ...] = ()
    declarations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    counted_at: tuple[int, bytes] | None = None
    """(size, root) once the poll has closed and every sealed ballot is open: the log the
    result is counted on, whose root seeds any lot."""
    last_time: str = ""

    @property
    def root(self) -> bytes:
        return merkle.CompactRange(size=self.size, hashes=list(self.edge)).root()


def initial(election: str) -> FoldState:
    return FoldState(election=election, phase=el.ElectionState(election_id=election))


def _fail(index: int, check: str, **evidence: Any) -> FoldError:
    return FoldError(f"entry {index}: {check}", index=index, check=check, **evidence)


_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_HASH = re.compile(r"[0-9a-f]{64}")


def _ids(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) <= 200
        and all(isinstance(x, str) and _ID.fullmatch(x) is not None for x in value)
    )


def valid_ballot_event(kind: str, ev: Any) -> bool:
    """The JSON Schemas of ``ballot_cast`` and ``ballot_opened``, checked by hand: these are
    nearly every entry of a log, and a generic validator costs ~25 µs each. A property test
    keeps this equal to the schema."""
    if not isinstance(ev, dict) or not isinstance(ev.get("contest"), str):
        return False
    if _ID.fullmatch(ev["contest"]) is None:
        return False
    keys = ev.keys()
    if kind == "ballot_cast":
        if keys == {"contest", "commitment"}:
            c = ev["commitment"]
            return isinstance(c, str) and _HASH.fullmatch(c) is not None
        if keys != {"contest", "selections", "nonce"}:
            return False
        n = ev["nonce"]
        return isinstance(n, str) and _HASH.fullmatch(n) is not None and _ids(ev["selections"])
    if kind == "ballot_opened":
        ci, salt = ev.get("cast_index"), ev.get("salt")
        return (
            keys == {"contest", "cast_index", "selections", "salt"}
            and isinstance(ci, int)
            and not isinstance(ci, bool)
            and ci >= 0
            and isinstance(salt, str)
            and _HASH.fullmatch(salt) is not None
            and _ids(ev["selections"])
        )
    return False


def _check_ballot_event(index: int, entry: Entry, d: el.Definition) -> None:
    ev = entry.event
    if not valid_ballot_event(entry.kind, ev):
        schemas.validate_event(entry.kind, ev)  # the schema's own words for what is wrong
        raise _fail(index, f"{entry.kind} does not match its schema")
    if entry.kind == "ballot_cast":
        if d.sealed and "commitment" not in ev:
            raise _fail(index, "a sealed election's ballot must carry only a commitment")
        if not d.sealed and "selections" not in ev:
            raise _fail(index, "an open election's ballot must carry its selections")


def apply(
    state: FoldState,
    index: int,
    body: bytes,
    *,
    leaf_hash: bytes | None = None,
    chain_hash: bytes | None = None,
) -> FoldState:
    """Verify entry ``index`` and fold it in. Raises ``FoldError`` with the evidence."""
    return apply_entry(state, index, body, leaf_hash=leaf_hash, chain_hash=chain_hash)[0]


def apply_entry(
    state: FoldState,
    index: int,
    body: bytes,
    *,
    leaf_hash: bytes | None = None,
    chain_hash: bytes | None = None,
) -> tuple[FoldState, Entry]:
    """:func:`apply`, also giving the parsed entry (for checks that read the whole log)."""
    if index != state.size:
        raise _fail(index, "index is not the next one", expected=state.size, found=index)
    try:
        entry = parse_entry(body)
    except LedgerError as exc:
        raise _fail(index, "entry bytes are not a canonical entry", error=exc.message) from exc
    if entry.index != index:
        raise _fail(index, "entry states another index", found=entry.index)
    if entry.election != state.election:
        raise _fail(
            index, "entry of another election", expected=state.election, found=entry.election
        )
    leaf = merkle.leaf_hash(body)
    if leaf_hash is not None and leaf_hash != leaf:
        raise _fail(index, "leaf hash", expected=leaf.hex(), found=leaf_hash.hex())
    chain = chain_next(state.chain_head, leaf)
    if chain_hash is not None and chain_hash != chain:
        raise _fail(index, "chain hash", expected=chain.hex(), found=chain_hash.hex())
    edge = merkle.CompactRange(size=state.size, hashes=list(state.edge))
    edge.append(leaf)
    try:
        if entry.kind in BALLOT_KINDS and state.phase.definition is not None:
            _check_ballot_event(index, entry, state.phase.definition)
        else:
            schemas.validate_event(entry.kind, entry.event)
        phase = el.apply(state.phase, entry.kind, entry.event)
    except FoldError:
        raise
    except LedgerError as exc:
        raise _fail(
            index, f"{entry.kind} is not valid here: {exc.message}", type=entry.kind, **exc.evidence
        ) from exc
    changes = _fold_event(state, phase, index, entry)
    new = FoldState(
        election=state.election,
        size=index + 1,
        chain_head=chain,
        edge=tuple(edge.hashes),
        phase=phase,
        contests=changes.get("contests", state.contests),
        pending=changes.get("pending", state.pending),
        turnout=changes.get("turnout", state.turnout),
        declarations=changes.get("declarations", state.declarations),
        counted_at=state.counted_at,
        last_time=entry.time,
    )
    if entry.kind in ("ballot_opened", "poll_closed"):
        return _maybe_complete(new), entry
    return new, entry


def _tally(state: FoldState, contest: str) -> ContestTally:
    return state.contests.get(contest, ContestTally())


def _fold_event(
    state: FoldState, phase: el.ElectionState, index: int, entry: Entry
) -> dict[str, Any]:
    """What the event changes in the state, besides the log's own hashes and the phase."""
    ev = entry.event
    kind = entry.kind
    d = phase.definition
    if kind == "election_defined":
        assert d is not None
        return {"contests": {c.id: ContestTally() for c in d.contests}}
    if kind == "ballot_cast":
        assert d is not None
        contest = d.contest(ev["contest"])
        if not phase.polled(contest.id):
            raise _fail(index, "a ballot in a contest that goes to no poll", contest=contest.id)
        tally = _tally(state, contest.id)
        eligible = phase.eligible.get(contest.id, 0)
        if tally.cast + 1 > eligible:
            raise _fail(
                index, "more ballots than eligible voters", contest=contest.id, eligible=eligible
            )
        if d.sealed:
            tally = ContestTally(cast=tally.cast + 1, opened=tally.opened, profile=tally.profile)
            return {
                "pending": state.pending.insert(index, (contest.id, ev["commitment"])),
                "contests": {**state.contests, contest.id: tally},
            }
        try:
            chosen = el.validate_selections(
                contest, ev["selections"], phase.ballot_not_standing(contest.id)
            )
        except LedgerError as exc:
            raise _fail(index, f"invalid ballot: {exc.message}", **exc.evidence) from exc
        profile = tally.profile.insert(chosen, tally.profile.get(chosen, 0) + 1)
        tally = ContestTally(cast=tally.cast + 1, opened=tally.opened, profile=profile)
        return {"contests": {**state.contests, contest.id: tally}}
    if kind == "ballot_opened":
        assert d is not None
        cast_index = ev["cast_index"]
        sealed = state.pending.get(cast_index)
        if sealed is None:
            raise _fail(index, "opening of no unopened sealed ballot", cast_index=cast_index)
        contest_id, committed = sealed
        if contest_id != ev["contest"]:
            raise _fail(
                index, "opening names another contest", expected=contest_id, found=ev["contest"]
            )
        salt = bytes.fromhex(ev["salt"])
        found = el.commitment(state.election, contest_id, ev["selections"], salt)
        if found != committed:
            raise _fail(
                index,
                "opening does not match its commitment",
                cast_index=cast_index,
                expected=committed,
                found=found,
            )
        contest = d.contest(contest_id)
        try:
            chosen = el.validate_selections(
                contest, ev["selections"], phase.ballot_not_standing(contest_id)
            )
        except LedgerError as exc:
            raise _fail(index, f"opened ballot is invalid: {exc.message}") from exc
        tally = _tally(state, contest_id)
        profile = tally.profile.insert(chosen, tally.profile.get(chosen, 0) + 1)
        tally = ContestTally(cast=tally.cast, opened=tally.opened + 1, profile=profile)
        return {
            "pending": state.pending.remove(cast_index),
            "contests": {**state.contests, contest_id: tally},
        }
    if kind == "turnout_reported":
        point = TurnoutPoint(
            index=index,
            time=entry.time,
            cast={c: t.cast for c, t in state.contests.items()},
            report=ev["contests"],
        )
        return {"turnout": (*state.turnout, point)}
    if kind == "result_declared":
        return {"declarations": {**state.declarations, ev["contest"]: dict(ev)}}
    return {}


def _maybe_complete(state: FoldState) -> FoldState:
    closed = state.phase.phase in ("poll_closed", "declared")
    if closed and len(state.pending) == 0 and state.counted_at is None:
        return replace(state, counted_at=(state.size, state.root))
    return state


def fold(state: FoldState, entries: Iterable[tuple[int, bytes]]) -> FoldState:
    for index, body in entries:
        state = apply(state, index, body)
    return state


# --- views -------------------------------------------------------------------------------------


def nominations(state: FoldState) -> dict[str, Any]:
    """Per contest: each candidate's nominations, share of nominating bodies, whether validly
    nominated (the contest's own threshold), totals per slate, how many bodies nominated each
    slate's whole combination, and what the close of nominations returned."""
    ps = state.phase
    d = ps.definition
    if d is None:
        return {}
    out: dict[str, Any] = {}
    for c in d.contests:
        counts = ps.nomination_counts(c.id)
        by_cand = ps.nominations.get(c.id, {})
        bodies = set().union(*by_cand.values()) if by_cand else set()
        total = len(bodies)
        slates: dict[str, int] = {}
        members: dict[str, list[str]] = {}
        rows = []
        for cand in c.candidates:
            n = counts[cand.id]
            if cand.slate:
                slates[cand.slate] = slates.get(cand.slate, 0) + n
                members.setdefault(cand.slate, []).append(cand.id)
            rows.append(
                {
                    "candidate": cand.id,
                    "name": cand.name,
                    "slate": cand.slate,
                    "nominations": n,
                    "share": f"{n / total:.4f}" if total else "0.0000",
                    "valid": n >= c.nomination_threshold,
                }
            )
        entry: dict[str, Any] = {
            "bodies": total,
            "threshold": c.nomination_threshold,
            "candidates": rows,
            "slates": slates,
            "full_slates": {
                slate: len(frozenset.intersection(*(by_cand.get(x, frozenset()) for x in ids)))
                for slate, ids in members.items()
            },
        }
        if c.nominators is not None:
            entry["by"] = list(c.nominators)
        ret = ps.returns.get(c.id)
        if ret is not None:
            entry["returns"] = ret.to_json()
            entry["notes"] = [u.note() for u in ret.unmet]
        out[c.id] = entry
    return out


def running(state: FoldState) -> dict[str, Any]:
    """Running tallies stamped with the log size and root they reflect: turnout always; vote
    tallies only where ballots are open (never for sealed ballots before they are opened)."""
    ps = state.phase
    d = ps.definition
    contests: dict[str, Any] = {}
    if d is not None:
        for c in d.contests:
            t = _tally(state, c.id)
            entry: dict[str, Any] = {
                "cast": t.cast,
                "eligible": ps.eligible.get(c.id, 0),
                "opened": t.opened,
            }
            if len(t.profile):
                first: dict[str, int] = {str(x.id): 0 for x in c.candidates}
                for selections, n in t.profile.items():
                    if c.method == "bloc":
                        for cid in selections:
                            first[cid] += n
                    elif selections:
                        first[selections[0]] += n
                entry["votes" if c.method == "bloc" else "first_preferences"] = first
            contests[c.id] = entry
    latest = state.turnout[-1] if state.turnout else None
    return {
        "election": state.election,
        "phase": ps.phase,
        "size": state.size,
        "root": state.root.hex(),
        "time": state.last_time,
        "contests": contests,
        "turnout_by_dimension": dict(latest.report) if latest and latest.report else {},
        "turnout_history": [
            {"index": p.index, "time": p.time, "cast": dict(p.cast)} for p in state.turnout
        ],
        "nominations": nominations(state),
    }


# --- final counts ------------------------------------------------------------------------------


class NotReady(LedgerError):
    """The contest cannot be counted yet: the poll is open or ballots are still sealed."""


def profile_of(state: FoldState, contest_id: str) -> Profile:
    """The contest's ballots as a grouped counting profile (candidates in definition order;
    those not on the ballot paper, returned unopposed included, marked withdrawn)."""
    d = state.phase.require_definition()
    c = d.contest(contest_id)
    gone = state.phase.off_the_paper(contest_id)
    index: dict[str, int] = {x.id: i for i, x in enumerate(c.candidates)}
    candidates = tuple(
        Candidate(id=x.id, name=x.name, gender=x.gender, slate=x.slate, withdrawn=x.id in gone)
        for x in c.candidates
    )
    ballots = sorted(
        (tuple(index[cid] for cid in sel), n) for sel, n in _tally(state, c.id).profile.items()
    )
    return Profile(candidates=candidates, ballots=tuple(ballots), seats=c.seats, title=c.title)


@dataclass(frozen=True, slots=True, kw_only=True)
class PollPlan:
    """What the poll of a contest counts for: its seats, its minimums as they apply."""

    seats: int
    constraints: tuple[Constraint, ...]
    unmet: tuple[rt.Unmet, ...]
    reserved_vacant: int

    @property
    def notes(self) -> list[str]:
        return [u.note() for u in self.unmet]


def poll_plan(
    contest: el.Contest,
    profile: Profile,
    returned: Collection[str] = frozenset(),
    policy: rt.Policy = rt.DEFAULT_POLICY,
) -> PollPlan:
    """The contest's minimums as they apply to the poll (docs/counting.md, "Unopposed returns
    and unmeetable minimums"), for the candidates standing now.

    Each minimum counts those of its group returned unopposed towards it; the rest must come
    from the candidates standing in the poll. When fewer of the group stand in all (returned
    or polled) than the minimum, it is unmet: under ``vacant`` the seats it cannot fill stay
    vacant; under ``as_far_as_standing`` the minimum becomes the number standing. Each is
    stated in the result document. The poll's seats are the contest's, less those returned,
    less the reserved seats left vacant.
    """
    out: list[Constraint] = []
    unmet: list[rt.Unmet] = []
    vacant = 0
    for k in contest.constraints:
        group = [x for x in profile.candidates if x.attribute(k.attribute) == k.value]
        already = sum(1 for x in group if x.id in returned)
        polled = sum(1 for x in group if not x.withdrawn)
        need = k.min - already
        if already + polled < k.min:
            u = rt.Unmet(
                attribute=k.attribute,
                value=k.value,
                min=k.min,
                standing=already + polled,
                policy=policy,
            )
            unmet.append(u)
            vacant += u.vacant
            need = polled
        if need > 0:
            out.append(Constraint(attribute=k.attribute, value=k.value, minimum=need))
    seats = max(0, contest.seats - len(returned) - vacant)
    return PollPlan(seats=seats, constraints=tuple(out), unmet=tuple(unmet), reserved_vacant=vacant)


def _no_poll(rule: str, profile: Profile, seats: int, root: bytes) -> CountResult:
    """The result of a contest that went to no poll: no ballots, no rounds, no one elected
    by a count (those returned unopposed are added by ``count_contest``)."""
    chosen = resolve_rule(rule)
    return CountResult(
        rule=chosen.name,
        rule_title=chosen.title,
        candidates=profile.candidates,
        seats=seats,
        valid_ballots=0,
        invalid_ballots=0,
        quota=Fraction(0),
        decimals=chosen.decimals,
        elected=(),
        rounds=(),
        seed=root.hex(),
    )


def count_contest(state: FoldState, contest_id: str) -> tuple[CountResult, dict[str, Any]]:
    """Count one contest by its rule and constraints, the lot seeded by the counted root.

    Those returned unopposed at the close of nominations come first among the elected; the
    poll, if any, fills the seats left. Returns the result and its JSON report, which carries
    ``counted_size``/``counted_root``.
    """
    if state.counted_at is None:
        raise NotReady(contest=contest_id, phase=state.phase.phase, sealed=len(state.pending))
    size, root = state.counted_at
    d = state.phase.require_definition()
    c = d.contest(contest_id)
    rule = "bloc" if c.method == "bloc" else (c.rule or "scottish")
    profile = profile_of(state, contest_id)
    ret = state.phase.returns.get(contest_id)
    unopposed = ret.unopposed if ret is not None else ()
    returned = frozenset(cid for cid, _ in unopposed)
    plan = poll_plan(c, profile, returned, d.unmet_minimum)
    polled = state.phase.polled(contest_id) and plan.seats > 0
    if polled:
        result = count_profile(profile, rule, plan.seats, plan.constraints, root)
    else:
        result = _no_poll(rule, profile, plan.seats, root)
    index: dict[str, int] = {x.id: i for i, x in enumerate(c.candidates)}
    first = tuple(index[cid] for cid, _ in unopposed)
    result = replace(
        result,
        seats=c.seats,
        elected=first + result.elected,
        candidates=tuple(
            replace(x, withdrawn=False) if x.id in returned else x for x in result.candidates
        ),
    )
    document = report.to_json(result)
    document["candidates"] = candidate_statuses(state, c, document["candidates"], returned)
    if not polled:
        document["outcome"] = "returned unopposed" if returned else document["outcome"]
    document["constraints_adjusted"] = plan.notes
    document["minimums_unmet"] = [u.to_json() for u in plan.unmet]
    document["returned_unopposed"] = [
        {"candidate": cid, "name": c.candidates[index[cid]].name, "under": under}
        for cid, under in unopposed
    ]
    document["polled_seats"] = plan.seats if polled else 0
    document["slates"] = _slate_seats(c, result)
    document["contest"] = contest_id
    document["elected_ids"] = [result.candidates[i].id for i in result.elected]
    document["counted_size"] = size
    document["counted_root"] = root.hex()
    return result, document


CANDIDATE_STATUSES = ("standing", "returned unopposed", "withdrawn", "not validly nominated")
"""A candidate's ``status`` in a result document (docs/counting.md, "The ledger's result")."""


def candidate_statuses(
    state: FoldState,
    contest: el.Contest,
    rows: Sequence[Mapping[str, Any]],
    returned: Collection[str],
) -> list[dict[str, Any]]:
    """The result document's candidates, each with its ``status``: ``standing`` (on the
    ballot paper), ``returned unopposed``, ``withdrawn`` (a ``candidate_withdrawn``) or
    ``not validly nominated`` (left out at the close of nominations); ``withdrawn`` is true
    for the withdrawn alone. Rows are in the definition's order, as the count's candidates."""
    status = statuses(state, contest, returned)
    return [
        {**row, "withdrawn": status[x.id] == "withdrawn", "status": status[x.id]}
        for x, row in zip(contest.candidates, rows, strict=True)
    ]


def statuses(
    state: FoldState, contest: el.Contest, returned: Collection[str] = frozenset()
) -> dict[el.CandidateId, str]:
    """Each candidate's status by id: ``returned unopposed`` (one of ``returned``),
    ``withdrawn`` (a ``candidate_withdrawn``), ``not validly nominated`` (left out at the
    close of nominations), else ``standing``."""
    ps = state.phase
    gone = ps.withdrawn.get(contest.id, frozenset())
    standing = None if ps.standing is None else ps.standing.get(contest.id, frozenset())
    out: dict[el.CandidateId, str] = {}
    for x in contest.candidates:
        if x.id in returned:
            out[x.id] = "returned unopposed"
        elif x.id in gone:
            out[x.id] = "withdrawn"
        elif standing is not None and x.id not in standing:
            out[x.id] = "not validly nominated"
        else:
            out[x.id] = "standing"
    return out


def before_status(document: Mapping[str, Any]) -> dict[str, Any]:
    """The result document in the form counters wrote before candidates had a ``status``
    (every candidate off the ballot paper ``withdrawn``, returned unopposed included only as
    not withdrawn): ``ballot audit`` accepts a declaration of either form, so a log declared
    by an older counter still audits."""
    rows = [
        {k: v for k, v in c.items() if k != "status"}
        | {"withdrawn": c.get("status") in ("withdrawn", "not validly nominated")}
        for c in document.get("candidates", [])
    ]
    return {**document, "candidates": rows}


def _slate_seats(contest: el.Contest, result: CountResult) -> dict[str, int]:
    """Seats won per slate, every slate of the contest listed (0 when it won none)."""
    won = {x.slate: 0 for x in contest.candidates if x.slate}
    for i in result.elected:
        slate = result.candidates[i].slate
        if slate:
            won[slate] += 1
    return won


def result_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the RFC 8785 encoding of a result document: what a declaration signs for."""
    return hashlib.sha256(canonical_bytes(document, limit=None)).hexdigest()


def declaration_for(document: Mapping[str, Any]) -> dict[str, Any]:
    """The unsigned ``result_declared`` body of a counted result."""
    return {
        "contest": document["contest"],
        "result_hash": result_hash(document),
        "counted_size": document["counted_size"],
        "counted_root": document["counted_root"],
        "elected": list(document["elected_ids"]),
    }
