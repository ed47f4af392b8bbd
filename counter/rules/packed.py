"""The weighted inclusive Gregory count on packed integer arrays (Scottish STV, fast).

A large profile need not become Python tuples: the papers are held as numpy arrays
(:class:`PackedBallots`) and :func:`count_packed` runs the same count as
:func:`counter.rules.stv.count_stv` on them, with the same result to the last unit.

Why the result is the same.  The bundle engine moves groups of papers that share
a history; every paper of a group has the same value, and each transfer computes
a paper's new value from its old one alone (Scottish rule 48(3): ``surplus x
value / total``, truncated to five decimal places: an integer floor division in
units of 0.00001).  Here each paper (or each line of identical papers, with its
weight) carries its own value and a pointer to its current preference, so every
paper gets exactly the value the bundle engine gives its bundle, and every tally
is the same integer sum, grouped differently.  Grouping identical rankings is
therefore unnecessary.  Everything else (elections, look-back and lot ties, the
rounds and their notes) is the shared engine's own code: :class:`_ArrayCount`
overrides only where papers are placed and moved.

Covered: rules with a fixed precision whose surpluses transfer all papers at the
inclusive value and whose exclusions transfer everything in one stage (Scottish,
and custom rules with those choices); no constraints.  Anything else, and a
profile too large for int64 units, is counted by the bundle engine on the tuples
(:meth:`PackedProfile.tuples`).  A lot with no seed given hashes the canonical
profile, which is built from the tuples only when a lot is drawn.

Arithmetic is exact: values are ``int64`` units with bounds checked before the
count (every product ``surplus x value`` below ``2**62``), and tallies are summed
by ``bincount`` in float64 only while every sum is an integer below ``2**53``,
where float64 addition is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from counter.errors import ProfileError
from counter.rules.lot import Lot
from counter.rules.model import Candidate, Constraint, CountResult, Profile, Ranking
from counter.rules.stv import HOPEFUL, Prepared, StvParams, _Count, count_stv


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PackedBallots:
    """Papers as arrays: ``prefs`` (``uint8``) holds 0-based candidate indices, and
    ``n`` (the number of candidates) wherever a paper's preferences end; paper ``i``
    has weight ``weights[i]`` and its preferences start at ``prefs[starts[i]]``."""

    prefs: Any  # np.ndarray[uint8]
    starts: Any  # np.ndarray[intp]
    weights: Any  # np.ndarray[int64]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PackedProfile:
    """A profile whose ballots are packed; ``unpack`` builds the same :class:`Profile`."""

    candidates: tuple[Candidate, ...]
    ballots: PackedBallots
    seats: int | None
    title: str
    unpack: Callable[[], Profile]

    def tuples(self) -> Profile:
        """The same profile as tuples, with these candidates (attributes given since)."""
        profile = self.unpack()
        if profile.candidates == self.candidates:
            return profile
        return replace(profile, candidates=self.candidates)


def pack(ballots: Iterable[tuple[Ranking, int]], n: int) -> PackedBallots:
    """``(ranking, weight)`` pairs (grouped or not, in any order) as :class:`PackedBallots`."""
    if n > 254:
        raise ProfileError("packed ballots hold at most 254 candidates")
    prefs: list[int] = []
    starts: list[int] = []
    weights: list[int] = []
    for ranking, weight in ballots:
        if weight < 0:
            raise ProfileError(f"negative ballot weight {weight}")
        for c in ranking:
            if not 0 <= c < n:
                raise ProfileError(f"ranking refers to candidate {c + 1}, but there are {n}")
        starts.append(len(prefs))
        prefs.extend(ranking)
        prefs.append(n)
        weights.append(weight)
    return PackedBallots(
        prefs=np.array(prefs or [n], dtype=np.uint8),
        starts=np.array(starts, dtype=np.intp),
        weights=np.array(weights, dtype=np.int64),
    )


def supports(params: StvParams) -> bool:
    """Whether :func:`count_packed` counts ``params`` itself (else it unpacks)."""
    return params.per_paper


def count_packed(
    params: StvParams,
    profile: PackedProfile,
    seats: int,
    constraints: Sequence[Constraint],
    seed: bytes | None,
) -> CountResult:
    """Count a packed profile under ``params``: the result of :func:`count_stv` on
    ``profile.unpack()``, without building its tuples when ``params`` allow."""
    cands = profile.candidates
    n = len(cands)
    b = profile.ballots
    scale = 10 ** (params.decimals or 0)
    w = b.weights
    if len(w) and int(w.max()) >= (1 << 63) // len(w):
        total = sum(w.tolist())  # an int64 sum could wrap: Python's integers
    else:
        total = int(w.sum()) if len(w) else 0
    if (
        not supports(params)
        or constraints
        or n > 254
        or (len(b.weights) and int(b.weights.min()) < 0)
        or total * scale * scale >= 1 << 62
        or total * scale >= 1 << 53
    ):
        return count_stv(params, profile.tuples(), seats, constraints, seed)
    if seats < 1:
        raise ProfileError("at least one seat is needed")
    standing = [not c.withdrawn for c in cands]
    # First preferences (Scottish 45): each paper's first preference for a standing
    # candidate; a paper with none is invalid (counts towards neither quota nor tallies).
    ptr = b.starts.copy()
    holder = _advance(b.prefs, ptr, _stops(standing))
    invalid = int(b.weights[np.flatnonzero(holder == n)].sum())
    valid = total - invalid
    prep = Prepared(candidates=cands, rankings=[], cum=[0], valid=valid, invalid=invalid)
    lot = Lot(seed=seed, names=tuple(c.name for c in cands), profile=profile.tuples)
    state = _ArrayCount(params, prep, seats, constraints, lot)
    state.load(b.prefs, ptr, holder, b.weights)
    state.run()
    return state.result()


def _stops(continuing: Sequence[bool]) -> Any:
    """``lut[c]``: a paper at preference ``c`` stops there (continuing, or the end)."""
    return np.array([*continuing, True], dtype=np.bool_)


def _advance(prefs: Any, at: Any, stops: Any) -> Any:
    """Move each paper from its place ``at`` (updated in place) on to the first
    preference where ``stops`` says; returns the preferences reached (``n``: none)."""
    reached = prefs.take(at)
    going = np.flatnonzero(~stops.take(reached))
    if not len(going):
        return reached
    place = at.take(going)
    while True:
        place += 1
        found = prefs.take(place)
        stop = stops.take(found)
        if stop.all():
            at[going] = place
            reached[going] = found
            return reached
        done = np.flatnonzero(stop)
        at[going[done]] = place[done]
        reached[going[done]] = found[done]
        left = ~stop
        going, place = going[left], place[left]


class _ArrayCount(_Count):
    """The shared engine with papers in arrays: a pointer, a holder and a value each."""

    def load(self, prefs: Any, ptr: Any, holder: Any, weights: Any) -> None:
        self.prefs = prefs
        self.ptr = ptr
        self.holder = holder
        self.weights = weights
        # One paper a line (an export's BLT): amounts are the values themselves.
        self.single = bool(len(weights) and weights.min() == 1 == weights.max())
        self.values = np.full(len(ptr), self.scale, dtype=np.int64)

    def credit(self, reached: Any, amounts: Any) -> int:
        """Add each paper's amount to the candidate it reached; the total credited."""
        sums = np.bincount(reached, weights=amounts, minlength=self.n + 1)[: self.n]
        credited = 0
        tally = self.tally
        for c in np.flatnonzero(sums).tolist():
            amount = int(sums[c])
            tally[c] += amount
            credited += amount
        return credited

    def amounts(self, rows: Any, values: Any) -> Any:
        return values if self.single else values * self.weights.take(rows)

    def move_papers(self, rows: Any, values: Any, revalued: bool) -> int:
        """Send the papers of ``rows`` at ``values`` to their next continuing preference."""
        self.new_batch()
        stops = _stops([s == HOPEFUL for s in self.state])
        at = self.ptr.take(rows)
        at += 1  # past the candidate they leave, who is no longer continuing
        reached = _advance(self.prefs, at, stops)
        self.ptr[rows] = at
        self.holder[rows] = reached
        if revalued:
            self.values[rows] = values
        return self.credit(reached, self.amounts(rows, values))

    def first_preferences(self) -> None:
        """Scottish 45: one vote (in units) per paper to its first preference."""
        votes = np.bincount(self.holder, weights=None if self.single else self.weights)
        for c in np.flatnonzero(votes[: self.n]).tolist():
            self.tally[c] += int(votes[c]) * self.scale

    def transfer_surplus(self, c: int) -> None:
        """Scottish 48: all the papers at surplus x value / total, to 5 decimals (floor)."""
        s = self.surplus(c)
        total = self.tally[c]
        assert isinstance(s, int) and isinstance(total, int)  # fixed precision: units
        rows = np.flatnonzero(self.holder == c)
        values = self.values.take(rows)
        values *= s
        values //= total
        credited = self.move_papers(rows, values, revalued=True)
        self.tally[c] = self.quota
        self.exhausted += s - credited  # Scottish 48(1)(b): the non-transferable difference
        self.surplus_done[c] = True

    def transfer_excluded(self, excluded: list[int]) -> None:
        """Scottish 50(2)-(4): all papers of the excluded at their values, in one stage."""
        removed = sum((self.tally[c] for c in excluded), start=0)
        for c in excluded:
            self.tally[c] = 0
        if len(excluded) == 1:
            rows = np.flatnonzero(self.holder == excluded[0])
        else:
            chosen = np.zeros(self.n + 1, dtype=np.bool_)
            chosen[excluded] = True
            rows = np.flatnonzero(chosen.take(self.holder))
        credited = self.move_papers(rows, self.values.take(rows), revalued=False)
        self.exhausted += removed - credited
