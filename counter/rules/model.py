"""Plain, frozen input and output values of every counting rule.

Inputs: a :class:`Profile` (candidates plus a grouped ballot profile of
``(ranking, weight)`` pairs whose rankings hold 0-based candidate indices), the
number of seats, :class:`Constraint` s and a lot seed.  Output: a
:class:`CountResult` holding every round.  Values are exact: ``Fraction`` for
exact rules and for rules with a fixed number of decimals alike (a fixed-point
value is a ``Fraction`` whose denominator divides ``10**decimals``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import NewType

CandidateIndex = NewType("CandidateIndex", int)
Ranking = tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One candidate: ``name`` is spelled exactly as the ballot file spells it."""

    id: str
    name: str
    gender: str | None = None
    slate: str | None = None
    withdrawn: bool = False

    def attribute(self, name: str) -> str | None:
        """The value of a constraint attribute (``gender``, ``slate``, ``name`` or ``id``)."""
        if name == "gender":
            return self.gender
        if name == "slate":
            return self.slate
        if name == "name":
            return self.name
        if name == "id":
            return self.id
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Candidates and ballots; ``ballots`` pairs a ranking with how many voters cast it.

    ``grouped`` promises that ``ballots`` came from :func:`counter.ballots.profile.group`
    with this candidate count: identical rankings summed, sorted, distinct, no
    candidate repeated within a ranking, every index in range, weights positive.
    The rules then skip re-checking; an ungrouped profile is grouped by each count.
    """

    candidates: tuple[Candidate, ...]
    ballots: tuple[tuple[Ranking, int], ...]
    seats: int | None = None
    title: str = ""
    grouped: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    """At least ``minimum`` seats go to candidates whose ``attribute`` equals ``value``."""

    attribute: str
    value: str
    minimum: int

    def holds_for(self, candidate: Candidate) -> bool:
        return candidate.attribute(self.attribute) == self.value

    def label(self) -> str:
        return f"{self.attribute}={self.value}:{self.minimum}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tie:
    """A tie met during the count and how it was broken."""

    round: int
    kind: str  # "exclusion", "surplus-order", "election-order", "bloc-boundary", ...
    candidates: tuple[int, ...]
    method: str  # "look-back", "lot"
    chosen: int
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstraintAction:
    """A minimum-representation constraint changed the course of the count."""

    round: int
    constraint: str
    action: str  # "excluded", "protected", "replaced", "not-elected"
    candidates: tuple[int, ...]
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Round:
    """One stage of the count: the tallies after it and what happened in it."""

    number: int
    action: str  # "first-preferences", "surplus", "exclusion", "constraint-exclusion", "iteration"
    subjects: tuple[int, ...]
    tallies: tuple[Fraction | None, ...]  # None for withdrawn candidates
    transfers: tuple[Fraction | None, ...]
    exhausted: Fraction
    exhausted_change: Fraction
    quota: Fraction
    elected: tuple[int, ...]
    excluded: tuple[int, ...]
    notes: tuple[str, ...] = ()
    keep_factors: tuple[Fraction, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CountResult:
    """The whole count: elected candidates in order of election, and every round."""

    rule: str
    rule_title: str
    candidates: tuple[Candidate, ...]
    seats: int
    valid_ballots: int | Fraction  # a Fraction only from fractional weights (exact rules)
    invalid_ballots: int | Fraction
    quota: Fraction
    decimals: int | None  # the rule's precision; None: exact fractions
    elected: tuple[int, ...]
    rounds: tuple[Round, ...]
    ties: tuple[Tie, ...] = ()
    constraint_actions: tuple[ConstraintAction, ...] = ()
    margins: tuple[Fraction | None, ...] | None = None
    seed: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def elected_names(self) -> tuple[str, ...]:
        return tuple(self.candidates[i].name for i in self.elected)

    @property
    def vacant(self) -> int:
        """Seats left unfilled: fewer candidates standing than seats, or nothing to count."""
        return self.seats - len(self.elected)

    @property
    def outcome(self) -> str:
        """One of :data:`OUTCOMES` (docs/counting.md, "Empty contests")."""
        if all(c.withdrawn for c in self.candidates):
            return NO_CANDIDATES
        if self.valid_ballots == 0:
            return NO_VALID_BALLOTS
        return SEATS_VACANT if self.vacant else FILLED


FILLED = "filled"
SEATS_VACANT = "seats vacant"
NO_VALID_BALLOTS = "no valid ballots"
NO_CANDIDATES = "no candidates standing"
OUTCOMES = (FILLED, SEATS_VACANT, NO_VALID_BALLOTS, NO_CANDIDATES)
"""Every outcome of a count: all seats filled; fewer elected than seats because fewer
candidates stood; nobody elected because no ballot was valid; nobody elected because no
candidate stood. In the last two every seat is vacant."""


def empty_note(valid_ballots: int, candidates: tuple[Candidate, ...]) -> str:
    """The note a count with nothing to count carries in its only round."""
    if all(c.withdrawn for c in candidates):
        return f"{NO_CANDIDATES}: no one is elected and every seat is vacant"
    assert valid_ballots == 0
    return f"{NO_VALID_BALLOTS}: no one is elected and every seat is vacant"
