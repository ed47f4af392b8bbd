"""Elections as pure values: definitions, eligibility, ballot validation, commitments, phases.

Nothing here does I/O. The ledger uses it to decide what may be appended; an auditor replays
the same ``apply`` fold over the public log to check that every event was legal in its phase.

Phases::

    setup --nominations_opened--> nominations --nominations_closed--> ready
    setup | ready --poll_opened--> poll_open --poll_closed--> poll_closed
    poll_closed --result_declared (every contest)--> declared
    (with ``declare: on_approval``, each contest's ``result_approved`` comes first)
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, Literal, NewType

from ledger.domain import returns as rt
from ledger.domain import rules, schemas, turnout
from ledger.errors import LedgerError
from ledger.format.canonical import canonical_bytes

ElectionId = NewType("ElectionId", str)
ContestId = NewType("ContestId", str)
CandidateId = NewType("CandidateId", str)
Phase = Literal["setup", "nominations", "ready", "poll_open", "poll_closed", "declared"]

COMMIT_TAG = b"ballot-ledger/commit/v1\n"
ROLL_TAG = b"ballot-ledger/roll/v1\n"


# --- errors (each maps to one problem type in ledger/http/problems.py) ------------------------


class InvalidDefinition(LedgerError):
    """The election definition is not consistent."""


class WrongPhase(LedgerError):
    """That is not allowed in the election's current phase."""


class UnknownContest(LedgerError):
    """The ballot names a contest that is not in this election."""


class UnknownCandidate(LedgerError):
    """A selection names a candidate who is not in the contest."""


class CandidateNotStanding(LedgerError):
    """A selection names a candidate who has withdrawn, was disqualified or was not validly
    nominated."""


class DuplicateSelection(LedgerError):
    """A candidate is marked or ranked more than once."""


class TooManySelections(LedgerError):
    """The ballot has more marks or rankings than the contest allows."""


class TooFewSelections(LedgerError):
    """The ballot has fewer marks or rankings than the contest requires."""


class DuplicateNomination(LedgerError):
    """This body has already nominated this candidate in this contest."""


class AlreadyDeclared(LedgerError):
    """A result has already been declared for this contest."""


class ContestNotPolled(LedgerError):
    """This contest goes to no poll: every seat was returned unopposed or left vacant at the
    close of nominations, so it is not on the ballot paper."""


class NominatorNotAllowed(LedgerError):
    """Bodies of this kind may not nominate in this contest."""


class NotApproved(LedgerError):
    """The returning officer has not approved this result: it cannot be declared yet."""


class RollMissing(LedgerError):
    """The poll cannot open before a voter roll is published."""


# --- definitions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    id: CandidateId
    name: str
    gender: str | None = None
    slate: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    attribute: Literal["gender", "slate"]
    value: str
    min: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Contest:
    id: ContestId
    title: str
    seats: int
    method: Literal["bloc", "stv"]
    rule: str | None
    min_selections: int
    max_selections: int
    candidates: tuple[Candidate, ...]
    eligibility: Mapping[str, Any] | None
    constraints: tuple[Constraint, ...]
    nomination_threshold: int = 0
    """Distinct nominating bodies a candidate needs in this contest to stand."""
    nominators: tuple[str, ...] | None = None
    """The kinds of body that may nominate in this contest (None: any)."""

    def candidate(self, cid: str) -> Candidate | None:
        for c in self.candidates:
            if c.id == cid:
                return c
        return None


DEFAULT_ROUND_SIZE = 50
"""K when the definition does not set ``round_size``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Definition:
    title: str
    sealed: bool
    revote_policy: str
    nomination_threshold: int
    reporting_dimensions: tuple[str, ...]
    min_group_size: int
    turnout_every: int
    """Seconds between scheduled turnout reports (``ledger.domain.turnout``)."""
    round_size: int
    """K: every release round of a contest's ballots holds at least this many (DESIGN §6)."""
    schedule: Mapping[str, str]
    contests: tuple[Contest, ...]
    document: Mapping[str, Any]
    declare: Literal["on_approval", "automatic"] = "on_approval"
    """``on_approval``: a counted result is declared only after the returning officer approves
    it (``result_approved``); ``automatic``: as soon as the counter declares it."""
    unmet_minimum: rt.Policy = rt.DEFAULT_POLICY
    """What a minimum fewer candidates stand for than it asks does (``ledger.domain.returns``)."""
    """The definition as published, with defaults filled in."""

    def contest(self, cid: str) -> Contest:
        for c in self.contests:
            if c.id == cid:
                return c
        raise UnknownContest(contest=cid)


def _check_rule(name: str) -> None:
    """An STV rule must be in the rule catalogue (registered, or ``custom:…``)."""
    try:
        kind = rules.rule_kind(name)
    except rules.UnknownRule as exc:
        known = sorted(rules.names("stv"))
        raise InvalidDefinition("unknown STV rule", rule=name, known=known) from exc
    if kind != "stv":
        raise InvalidDefinition("not an STV rule", rule=name)


MAX_RULE_DEPTH = 32
"""How deep an eligibility rule may nest: a comparison is 1 deep, each all/any/not adds 1."""


def _check_rule_depths(doc: Any) -> None:
    """Refuse eligibility rules nested deeper than ``MAX_RULE_DEPTH`` before the schema walks
    them (the validator and ``eligible`` recurse once or more a level). Walks without
    recursion; anything that is not a rule is left to the schema."""
    contests = doc.get("contests") if isinstance(doc, dict) else None
    if not isinstance(contests, list):
        return
    for index, contest in enumerate(contests):
        if not isinstance(contest, dict) or "eligibility" not in contest:
            continue
        stack: list[tuple[Any, int, str]] = [(contest["eligibility"], 1, "")]
        while stack:
            rule, depth, path = stack.pop()
            if depth > MAX_RULE_DEPTH:
                where = f"/contests/{index}/eligibility{path}"
                raise schemas.SchemaViolation(
                    f"an eligibility rule may nest at most {MAX_RULE_DEPTH} deep",
                    errors=[{"path": where, "message": f"nested over {MAX_RULE_DEPTH} deep"}],
                )
            if not isinstance(rule, dict):
                continue
            if isinstance(rule.get("not"), dict):
                stack.append((rule["not"], depth + 1, f"{path}/not"))
            for key in ("all", "any"):
                if isinstance(rule.get(key), list):
                    stack.extend(
                        (r, depth + 1, f"{path}/{key}/{i}") for i, r in enumerate(rule[key])
                    )


def parse_definition(doc: Any) -> Definition:
    """Validate a definition document (schema, then consistency) and fill in its defaults."""
    _check_rule_depths(doc)
    schemas.validate(schemas.DEFINITION, doc)
    contests = []
    seen: set[str] = set()
    filled_contests = []
    for c in doc["contests"]:
        if c["id"] in seen:
            raise InvalidDefinition("contest ids must be unique", contest=c["id"])
        seen.add(c["id"])
        ids = [cand["id"] for cand in c["candidates"]]
        if len(set(ids)) != len(ids):
            raise InvalidDefinition("candidate ids must be unique in a contest", contest=c["id"])
        method = dict(c["method"])
        n = len(ids)
        if method["type"] == "bloc":
            method.setdefault("max_marks", c["seats"])
            method.setdefault("min_marks", 1)
            lo, hi = method["min_marks"], method["max_marks"]
            rule = None
        else:
            _check_rule(method["rule"])
            method.setdefault("max_rankings", n)
            method.setdefault("min_rankings", 1)
            lo, hi = method["min_rankings"], method["max_rankings"]
            rule = method["rule"]
        if lo > hi:
            raise InvalidDefinition("minimum selections exceed the maximum", contest=c["id"])
        constraints = []
        for k in c.get("constraints", []):
            if k["min"] > c["seats"]:
                raise InvalidDefinition("a minimum exceeds the seats", contest=c["id"])
            group = [x for x in c["candidates"] if x.get(k["attribute"]) == k["value"]]
            if len(group) < k["min"]:
                raise InvalidDefinition(
                    "fewer candidates in the group than its minimum",
                    contest=c["id"],
                    attribute=k["attribute"],
                    value=k["value"],
                )
            constraints.append(Constraint(**k))
        threshold, nominators, nominations = _contest_nominations(doc, c)
        filled = dict(c, method=method)
        if "nominations" in c:
            filled["nominations"] = nominations
        filled_contests.append(filled)
        contests.append(
            Contest(
                id=ContestId(c["id"]),
                title=c["title"],
                seats=c["seats"],
                method=method["type"],
                rule=rule,
                min_selections=lo,
                max_selections=hi,
                candidates=tuple(
                    Candidate(
                        id=CandidateId(x["id"]),
                        name=x["name"],
                        gender=x.get("gender"),
                        slate=x.get("slate"),
                    )
                    for x in c["candidates"]
                ),
                eligibility=c.get("eligibility"),
                constraints=tuple(constraints),
                nomination_threshold=threshold,
                nominators=nominators,
            )
        )
    document = {
        "title": doc["title"],
        "sealed": doc.get("sealed", True),
        "revote_policy": doc.get("revote_policy", "once"),
        "nomination_threshold": doc.get("nomination_threshold", 0),
        "reporting_dimensions": list(doc.get("reporting_dimensions", [])),
        "min_group_size": doc.get("min_group_size", 10),
        "turnout": {"every": doc.get("turnout", {}).get("every", turnout.DEFAULT_EVERY)},
        "round_size": doc.get("round_size", DEFAULT_ROUND_SIZE),
        "schedule": dict(doc.get("schedule", {})),
        "declare": doc.get("declare", "on_approval"),
        "unmet_minimum": doc.get("unmet_minimum", rt.DEFAULT_POLICY),
        "contests": filled_contests,
    }
    for optional in ("nominating_bodies", "predecessor"):
        if optional in doc:
            document[optional] = doc[optional]
    return Definition(
        title=document["title"],
        sealed=document["sealed"],
        revote_policy=document["revote_policy"],
        nomination_threshold=document["nomination_threshold"],
        reporting_dimensions=tuple(document["reporting_dimensions"]),
        min_group_size=document["min_group_size"],
        turnout_every=document["turnout"]["every"],
        round_size=document["round_size"],
        schedule=document["schedule"],
        contests=tuple(contests),
        document=document,
        declare=document["declare"],
        unmet_minimum=document["unmet_minimum"],
    )


def _contest_nominations(
    doc: Mapping[str, Any], contest: Mapping[str, Any]
) -> tuple[int, tuple[str, ...] | None, dict[str, Any]]:
    """A contest's nomination rule: (threshold, kinds of body allowed, the rule filled in).

    ``threshold`` (absolute) or ``share`` (of the nominating bodies of the allowed kinds that
    the definition's ``nominating_bodies`` counts, rounded up), else the election's
    ``nomination_threshold``; ``by`` limits the kinds of body that may nominate."""
    given = dict(contest.get("nominations", {}))
    bodies: Mapping[str, int] = doc.get("nominating_bodies", {})
    by = given.get("by")
    if by is not None and bodies and set(by) - set(bodies):
        raise InvalidDefinition(
            "a contest names a kind of nominating body the definition does not count",
            contest=contest["id"],
            kinds=sorted(set(by) - set(bodies)),
        )
    if "share" in given:
        if not bodies:
            raise InvalidDefinition(
                "a threshold as a share needs nominating_bodies", contest=contest["id"]
            )
        total = sum(n for kind, n in bodies.items() if by is None or kind in by)
        threshold = math.ceil(Fraction(given["share"]) * total)
        if given.get("threshold", threshold) != threshold:
            raise InvalidDefinition(
                "a contest's threshold and share disagree", contest=contest["id"]
            )
    else:
        threshold = given.get("threshold", doc.get("nomination_threshold", 0))
    filled = {**given, "threshold": threshold}
    return threshold, (tuple(by) if by is not None else None), filled


# --- eligibility -------------------------------------------------------------------------------


def eligible(rule: Mapping[str, Any] | None, attributes: Mapping[str, Any]) -> bool:
    """Evaluate an eligibility rule over a voter's attributes. A missing attribute fails every
    comparison (so ``{"not": …}`` of it succeeds); ``None`` admits everyone on the roll."""
    if rule is None:
        return True
    if "all" in rule:
        return all(eligible(r, attributes) for r in rule["all"])
    if "any" in rule:
        return any(eligible(r, attributes) for r in rule["any"])
    if "not" in rule:
        return not eligible(rule["not"], attributes)
    name = rule["attr"]
    if name not in attributes:
        return False
    value = attributes[name]
    (op, operand), *_ = ((k, v) for k, v in rule.items() if k != "attr")
    if op == "eq":
        return bool(value == operand and type(value) is type(operand))
    if op == "ne":
        return not (value == operand and type(value) is type(operand))
    if op == "in":
        return any(value == x and type(value) is type(x) for x in operand)
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return bool(
        {
            "lt": value < operand,
            "lte": value <= operand,
            "gt": value > operand,
            "gte": value >= operand,
        }[op]
    )


def parse_attribute(text: str) -> str | int | bool:
    """A roll CSV cell: ``true``/``false`` become booleans, ASCII integers (``-?[0-9]+``, up to
    18 digits) integers, the rest text. Raise ``ValueError`` for a cell that looks like an
    integer but is not one (``--5``, ``²``, ``٣``): it is a mistake, not text."""
    stripped = text.strip()
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    if stripped.lstrip("-").isdigit():
        if _INTEGER.fullmatch(stripped) is None:
            raise ValueError("not an integer: write integers as ASCII digits, - for negatives")
        if len(stripped) < 19:
            return int(stripped)
    return stripped


_INTEGER = re.compile(r"-?[0-9]+")
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
"""What ``$defs/line`` of the schemas refuses: C0 controls, DEL, C1 controls, the line and
paragraph separators (U+2028, U+2029) and the bidirectional controls: marks (U+061C, U+200E,
U+200F), embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069)."""


def attribute_name(name: str) -> bool:
    """Whether ``name`` is a roll attribute name (``$defs/attribute``): 1-32 of a-z, 0-9, _."""
    return _ATTRIBUTE.fullmatch(name) is not None


def one_line(text: str) -> bool:
    """Whether ``text`` is one line of text (``$defs/line``): no control character, line
    separator or bidirectional control."""
    return _NOT_ONE_LINE.search(text) is None


def valid_roll_row(row: Any) -> bool:
    """The ``roll_row`` schema of schemas/requests.schema.json, checked by hand: a roll has
    100,000s of rows and a generic validator costs ~25 µs a row. A property test keeps the two
    in agreement. (One deliberate difference: a number like ``30.0`` is refused here, where
    JSON Schema counts it as an integer, since eligibility compares integers.)"""
    if not isinstance(row, dict) or "voter_id" not in row or len(row.keys() - _ROW_KEYS):
        return False
    vid = row["voter_id"]
    if not isinstance(vid, str) or not 1 <= len(vid) <= 128 or not one_line(vid):
        return False
    attrs = row.get("attributes", {})
    if not isinstance(attrs, dict) or len(attrs) > 32:
        return False
    return all(
        isinstance(k, str)
        and attribute_name(k)
        and isinstance(v, str | int)
        and (not isinstance(v, str) or one_line(v))
        for k, v in attrs.items()
    )


_ROW_KEYS = frozenset({"voter_id", "attributes"})


def roll_hash(salt: bytes, voter_ids: Sequence[str]) -> str:
    """Commitment to a contest's eligible roll: SHA-256(tag || salt || sorted ids, newline
    separated). The salt stays private, so the hash reveals nothing of who is on the roll."""
    body = "\n".join(sorted(voter_ids)).encode()
    return hashlib.sha256(ROLL_TAG + salt + body).hexdigest()


# --- ballots -----------------------------------------------------------------------------------


def validate_selections(
    contest: Contest, selections: Sequence[str], not_standing: frozenset[str]
) -> tuple[str, ...]:
    """Check one contest's marks (bloc) or rankings (STV); return them as a tuple."""
    for cid in selections:
        if contest.candidate(cid) is None:
            raise UnknownCandidate(contest=contest.id, candidate=cid)
        if cid in not_standing:
            raise CandidateNotStanding(contest=contest.id, candidate=cid)
    if len(set(selections)) != len(selections):
        raise DuplicateSelection(contest=contest.id)
    if len(selections) > contest.max_selections:
        raise TooManySelections(
            contest=contest.id, given=len(selections), maximum=contest.max_selections
        )
    if len(selections) < contest.min_selections:
        raise TooFewSelections(
            contest=contest.id, given=len(selections), minimum=contest.min_selections
        )
    if contest.method == "bloc":
        return tuple(sorted(selections))  # a bloc ballot is a set: its order says nothing
    return tuple(selections)


def commitment(election: str, contest: str, selections: Sequence[str], salt: bytes) -> str:
    """Sealed ballot commitment: SHA-256(COMMIT_TAG || salt || JCS({"contest","election",
    "selections"})), hex. The 32-byte random salt hides the selections until it is opened."""
    body = canonical_bytes(
        {"contest": contest, "election": election, "selections": list(selections)}
    )
    return hashlib.sha256(COMMIT_TAG + salt + body).hexdigest()


@functools.lru_cache(maxsize=4096)
def _jcs_string(text: str) -> bytes:
    """RFC 8785 bytes of one string; ids repeat from ballot to ballot, so each is encoded once."""
    return canonical_bytes(text)


def ballot_event(
    election: str,
    contest: str,
    selections: Sequence[str],
    *,
    salt: bytes | None = None,
    nonce: bytes | None = None,
) -> tuple[bytes, str]:
    """A ``ballot_cast`` event, written directly: its RFC 8785 bytes and its text as
    ``json.dumps`` writes the object in JCS member order (what the voter's answer shows).

    Sealed (``salt``): ``{"commitment": commitment(election, contest, selections, salt),
    "contest": contest}``; unsealed (``nonce``): ``{"contest", "nonce": hex, "selections"}``.
    Byte for byte ``canonical_bytes`` of that object and ``json.dumps`` of it (a property test
    pins both), without building and walking the objects for every ballot."""
    cj = _jcs_string(contest)
    chosen = b",".join([_jcs_string(s) for s in selections])
    if salt is not None:
        body = b"".join(
            (b'{"contest":', cj, b',"election":', _jcs_string(election), b',"selections":[')
        )
        digest = hashlib.sha256(b"".join((COMMIT_TAG, salt, body, chosen, b"]}"))).hexdigest()
        return (
            b'{"commitment":"' + digest.encode() + b'","contest":' + cj + b"}",
            f'{{"commitment": "{digest}", "contest": {_json_string(contest)}}}',
        )
    if nonce is None:
        raise ValueError("a ballot_cast event needs a salt (sealed) or a nonce")
    nonce_hex = nonce.hex()
    listed = ", ".join([_json_string(s) for s in selections])
    return (
        b"".join((b'{"contest":', cj, b',"nonce":"', nonce_hex.encode(), b'","selections":['))
        + chosen
        + b"]}",
        f'{{"contest": {_json_string(contest)}, "nonce": "{nonce_hex}", "selections": [{listed}]}}',
    )


def declaration_message(body: Mapping[str, Any]) -> bytes:
    """What a result declaration's signature covers: ``ballot-ledger/result/v1\n`` and the
    RFC 8785 encoding of every member of the declaration but ``signature``."""
    fields = {k: v for k, v in body.items() if k != "signature"}
    return RESULT_TAG + canonical_bytes(fields)


RESULT_TAG = b"ballot-ledger/result/v1\n"


# --- the phase fold ----------------------------------------------------------------------------

ALLOWED: dict[str, tuple[Phase, ...]] = {
    "election_defined": ("setup",),
    "roll_published": ("setup", "nominations", "ready"),
    "nominations_opened": ("setup",),
    "nomination_recorded": ("nominations",),
    "nominations_closed": ("nominations",),
    "candidate_withdrawn": ("setup", "nominations", "ready", "poll_open"),
    "poll_opened": ("setup", "ready"),
    "ballot_cast": ("poll_open",),
    "turnout_reported": ("poll_open", "poll_closed"),
    "poll_closed": ("poll_open",),
    "ballot_opened": ("poll_closed",),
    "result_approved": ("poll_closed", "declared"),
    "result_declared": ("poll_closed", "declared"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ElectionState:
    """What the non-ballot events of a log say about an election so far."""

    election_id: str
    phase: Phase = "setup"
    definition: Definition | None = None
    roll_published: bool = False
    eligible: Mapping[str, int] = field(default_factory=dict)
    nominations: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    standing: Mapping[str, frozenset[str]] | None = None
    withdrawn: Mapping[str, frozenset[str]] = field(default_factory=dict)
    not_standing_at_open: Mapping[str, frozenset[str]] | None = None
    """Per contest, the candidates not standing when the poll opened (set by ``poll_opened``):
    what a ballot entry may not select, released before or after a later withdrawal."""
    declared: Mapping[str, str] = field(default_factory=dict)
    returns: Mapping[str, rt.ContestReturn] = field(default_factory=dict)
    """Contest -> what the close of nominations returned (only contests it decided something
    for: someone returned unopposed, a minimum unmet or a seat left vacant)."""
    approved: Mapping[str, str] = field(default_factory=dict)
    """Contest -> the result hash the returning officer approved (``result_approved``)."""

    def require_definition(self) -> Definition:
        if self.definition is None:
            raise WrongPhase("the election is not defined yet", election=self.election_id)
        return self.definition

    def not_standing(self, contest: str) -> frozenset[str]:
        """Candidates a ballot may not select: withdrawn, not validly nominated, or returned
        unopposed. Raises ``ContestNotPolled`` for a contest that goes to no poll: there is no
        ballot paper for it, so no selection at all."""
        if not self.polled(contest):
            raise ContestNotPolled(contest=contest)
        return self.off_the_paper(contest)

    def polled(self, contest: str) -> bool:
        """Whether the contest goes to a poll (the close of nominations may have decided it)."""
        ret = self.returns.get(contest)
        return ret is None or ret.polled_seats > 0

    def off_the_paper(self, contest: str) -> frozenset[str]:
        """The contest's candidates who are not on its ballot paper: withdrawn, not validly
        nominated, or returned unopposed."""
        out = set(self.withdrawn.get(contest, frozenset()))
        ret = self.returns.get(contest)
        if ret is not None:
            out |= ret.returned
        if self.standing is not None:
            c = self.require_definition().contest(contest)
            out |= {x.id for x in c.candidates} - self.standing.get(contest, frozenset())
        return frozenset(out)

    def ballot_not_standing(self, contest: str) -> frozenset[str]:
        """Candidates a ballot entry (``ballot_cast`` or ``ballot_opened``) may not select:
        those not standing at ``poll_opened`` (docs/log-format.md §10). A ballot accepted
        before a ``candidate_withdrawn`` may be released after it, so a later withdrawal does
        not make it invalid; the count treats that candidate as withdrawn. Raises
        ``ContestNotPolled`` for a contest that goes to no poll."""
        if not self.polled(contest):
            raise ContestNotPolled(contest=contest)
        if self.not_standing_at_open is None:
            return self.not_standing(contest)
        return self.not_standing_at_open.get(contest, frozenset())

    def nomination_counts(self, contest: str) -> dict[str, int]:
        c = self.require_definition().contest(contest)
        bodies = self.nominations.get(contest, {})
        return {x.id: len(bodies.get(x.id, frozenset())) for x in c.candidates}


def _standing(state: ElectionState) -> dict[str, frozenset[str]]:
    d = state.require_definition()
    out: dict[str, frozenset[str]] = {}
    for c in d.contests:
        counts = state.nomination_counts(c.id)
        out[c.id] = frozenset(k for k, n in counts.items() if n >= c.nomination_threshold)
    return out


def _returns(
    state: ElectionState, standing: Mapping[str, frozenset[str]]
) -> dict[str, rt.ContestReturn]:
    """Each contest's return at the close of nominations, over the candidates ``standing``
    (``_standing``) and not withdrawn (``ledger.domain.returns``)."""
    d = state.require_definition()
    out = {}
    for c, names in standing.items():
        present = names - state.withdrawn.get(c, frozenset())
        ret = rt.contest_return(d.contest(c), present, d.unmet_minimum)
        if ret is not None:
            out[c] = ret
    return out


def standing_event(state: ElectionState) -> dict[str, Any]:
    """The ``nominations_closed`` event the current nominations call for."""
    d = state.require_definition()
    standing = _standing(state)
    event: dict[str, Any] = {
        "threshold": d.nomination_threshold,
        "standing": {c: sorted(s) for c, s in standing.items()},
    }
    if any(c.nomination_threshold != d.nomination_threshold for c in d.contests):
        event["thresholds"] = {c.id: c.nomination_threshold for c in d.contests}
    decided = _returns(state, standing)
    if decided:
        event["returns"] = {c: r.to_json() for c, r in decided.items()}
    return event


def ballot_paper(c: Contest, polled_seats: int | None) -> Contest:
    """A contest as its ballot paper stands after the close of nominations (``polled_seats``
    of its return; None when it decided nothing for it): a bloc contest polled for fewer
    seats than it has takes at most that many marks, and asks for no more than that."""
    if polled_seats is not None and c.method == "bloc" and 0 < polled_seats < c.max_selections:
        return replace(
            c,
            max_selections=polled_seats,
            min_selections=min(c.min_selections, polled_seats),
        )
    return c


def _ballot_papers(d: Definition, decided: Mapping[str, rt.ContestReturn]) -> Definition:
    """The definition as the ballot paper stands after the close of nominations."""
    contests = []
    for c in d.contests:
        ret = decided.get(c.id)
        contests.append(ballot_paper(c, None if ret is None else ret.polled_seats))
    return replace(d, contests=tuple(contests))


def apply(state: ElectionState, kind: str, event: Mapping[str, Any]) -> ElectionState:
    """Fold one (schema-valid) event into the state; raise if it is illegal now."""
    allowed = ALLOWED.get(kind)
    if allowed is None:
        raise WrongPhase("unknown event type", type=kind)
    if kind == "election_defined" and state.definition is None:
        pass  # the first event of every log
    elif state.definition is None:
        raise WrongPhase("the first event must define the election", type=kind)
    if state.phase not in allowed:
        raise WrongPhase(
            f"{kind} is not allowed in phase {state.phase}",
            phase=state.phase,
            allowed=list(allowed),
        )
    if kind == "election_defined":
        # A redefinition may change contests or eligibility: the roll must be published again.
        return replace(
            state,
            definition=parse_definition(event["definition"]),
            roll_published=False,
            eligible={},
        )
    d = state.require_definition()
    if kind == "roll_published":
        missing = {c.id for c in d.contests} - set(event["contests"])
        if missing:
            raise InvalidDefinition("the roll must cover every contest", missing=sorted(missing))
        eligible_ = {c: v["eligible"] for c, v in event["contests"].items()}
        return replace(state, roll_published=True, eligible=eligible_)
    if kind == "nominations_opened":
        return replace(state, phase="nominations")
    if kind == "nomination_recorded":
        contest = d.contest(event["contest"])
        if contest.candidate(event["candidate"]) is None:
            raise UnknownCandidate(contest=contest.id, candidate=event["candidate"])
        kind_ = event.get("kind")
        if contest.nominators is not None and kind_ not in contest.nominators:
            raise NominatorNotAllowed(
                contest=contest.id, kind=kind_, allowed=list(contest.nominators)
            )
        by_cand = dict(state.nominations.get(contest.id, {}))
        bodies = by_cand.get(event["candidate"], frozenset())
        if event["body"] in bodies:
            raise DuplicateNomination(
                contest=contest.id, candidate=event["candidate"], body=event["body"]
            )
        by_cand[event["candidate"]] = bodies | {event["body"]}
        return replace(state, nominations={**state.nominations, contest.id: by_cand})
    if kind == "nominations_closed":
        expected = standing_event(state)
        if dict(event) != expected:
            raise InvalidDefinition("nominations_closed disagrees with the nominations")
        standing = _standing(state)
        decided = _returns(state, standing)
        return replace(
            state,
            phase="ready",
            standing=standing,
            returns=decided,
            definition=_ballot_papers(d, decided),
        )
    if kind == "candidate_withdrawn":
        contest = d.contest(event["contest"])
        if contest.candidate(event["candidate"]) is None:
            raise UnknownCandidate(contest=contest.id, candidate=event["candidate"])
        if event["candidate"] in state.withdrawn.get(contest.id, frozenset()):
            raise WrongPhase("the candidate has already withdrawn", candidate=event["candidate"])
        ret = state.returns.get(contest.id)
        if ret is not None and event["candidate"] in ret.returned:
            raise WrongPhase(
                "the candidate was returned unopposed: elected at the close of nominations",
                candidate=event["candidate"],
            )
        gone = state.withdrawn.get(contest.id, frozenset()) | {event["candidate"]}
        return replace(state, withdrawn={**state.withdrawn, contest.id: gone})
    if kind == "poll_opened":
        if not state.roll_published:
            raise RollMissing(election=state.election_id)
        if state.phase == "setup" and d.nomination_threshold > 0:
            raise WrongPhase("nominations must run before the poll opens", phase=state.phase)
        at_open: dict[str, frozenset[str]] = {c.id: state.off_the_paper(c.id) for c in d.contests}
        return replace(state, phase="poll_open", not_standing_at_open=at_open)
    if kind == "poll_closed":
        return replace(state, phase="poll_closed")
    if kind == "result_approved":
        d.contest(event["contest"])
        if d.declare != "on_approval":
            raise WrongPhase("this election declares its results without approval")
        if event["contest"] in state.declared or event["contest"] in state.approved:
            raise AlreadyDeclared(contest=event["contest"])
        return replace(state, approved={**state.approved, event["contest"]: event["result_hash"]})
    if kind == "result_declared":
        d.contest(event["contest"])
        if event["contest"] in state.declared:
            raise AlreadyDeclared(contest=event["contest"])
        if d.declare == "on_approval" and (
            state.approved.get(event["contest"]) != event["result_hash"]
        ):
            raise NotApproved(
                contest=event["contest"],
                approved=state.approved.get(event["contest"]),
                declared=event["result_hash"],
            )
        declared = {**state.declared, event["contest"]: event["result_hash"]}
        phase: Phase = "declared" if len(declared) == len(d.contests) else state.phase
        return replace(state, declared=declared, phase=phase)
    if kind in ("ballot_cast", "ballot_opened"):
        d.contest(event["contest"])
    return state
