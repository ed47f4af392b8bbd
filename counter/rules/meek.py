"""Meek STV, as in the New Zealand rules (Local Electoral Regulations 2001, Schedule 1A,
the 2006 form of Hill, Wichmann and Woodall's Algorithm 123).

Clause by clause (Schedule 1A, Part 1):

* cl 5 (step 1, the quota): ``q = (v - vnt) / (n + 1) + 0.000000001``, truncated to
  nine decimals, where ``v`` is the valid votes, ``vnt`` the non-transferable
  votes and ``n`` the vacancies.  The quota is recomputed at every iteration.
  ``quota="nz"``.
* cl 6-7 (distribution): every candidate has a keep value, 1 while hopeful, 0 once
  excluded.  Each voting document gives each candidate in order of preference
  its keep value times the value still left on it, the rest passing on; what is
  left after the last preference is non-transferable.  Arithmetic is fixed point
  to nine decimals: the part kept is rounded *up* and the part passed on is what
  remains, so no value is created or lost.
* cl 8 (election): a hopeful candidate whose votes equal or exceed the quota is
  elected; several at once are taken in descending order of votes.
* cl 9-10 (iteration): each elected candidate's keep value becomes
  ``keep x quota / votes``, rounded up to nine decimals, and the votes are
  distributed again, until the total surplus is below 0.00001 or a further
  candidate reaches the quota; iteration also stops when the keep values stop
  changing or the total surplus stops falling, as nine-decimal rounding can hold
  it above 0.00001 in a large count (Hill, Voting matters 22, 2006).
* cl 11-13 (exclusion): when the surplus has converged and nobody new is elected,
  the hopeful candidate with the fewest votes is excluded (keep value 0); ties:
  the candidate lowest at the first round at which the tied candidates differed
  ("ahead at first difference", Part 5), else by lot (the schedule's PRNG method
  is replaced by the seeded lot of :mod:`counter.rules.lot`).
* cl 3 (completion): counting is complete when the elected fill the vacancies, or
  when elected plus hopeful equal the vacancies (the hopeful are then elected).

Each reported round is one event (first distribution, an election after the
surpluses converge, or an exclusion), with the keep values and the quota in force.
Speed: the sorted rankings form a prefix tree (built lazily, each node a run of
rankings sharing a prefix); a distribution walks only the prefixes made of
elected or excluded candidates, weighted by how many voters share them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby, repeat
from operator import add, floordiv, itemgetter, mul

from counter.errors import ProfileError, RuleSpecError
from counter.rules import constraints as cons
from counter.rules.lot import Lot
from counter.rules.model import (
    Constraint,
    ConstraintAction,
    CountResult,
    Profile,
    Round,
    Tie,
    empty_note,
)
from counter.rules.stv import prepare

HOPEFUL, ELECTED, EXCLUDED, WITHDRAWN = 0, 1, 2, 3


@dataclass(frozen=True, slots=True, kw_only=True)
class MeekParams:
    """The choices of a Meek rule book."""

    name: str
    title: str
    decimals: int = 9
    quota: str = "nz"  # "nz": (v - vnt)/(n+1) + 10**-d, truncated | "droop-exact": (v - vnt)/(n+1)
    elect_at: str = "geq"
    tolerance_decimals: int = 5  # iterate until the total surplus is below 10**-5
    max_iterations: int = 10_000

    def __post_init__(self) -> None:
        if self.quota not in ("nz", "droop-exact"):
            raise RuleSpecError("a Meek quota is 'nz' or 'droop-exact'")
        if self.elect_at not in ("geq", "gt"):
            raise RuleSpecError("elect_at must be 'geq' or 'gt'")
        if not 1 <= self.decimals <= 18:
            raise RuleSpecError("Meek needs a fixed precision of 1 to 18 decimals")


# A prefix-tree child: (candidate, depth, lo, hi, voters through it, voters ending at it).
Child = tuple[int, int, int, int, int, int]


class _Tree:
    """The prefix tree of the sorted rankings, built lazily: a node is a run rankings[lo:hi]."""

    __slots__ = ("cache", "cum", "keys", "rank")

    def __init__(self, rankings: list[tuple[int, ...]], cum: list[int], candidates: int) -> None:
        self.rank = rankings
        self.cum = cum
        self.keys = [itemgetter(d) for d in range(candidates)]
        self.cache: dict[tuple[int, int], list[Child]] = {}

    def children(self, d: int, lo: int, hi: int) -> list[Child]:
        key = (d, lo)
        found = self.cache.get(key)
        if found is not None:
            return found
        rank, cum = self.rank, self.cum
        out: list[Child] = []
        if lo < hi and len(rank[lo]) == d:
            lo += 1
        while lo < hi:
            c = rank[lo][d]
            end = bisect_right(rank, c, lo, hi, key=self.keys[d])
            ending = cum[lo + 1] - cum[lo] if len(rank[lo]) == d + 1 else 0
            out.append((c, d + 1, lo, end, cum[end] - cum[lo], ending))
            lo = end
        self.cache[key] = out
        return out


# -- the compiled distribution ---------------------------------------------------------

# How a distribution treats a candidate: hopeful (keep 1: the walk stops there, all
# the value stays), elected (keep between: part stays, the rest goes on) or excluded
# and withdrawn (keep 0: the whole value goes on, as if the candidate were not there).
_STOP, _SHARE, _PASS = 0, 1, 2


def _gather(indices: Sequence[int]) -> Callable[[list[int]], Sequence[int]]:
    """``values -> [values[i] for i in indices]``, run in C (a tuple, even for one index)."""
    if len(indices) == 1:
        (i,) = indices
        return lambda values: (values[i],)
    return itemgetter(*indices)


class _Program:
    """Schedule 1A cl 6-7 for one set of elected and excluded candidates, flattened.

    The value left on a paper when it reaches a candidate depends only on the
    *elected* candidates it has passed, in order: an excluded candidate keeps
    nothing (keep 0) and a hopeful one keeps everything (keep 1), ending the walk.
    So the prefix tree collapses onto *paths*, the sequences of elected candidates
    a run of papers has passed; path ``p + (c,)`` holds the papers that reach elected
    ``c`` after ``p``.  The papers at one path all hold the same value, so one
    distribution is, level by level, one rounding-up per path (``kept = ceil(r x
    keep / 10**d)``, rest ``r - kept``) and a sum of value x papers per candidate,
    each a C-level ``map``: the same integers, summed in another order, as the walk
    of :meth:`_Meek.walk_distribute`.

    Candidates only ever leave the hopeful: the program grows by walking the tree
    below the papers that had stopped at a candidate who is now elected or excluded
    (``stops``), and each tree node is walked once in the whole count.
    """

    __slots__ = (
        "blocks",
        "child",
        "ends",
        "exhausting",
        "hopeful",
        "kind",
        "level",
        "parent",
        "reaching",
        "stopped",
        "stops",
        "through",
        "tree",
        "votes_of",
    )

    def __init__(self, tree: _Tree, kind: list[int]) -> None:
        self.tree = tree
        self.kind = [_STOP] * len(kind)  # grown to ``kind`` by :meth:`update`
        # Paths: 0 is the empty path; path i is parent[i] + (votes_of[i],).
        self.parent: list[int] = [0]
        self.votes_of: list[int] = [-1]
        self.level: list[int] = [0]
        self.through: list[int] = [0]  # papers reaching votes_of[i] along the path
        self.exhausting: list[int] = [0]  # papers left with nothing further, at path i
        self.child: dict[tuple[int, int], int] = {}
        # Papers stopped at a hopeful candidate: tree children to walk on later, and
        # the number of papers per path.
        self.stops: dict[int, list[tuple[int, Child]]] = {c: [] for c in range(len(kind))}
        self.stopped: dict[int, dict[int, int]] = {c: {} for c in range(len(kind))}
        self.blocks: list[tuple[int, int, int, Callable[[list[int]], Sequence[int]], list[int]]]
        self.blocks = []
        self.ends: list[int] = []
        self.reaching: list[tuple[int, Callable[[list[int]], Sequence[int]], list[int]]] = []
        self.hopeful: list[int] = []
        self.walk(0, 0, len(tree.rank), 0)
        self.update(kind)

    def path(self, p: int, c: int) -> int:
        i = self.child.get((p, c))
        if i is None:
            i = len(self.parent)
            self.child[(p, c)] = i
            self.parent.append(p)
            self.votes_of.append(c)
            self.level.append(self.level[p] + 1)
            self.through.append(0)
            self.exhausting.append(0)
        return i

    def walk(self, d: int, lo: int, hi: int, p: int) -> None:
        """Walk the tree node ``rank[lo:hi]`` at depth ``d``, reached along path ``p``.

        The children are found as in :meth:`_Tree.children`, inline and uncached:
        each node is walked once.
        """
        rank, cum, keys = self.tree.rank, self.tree.cum, self.tree.keys
        kind, stops, stopped = self.kind, self.stops, self.stopped
        through_of, exhausting, path = self.through, self.exhausting, self.path
        todo = [(d, lo, hi, p)]
        pop, push = todo.pop, todo.append
        while todo:
            d, lo, hi, p = pop()
            if hi - lo == 1:
                # One ranking: follow its tail, one candidate per level.
                ranking = rank[lo]
                through = cum[hi] - cum[lo]
                last = len(ranking) - 1
                for at in range(d, last + 1):
                    c = ranking[at]
                    k = kind[c]
                    if k == _STOP:
                        ending = through if at == last else 0
                        stops[c].append((p, (c, at + 1, lo, hi, through, ending)))
                        here = stopped[c]
                        here[p] = here.get(p, 0) + through
                        break
                    if k == _SHARE:
                        p = path(p, c)
                        through_of[p] += through
                else:
                    exhausting[p] += through
                continue
            if len(rank[lo]) == d:
                lo += 1
            cd = d + 1
            while lo < hi:
                ranking = rank[lo]
                c = ranking[d]
                # The last child often runs to the end of the node: no search needed.
                end = hi if rank[hi - 1][d] == c else bisect_right(rank, c, lo, hi, key=keys[d])
                through = cum[end] - cum[lo]
                ending = cum[lo + 1] - cum[lo] if len(ranking) == cd else 0
                k = kind[c]
                if k == _STOP:
                    stops[c].append((p, (c, cd, lo, end, through, ending)))
                    here = stopped[c]
                    here[p] = here.get(p, 0) + through
                else:
                    q = p
                    if k == _SHARE:
                        q = path(p, c)
                        through_of[q] += through
                    if ending:
                        exhausting[q] += ending
                    if through > ending:
                        push((cd, lo, end, q))
                lo = end

    def update(self, kind: list[int]) -> None:
        """Follow candidates who have left the hopeful; lay out the evaluation."""
        changed = [c for c in range(len(kind)) if kind[c] != self.kind[c]]
        self.kind = list(kind)
        for c in changed:
            for p, (_, cd, clo, chi, through, end) in self.stops.pop(c):
                q = p
                if kind[c] == _SHARE:
                    q = self.path(p, c)
                    self.through[q] += through
                self.exhausting[q] += end
                if through > end:
                    self.walk(cd, clo, chi, q)
            del self.stopped[c]
        # Positions: by level, then candidate, so a parent comes before its children.
        place = list(zip(self.level, self.votes_of, strict=True))
        order = sorted(range(len(place)), key=place.__getitem__)
        pos = [0] * len(order)
        for at, i in enumerate(order):
            pos[i] = at
        self.blocks = []
        at = 1
        for (_, c), members in groupby(order[1:], key=place.__getitem__):
            paths = list(members)
            self.blocks.append(
                (
                    c,
                    at,
                    at + len(paths),
                    _gather([pos[self.parent[i]] for i in paths]),
                    [self.through[i] for i in paths],
                )
            )
            at += len(paths)
        self.ends = [self.exhausting[i] for i in order]
        self.reaching = []
        for c, here in self.stopped.items():
            if here:
                paths = sorted(here)
                self.reaching.append(
                    (c, _gather([pos[p] for p in paths]), [here[p] for p in paths])
                )
        self.hopeful = [c for c in range(len(kind)) if kind[c] == _STOP]

    def run(self, keep: list[int], scale: int, n: int) -> tuple[list[int], int]:
        """One distribution: the votes of every candidate and the exhausted value."""
        votes = [0] * n
        values = [0] * len(self.ends)
        values[0] = scale
        for c, a, b, parents, through in self.blocks:
            r = parents(values)
            # floor(-r x keep / scale) = -(r x keep / scale rounded up): cl 7 rounds up.
            minus_kept = list(map(floordiv, map(mul, r, repeat(-keep[c])), repeat(scale)))
            votes[c] -= sum(map(mul, minus_kept, through))
            values[a:b] = map(add, r, minus_kept)
        for c, at, papers in self.reaching:
            votes[c] = sum(map(mul, at(values), papers))
        return votes, sum(map(mul, values, self.ends))


class _Meek:
    def __init__(
        self,
        params: MeekParams,
        profile: Profile,
        seats: int,
        constraints: Sequence[Constraint],
        lot: Lot,
        *,
        compiled: bool = True,
    ) -> None:
        prep = prepare(profile)
        self.p = params
        self.prep = prep
        self.cands = prep.candidates
        self.n = len(self.cands)
        self.seats = seats
        self.constraints = tuple(constraints)
        self.lot = lot
        self.scale = 10**params.decimals
        self.tree = _Tree(prep.rankings, prep.cum, len(prep.candidates))
        self.state = [WITHDRAWN if c.withdrawn else HOPEFUL for c in self.cands]
        self.keep = [0 if c.withdrawn else self.scale for c in self.cands]
        self.votes = [0] * self.n
        self.exhausted: int = 0
        self.total: int = prep.valid * self.scale
        self.quota: int = 0
        self.elected: list[int] = []
        self.rounds: list[Round] = []
        self.ties: list[Tie] = []
        self.actions: list[ConstraintAction] = []
        self.history: list[tuple[int, ...]] = []
        self.round_number = 0
        self.round_elected: list[int] = []
        self.round_excluded: list[int] = []
        self.round_notes: list[str] = []
        self.prev_votes: tuple[int, ...] = tuple(self.votes)
        self.prev_exhausted = 0
        self.iterations = 0
        self.compiled = compiled
        self.program: _Program | None = None

    # -- arithmetic ---------------------------------------------------------------

    def distribute(self) -> None:
        """Schedule 1A cl 6-7: share every document's value by the keep values."""
        kinds = self.kinds() if self.compiled else None
        if kinds is None:
            self.walk_distribute()
        else:
            program = self.program
            if program is None or any(
                old != new and old != _STOP for old, new in zip(program.kind, kinds, strict=True)
            ):
                program = self.program = _Program(self.tree, kinds)
            elif program.kind != kinds:
                program.update(kinds)
            self.votes, self.exhausted = program.run(self.keep, self.scale, self.n)
        self.quota = self.compute_quota()

    def kinds(self) -> list[int] | None:
        """How :class:`_Program` treats each candidate; None if a keep value is unexpected."""
        out = []
        for state, k in zip(self.state, self.keep, strict=True):
            if state == HOPEFUL:
                if k != self.scale:
                    return None
                out.append(_STOP)
            elif state == ELECTED:
                out.append(_SHARE)
            else:
                if k != 0:
                    return None
                out.append(_PASS)
        return out

    def walk_distribute(self) -> None:
        """cl 6-7 document by document (by prefix-tree node): the reference for _Program."""
        votes = [0] * self.n
        keep = self.keep
        scale = self.scale
        exhausted = 0

        children = self.tree.children

        def walk(d: int, lo: int, hi: int, r: int) -> None:
            nonlocal exhausted
            for c, cd, clo, chi, through, end in children(d, lo, hi):
                k = keep[c]
                if k == scale:
                    votes[c] += r * through
                    continue
                kept = -((-r * k) // scale) if k else 0  # rounded up to the precision
                if kept:
                    votes[c] += kept * through
                rest = r - kept
                if rest:
                    if end:
                        exhausted += rest * end
                    if through > end:
                        walk(cd, clo, chi, rest)

        walk(0, 0, len(self.tree.rank), scale)
        self.votes = votes
        self.exhausted = exhausted

    def compute_quota(self) -> int:
        active = self.total - self.exhausted
        q = active // (self.seats + 1)  # truncated to the precision
        if self.p.quota == "nz":
            return q + 1  # cl 5: + 0.000000001
        return q

    def reached(self, c: int) -> bool:
        v = self.votes[c]
        return v >= self.quota if self.p.elect_at == "geq" else v > self.quota

    def total_surplus(self) -> int:
        return sum(max(0, self.votes[c] - self.quota) for c in self.elected)

    def update_keep(self) -> bool:
        """cl 9: keep = keep x quota / votes, rounded up; True if any changed."""
        changed = False
        for c in self.elected:
            v = self.votes[c]
            if v <= 0:
                continue
            new = min(self.scale, -((-self.keep[c] * self.quota) // v))
            if new != self.keep[c]:
                self.keep[c] = new
                changed = True
        return changed

    def frac(self, v: int) -> Fraction:
        return Fraction(v, self.scale)

    # -- bookkeeping ----------------------------------------------------------------

    def hopeful(self) -> list[int]:
        return [c for c in range(self.n) if self.state[c] == HOPEFUL]

    def vacancies(self) -> int:
        return self.seats - len(self.elected)

    def names(self, cs: Sequence[int]) -> list[str]:
        return [self.cands[c].name for c in cs]

    def begin_round(self) -> None:
        self.round_number += 1
        self.round_elected, self.round_excluded, self.round_notes = [], [], []
        self.prev_votes = tuple(self.votes)
        self.prev_exhausted = self.exhausted

    def end_round(self, action: str, subjects: Sequence[int]) -> None:
        withdrawn = [self.state[c] == WITHDRAWN for c in range(self.n)]
        self.rounds.append(
            Round(
                number=self.round_number,
                action=action,
                subjects=tuple(subjects),
                tallies=tuple(
                    None if withdrawn[c] else self.frac(self.votes[c]) for c in range(self.n)
                ),
                transfers=tuple(
                    None if withdrawn[c] else self.frac(self.votes[c] - self.prev_votes[c])
                    for c in range(self.n)
                ),
                exhausted=self.frac(self.exhausted),
                exhausted_change=self.frac(self.exhausted - self.prev_exhausted),
                quota=self.frac(self.quota),
                elected=tuple(self.round_elected),
                excluded=tuple(self.round_excluded),
                notes=tuple(self.round_notes),
                keep_factors=tuple(self.frac(k) for k in self.keep),
            )
        )
        self.history.append(tuple(self.votes))

    def amend_last_round(self) -> None:
        last = self.rounds[-1]
        self.rounds[-1] = Round(
            number=last.number,
            action=last.action,
            subjects=last.subjects,
            tallies=last.tallies,
            transfers=last.transfers,
            exhausted=last.exhausted,
            exhausted_change=last.exhausted_change,
            quota=last.quota,
            elected=last.elected + tuple(self.round_elected),
            excluded=last.excluded + tuple(self.round_excluded),
            notes=last.notes + tuple(self.round_notes),
            keep_factors=last.keep_factors,
        )

    def break_tie(self, tied: list[int], kind: str, highest: bool) -> int:
        """Part 5 "ahead at first difference", then the seeded lot."""
        if len(tied) == 1:
            return tied[0]
        group = sorted(tied)
        for i, snap in enumerate(self.history):
            best = max(snap[c] for c in group) if highest else min(snap[c] for c in group)
            narrowed = [c for c in group if snap[c] == best]
            if len(narrowed) < len(group):
                group = narrowed
                if len(group) == 1:
                    self.ties.append(
                        Tie(
                            round=self.round_number,
                            kind=kind,
                            candidates=tuple(sorted(tied)),
                            method="look-back",
                            chosen=group[0],
                            detail=f"first difference at round {i + 1}",
                        )
                    )
                    return group[0]
        chosen = self.lot.draw(kind, self.round_number, group)
        self.ties.append(
            Tie(
                round=self.round_number,
                kind=kind,
                candidates=tuple(sorted(tied)),
                method="lot",
                chosen=chosen,
                detail="among " + ", ".join(self.names(group)),
            )
        )
        return chosen

    def order_by_votes(self, cs: list[int]) -> list[int]:
        out: list[int] = []
        rest = list(cs)
        while rest:
            top = max(self.votes[c] for c in rest)
            pick = self.break_tie([c for c in rest if self.votes[c] == top], "election-order", True)
            out.append(pick)
            rest.remove(pick)
        return out

    def act(self, action: str, cs: Sequence[int], detail: str) -> None:
        label = "; ".join(c.label() for c in self.constraints)
        self.actions.append(
            ConstraintAction(
                round=self.round_number,
                constraint=label,
                action=action,
                candidates=tuple(cs),
                detail=detail,
            )
        )
        self.round_notes.append(f"constraint {label}: {', '.join(self.names(cs))} {detail}")

    def elect_reaching(self) -> bool:
        """cl 8: elect hopeful candidates at or above the quota."""
        reaching = [c for c in self.hopeful() if self.reached(c)]
        any_elected = False
        for c in self.order_by_votes(reaching):
            if self.vacancies() <= 0:
                break
            if self.constraints and not cons.electable(
                self.constraints, self.cands, self.elected, self.hopeful(), self.vacancies(), c
            ):
                self.act(
                    "not-elected",
                    [c],
                    "reached the quota, but electing them would leave a minimum unattainable",
                )
                continue
            self.state[c] = ELECTED
            self.elected.append(c)
            self.round_elected.append(c)
            self.round_notes.append(f"{self.cands[c].name} elected (reached the quota)")
            any_elected = True
        return any_elected

    def exclude(self, cs: Sequence[int], why: str) -> None:
        for c in cs:
            self.state[c] = EXCLUDED
            self.keep[c] = 0  # cl 11: keep value 0
            self.round_excluded.append(c)
            self.round_notes.append(f"{self.cands[c].name} excluded ({why})")

    def converge(self) -> None:
        """cl 9-10: iterate until the surplus is below tolerance or someone reaches quota."""
        tolerance = 10 ** (self.p.decimals - self.p.tolerance_decimals)
        previous = self.total_surplus()
        for _ in range(self.p.max_iterations):
            if previous < tolerance:
                return
            if not self.update_keep():
                return  # the keep values are stable at this precision
            self.distribute()
            self.iterations += 1
            if any(self.reached(c) for c in self.hopeful()):
                return
            surplus = self.total_surplus()
            if surplus >= previous:
                return  # no further progress at this precision (Hill 2006)
            previous = surplus

    def run(self) -> None:
        self.begin_round()
        if self.prep.valid == 0:
            # docs/counting.md, "Empty contests": nothing to count, no one elected.
            self.quota = self.compute_quota()
            self.round_notes.append(empty_note(0, self.cands))
            self.end_round("first-preferences", ())
            return
        self.distribute()
        self.elect_reaching()
        self.end_round("first-preferences", ())
        while self.vacancies() > 0:
            hopeful = self.hopeful()
            if len(hopeful) <= self.vacancies():
                # cl 3: elected plus hopeful equal the vacancies.
                self.round_elected, self.round_excluded, self.round_notes = [], [], []
                for c in self.order_by_votes(hopeful):
                    self.state[c] = ELECTED
                    self.elected.append(c)
                    self.round_elected.append(c)
                    self.round_notes.append(f"{self.cands[c].name} elected (last vacancies)")
                self.amend_last_round()
                break
            if self.constraints:
                doomed = [
                    c
                    for c in hopeful
                    if not cons.electable(
                        self.constraints, self.cands, self.elected, hopeful, self.vacancies(), c
                    )
                ]
                if doomed:
                    self.begin_round()
                    self.act(
                        "excluded",
                        doomed,
                        "excluded: their election would leave a minimum unattainable",
                    )
                    self.exclude(doomed, "minimum representation")
                    self.distribute()
                    self.converge()
                    self.elect_reaching()
                    self.end_round("constraint-exclusion", doomed)
                    continue
            self.begin_round()
            self.converge()
            if self.elect_reaching():
                self.end_round("surplus", tuple(self.elected))
                continue
            # cl 11-13: exclude the lowest hopeful candidate.
            candidates, shielded = cons.exclusion_pool(
                self.constraints, self.cands, self.elected, hopeful, self.vacancies(), self.votes
            )
            if shielded:
                self.act("protected", shielded, "not excluded: needed to meet a minimum")
            low = min(self.votes[c] for c in candidates)
            tied = [c for c in candidates if self.votes[c] == low]
            loser = self.break_tie(tied, "exclusion", highest=False)
            self.exclude([loser], "fewest votes")
            self.distribute()
            self.elect_reaching()
            self.end_round("exclusion", (loser,))

    def result(self) -> CountResult:
        return CountResult(
            rule=self.p.name,
            rule_title=self.p.title,
            candidates=self.cands,
            seats=self.seats,
            valid_ballots=self.prep.valid,
            invalid_ballots=self.prep.invalid,
            quota=self.rounds[0].quota,
            decimals=self.p.decimals,
            elected=tuple(self.elected),
            rounds=tuple(self.rounds),
            ties=tuple(self.ties),
            constraint_actions=tuple(self.actions),
            seed=self.lot.known_seed(),
            notes=(f"{self.iterations} Meek iterations",),
        )


PARAMS = MeekParams(name="meek", title="Meek STV (New Zealand Schedule 1A, 9 decimals)")


def count_meek(
    params: MeekParams,
    profile: Profile,
    seats: int,
    constraints: Sequence[Constraint],
    seed: bytes | None,
    *,
    compiled: bool = True,
) -> CountResult:
    """Count ``profile`` by Meek's method under ``params``; pure and deterministic.

    ``compiled=False`` distributes by walking the prefix tree at every iteration
    (the plain reading of cl 6-7) instead of :class:`_Program`; the results are
    identical, which a property test checks.
    """
    if seats < 1:
        raise ProfileError("at least one seat is needed")
    if constraints:
        cons.validate(constraints, profile.candidates, seats)
    lot = Lot(seed=seed, names=tuple(c.name for c in profile.candidates), profile=profile)
    state = _Meek(params, profile, seats, constraints, lot, compiled=compiled)
    state.run()
    return state.result()


def count(
    profile: Profile, seats: int, constraints: Sequence[Constraint], seed: bytes | None
) -> CountResult:
    """Count by Meek's method, New Zealand Schedule 1A."""
    return count_meek(PARAMS, profile, seats, constraints, seed)
