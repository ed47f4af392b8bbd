"""Bloc vote ("vote for up to N", N seats), with minimum-representation constraints.

Rule book (DESIGN §9 and the issue, clause by clause):

1. A ballot marks up to N candidates; the order of the marks is ignored and a
   repeated mark counts once.  A ballot marking more than N standing candidates
   (an over-vote) or none is invalid and counted apart.
2. Each candidate's total is the number of valid ballots marking them.
3. Candidates are placed in descending order of total; equal totals are placed by
   the seeded lot (:mod:`counter.rules.lot`, kind ``bloc-order``).  The first N
   placed are elected.
4. Minimum representation: while a constraint's group holds fewer than K of the
   seats, the lowest-placed elected candidate outside the group (whose removal
   does not break another minimum) is replaced by the highest-placed unelected
   candidate of the group.  Every replacement is reported.
5. Margins: each unelected candidate's margin is how many votes they stand behind
   the lowest-placed elected candidate.
6. Every group of equal totals whose members did not all share the same outcome
   is reported as a tie broken by lot.
7. No valid ballot (or no candidate standing): no one is elected, not by lot either,
   and every seat stays vacant (docs/counting.md, "Empty contests").
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from counter.errors import ProfileError
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


def count(
    profile: Profile, seats: int, constraints: Sequence[Constraint], seed: bytes | None
) -> CountResult:
    """Count a bloc vote for ``seats`` seats."""
    cands = profile.candidates
    n = len(cands)
    if seats < 1:
        raise ProfileError("at least one seat is needed")
    standing = [i for i in range(n) if not cands[i].withdrawn]
    if constraints:
        cons.validate(constraints, cands, seats)
    totals = [0] * n
    valid = invalid = 0
    for ranking, weight in profile.ballots:
        marks = set()
        for c in ranking:
            if not 0 <= c < n:
                raise ProfileError(f"ballot marks candidate {c + 1}, but there are {n}")
            if not cands[c].withdrawn:
                marks.add(c)
        if not marks or len(marks) > seats:  # clause 1
            invalid += weight
            continue
        valid += weight
        for c in marks:
            totals[c] += weight  # clause 2
    lot = Lot(seed=seed, names=tuple(c.name for c in cands), profile=profile)
    if valid == 0:
        # docs/counting.md, "Empty contests": with no valid ballot (or no candidate standing)
        # every total is 0; no one is elected, never by lot, and every seat stays vacant.
        standing = []
    level = len({totals[c] for c in standing}) < len(standing)
    draw = {c: lot.ticket("bloc-order", 1, c) if level else b"" for c in standing}
    placed = sorted(standing, key=lambda c: (-totals[c], draw[c], c))  # clause 3
    rank = {c: i for i, c in enumerate(placed)}
    elected = set(placed[:seats])
    actions: list[ConstraintAction] = []
    for _ in range(seats * max(1, len(constraints)) + 1):  # clause 4
        short = [
            con
            for con in constraints
            if sum(1 for e in elected if con.holds_for(cands[e])) < con.minimum
        ]
        if not short or not placed:
            break
        con = short[0]
        outside = [e for e in elected if not con.holds_for(cands[e])]
        safe = [
            e
            for e in outside
            if all(
                sum(1 for x in elected if x != e and o.holds_for(cands[x])) >= o.minimum
                or not o.holds_for(cands[e])
                for o in constraints
            )
        ]
        out = max(safe or outside, key=lambda c: rank[c])
        inn = min(
            (c for c in placed if c not in elected and con.holds_for(cands[c])),
            key=lambda c: rank[c],
        )
        elected.remove(out)
        elected.add(inn)
        actions.append(
            ConstraintAction(
                round=1,
                constraint=con.label(),
                action="replaced",
                candidates=(out, inn),
                detail=f"{cands[out].name} (placed {rank[out] + 1}) replaced by "
                f"{cands[inn].name} (placed {rank[inn] + 1})",
            )
        )
    order = sorted(elected, key=lambda c: rank[c])
    ties: list[Tie] = []
    for value in sorted({totals[c] for c in standing}, reverse=True):
        group = [c for c in placed if totals[c] == value]
        if len(group) > 1 and 0 < sum(1 for c in group if c in elected) < len(group):
            ties.append(
                Tie(
                    round=1,
                    kind="bloc-order",
                    candidates=tuple(sorted(group)),
                    method="lot",
                    chosen=group[0],
                    detail="placed by lot: " + ", ".join(cands[c].name for c in group),
                )
            )
    last = min(totals[c] for c in elected) if elected else 0
    margins = tuple(
        None if c in elected or cands[c].withdrawn or not elected else Fraction(last - totals[c])
        for c in range(n)
    )
    tallies = tuple(None if cands[c].withdrawn else Fraction(totals[c]) for c in range(n))
    notes = [f"{cands[c].name} elected (placed {rank[c] + 1})" for c in order]
    if valid == 0:
        notes.append(empty_note(valid, cands))
    notes += [a.detail for a in actions]
    rnd = Round(
        number=1,
        action="bloc",
        subjects=(),
        tallies=tallies,
        transfers=tallies,
        exhausted=Fraction(0),
        exhausted_change=Fraction(0),
        quota=Fraction(0),
        elected=tuple(order),
        excluded=(),
        notes=tuple(notes),
    )
    return CountResult(
        rule="bloc",
        rule_title='Bloc vote ("vote for up to N")',
        candidates=cands,
        seats=seats,
        valid_ballots=valid,
        invalid_ballots=invalid,
        quota=Fraction(0),
        decimals=0,
        elected=tuple(order),
        rounds=(rnd,),
        ties=tuple(ties),
        constraint_actions=tuple(actions),
        margins=margins,
        seed=lot.known_seed(),
    )
