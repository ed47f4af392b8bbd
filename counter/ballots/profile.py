"""Grouping identical rankings, and the canonical encoding a default lot seed hashes.

A count depends only on the distinct rankings and how many voters cast each one:
:func:`group` folds any sequence of ``(ranking, weight)`` pairs into that form,
sorted, so the order ballots arrive in can never change a result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from operator import itemgetter, mul

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

    Speed: the only per-ballot work is hashing, done in C by ``Counter`` over the
    ``(ranking, weight)`` pairs; everything else touches only the distinct pairs,
    through C-level ``map`` passes.  Rankings are sorted by their ``bytes`` image,
    which orders tuples of indices in ``0..255`` exactly as the tuples compare.
    Anything else (lists, large or negative indices, a repeated candidate, one
    ranking under two weights) takes :func:`_group_general`: the same result.
    """
    items = ballots if isinstance(ballots, list | tuple) else list(ballots)
    try:
        pairs = Counter(items)
    except TypeError:  # an unhashable ranking, e.g. a list
        return _group_general(items, candidates)
    rankings = list(map(itemgetter(0), pairs))
    weights = list(map(itemgetter(1), pairs))
    if weights.count(1) == len(weights):
        weights = list(pairs.values())  # one voter per paper: each ranking is listed once
    elif min(weights) < 0 or len(set(rankings)) < len(rankings):
        return _group_general(items, candidates)
    else:
        weights = list(map(mul, weights, pairs.values()))
    if not set(map(type, rankings)) <= {tuple}:
        return _group_general(items, candidates)
    try:
        images = list(map(bytes, rankings))  # ValueError unless every index is in 0..255
    except (TypeError, ValueError):
        return _group_general(items, candidates)
    if list(map(len, map(set, images))) != list(map(len, images)):
        return _group_general(items, candidates)  # a candidate repeated within a ranking
    if candidates is not None and b"".join(images).translate(
        None, bytes(range(min(candidates, 256)))
    ):
        raise ProfileError(f"a ranking refers to a candidate outside 1..{candidates}")
    if len(images) < 2:
        out = tuple(zip(rankings, weights, strict=True))
    else:
        pick = itemgetter(*sorted(range(len(images)), key=images.__getitem__))
        out = tuple(zip(pick(rankings), pick(weights), strict=True))
    if 0 in weights:
        return tuple(pair for pair in out if pair[1] != 0)
    return out


def _group_general(
    ballots: Iterable[tuple[Ranking, int]], candidates: int | None = None
) -> tuple[tuple[Ranking, int], ...]:
    """:func:`group` for any iterable rankings, one ballot at a time."""
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
