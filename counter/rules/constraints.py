"""Minimum-representation constraints ("at least K seats to women") for every rule.

Method chosen for STV (all rule sets): *feasibility guarding*.  At every point of
the count we ask whether the seats still to fill can still meet every minimum
from the candidates still continuing.  Then:

* a continuing candidate whose election would make some minimum unattainable
  cannot be elected: such candidates are excluded together, in a stage of their
  own, before any surplus or ordinary exclusion, and their papers transfer as
  in an ordinary exclusion under the rule in force.  With one constraint this is
  exactly "once the seats left equal the number of the group still needed,
  exclude the other continuing candidates"; a candidate of the other group who
  reaches the quota in that position is not elected but excluded;
* a continuing candidate whose exclusion would make a minimum unattainable is
  protected: the lowest *unprotected* candidate is excluded instead.

The report lists every such action.  See ``docs/counting.md`` for why this
method and what the alternative (replacing the lowest-placed winners after an
unconstrained count) would elect.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from counter.errors import ConstraintError
from counter.rules.model import Candidate, Constraint


def validate(
    constraints: Sequence[Constraint], candidates: Sequence[Candidate], seats: int
) -> None:
    """Refuse constraints that no choice of winners could meet."""
    for con in constraints:
        if con.minimum < 0:
            raise ConstraintError(f"minimum must not be negative: {con.label()}")
        if con.attribute not in ("gender", "slate", "name", "id"):
            raise ConstraintError(
                f"unknown attribute {con.attribute!r} (use gender, slate, name or id)"
            )
    standing = [i for i, c in enumerate(candidates) if not c.withdrawn]
    if not feasible(constraints, candidates, (), standing, seats):
        labels = ", ".join(c.label() for c in constraints)
        raise ConstraintError(
            f"the minimum {labels} cannot be met with {seats} seats from the candidates standing"
        )


def needs(
    constraints: Sequence[Constraint], candidates: Sequence[Candidate], elected: Iterable[int]
) -> tuple[int, ...]:
    """How many more seats each constraint still needs."""
    chosen = list(elected)
    return tuple(
        max(0, con.minimum - sum(1 for e in chosen if con.holds_for(candidates[e])))
        for con in constraints
    )


def feasible(
    constraints: Sequence[Constraint],
    candidates: Sequence[Candidate],
    elected: Iterable[int],
    continuing: Iterable[int],
    vacancies: int,
) -> bool:
    """Can at most ``vacancies`` of ``continuing`` meet what every constraint still needs?"""
    if not constraints:
        return True
    need = needs(constraints, candidates, elected)
    if not any(need):
        return True
    counts: dict[tuple[bool, ...], int] = {}
    for c in continuing:
        sig = tuple(con.holds_for(candidates[c]) for con in constraints)
        if any(sig):
            counts[sig] = counts.get(sig, 0) + 1
    sigs = sorted(counts, key=lambda s: -sum(s))
    return _search(sigs, counts, list(need), vacancies)


def _search(
    sigs: list[tuple[bool, ...]], counts: dict[tuple[bool, ...], int], need: list[int], room: int
) -> bool:
    if not any(n > 0 for n in need):
        return True
    if not sigs or room <= 0:
        return False
    sig, rest = sigs[0], sigs[1:]
    useful = max((n for n, s in zip(need, sig, strict=True) if s), default=0)
    for take in range(min(counts[sig], room, useful), -1, -1):
        after = [n - take if s else n for n, s in zip(need, sig, strict=True)]
        if _search(rest, counts, after, room - take):
            return True
    return False


def electable(
    constraints: Sequence[Constraint],
    candidates: Sequence[Candidate],
    elected: Sequence[int],
    continuing: Sequence[int],
    vacancies: int,
    candidate: int,
) -> bool:
    """Would electing ``candidate`` still leave every minimum attainable?"""
    rest = [c for c in continuing if c != candidate]
    return feasible(constraints, candidates, [*elected, candidate], rest, vacancies - 1)


def excludable(
    constraints: Sequence[Constraint],
    candidates: Sequence[Candidate],
    elected: Sequence[int],
    continuing: Sequence[int],
    vacancies: int,
    candidate: int,
) -> bool:
    """Would excluding ``candidate`` still leave every minimum attainable?"""
    rest = [c for c in continuing if c != candidate]
    return feasible(constraints, candidates, elected, rest, vacancies)


def exclusion_pool(
    constraints: Sequence[Constraint],
    candidates: Sequence[Candidate],
    elected: Sequence[int],
    hopeful: Sequence[int],
    vacancies: int,
    votes: Sequence[Any],
) -> tuple[list[int], list[int]]:
    """Who may be excluded now, and who is shielded: the lowest hopefuls whose exclusion would
    leave a minimum unattainable. With no excludable hopeful, all of them may be (a minimum
    that cannot be kept any more does not stop the count)."""
    if not constraints:
        return list(hopeful), []
    open_ = [
        c for c in hopeful if excludable(constraints, candidates, elected, hopeful, vacancies, c)
    ]
    low = min(votes[c] for c in hopeful)
    shielded = [c for c in hopeful if c not in open_ and votes[c] == low]
    return (open_ or list(hopeful)), shielded
