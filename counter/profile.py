"""Grouping identical rankings, and the canonical encoding a default lot seed hashes.

A count depends only on the distinct rankings and how many voters cast each one:
:func:`group` folds any sequence of ``(ranking, weight)`` pairs into that form,
sorted, so the order ballots arrive in can never change a result.
"""

from __future__ import annotations

from collections.abc import Iterable

from counter.errors import ProfileError
from counter.rules.lot import canonical_bytes, default_seed
from counter.rules.model import Candidate, Profile, Ranking

__all__ = ["canonical_bytes", "default_seed", "group", "grouped", "make_profile"]


def group(
    ballots: Iterable[tuple[Ranking, int]], candidates: int | None = None
) -> tuple[tuple[Ranking, int], ...]:
    """Sum the weights of identical rankings; the result is sorted by ranking.

    A candidate repeated within a ranking keeps only its first place.  With
    ``candidates`` given, every index must lie in ``range(candidates)``.
    """
    totals: dict[Ranking, int] = {}
    get = totals.get
    for ranking, weight in ballots:
        if weight < 0:
            raise ProfileError(f"negative ballot weight {weight}")
        key = tuple(ranking)
        if len(set(key)) != len(key):
            key = tuple(dict.fromkeys(key))
        totals[key] = get(key, 0) + weight
    if candidates is not None:
        for key in totals:
            if key and (min(key) < 0 or max(key) >= candidates):
                raise ProfileError(f"a ranking refers to a candidate outside 1..{candidates}")
    return tuple(sorted((r, w) for r, w in totals.items() if w != 0))


def grouped(profile: Profile) -> Profile:
    """The same profile with identical rankings grouped, marked ``grouped``."""
    if profile.grouped:
        return profile
    return Profile(
        candidates=profile.candidates,
        ballots=group(profile.ballots, len(profile.candidates)),
        seats=profile.seats,
        title=profile.title,
        grouped=True,
    )


def make_profile(
    names: Iterable[str],
    ballots: Iterable[tuple[Ranking, int]],
    *,
    seats: int | None = None,
    withdrawn: Iterable[int] = (),
    title: str = "",
) -> Profile:
    """A grouped profile from candidate names and ``(ranking, weight)`` pairs."""
    out = set(withdrawn)
    candidates = tuple(
        Candidate(id=str(i + 1), name=name, withdrawn=i in out) for i, name in enumerate(names)
    )
    return Profile(
        candidates=candidates,
        ballots=group(ballots, len(candidates)),
        seats=seats,
        title=title,
        grouped=True,
    )
