"""The fast code paths give exactly what the plain ones give.

* :func:`counter.ballots.profile.group` (``Counter`` + C-level passes over the distinct
  rankings) against :func:`counter.ballots.profile._group_general` (one ballot at a time).
* Meek's compiled distribution (:class:`counter.rules.meek._Program`) against the
  walk of the prefix tree at every iteration, over the rule's parameters,
  withdrawn candidates and minimum-representation constraints.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from counter.ballots.profile import _group_general, group
from counter.errors import CounterError, ProfileError
from counter.rules import report
from counter.rules.meek import MeekParams, count_meek
from counter.rules.model import Candidate, Constraint, Profile

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except ProfileError as exc:
        return ("error", str(exc))


@SETTINGS
@given(
    n=st.integers(min_value=0, max_value=6),
    ballots=st.lists(
        st.tuples(
            st.lists(st.integers(min_value=-1, max_value=7), max_size=7),
            st.integers(min_value=-1, max_value=3),
        ),
        max_size=30,
    ),
    as_lists=st.booleans(),
    as_iterator=st.booleans(),
    check=st.booleans(),
)
def test_group_matches_the_ballot_by_ballot_grouping(
    n: int,
    ballots: list[tuple[list[int], int]],
    as_lists: bool,
    as_iterator: bool,
    check: bool,
) -> None:
    pairs = [(r if as_lists else tuple(r), w) for r, w in ballots]
    given_in = iter(pairs) if as_iterator else pairs
    candidates = n if check else None
    assert _outcome(group, given_in, candidates) == _outcome(_group_general, pairs, candidates)


def test_group_sorts_large_indices_as_tuples() -> None:
    ballots = [((300, 1), 1), ((2, 299), 2), ((2,), 1), ((), 1), ((2, 299), 1)]
    assert group(ballots) == _group_general(ballots)
    assert group(ballots) == (((), 1), ((2,), 1), ((2, 299), 3), ((300, 1), 1))


@st.composite
def meek_counts(draw: st.DrawFn) -> tuple[MeekParams, Profile, int, list[Constraint]]:
    n = draw(st.integers(min_value=2, max_value=7))
    seats = draw(st.integers(min_value=1, max_value=n - 1))
    ranking = st.lists(
        st.integers(min_value=0, max_value=n - 1), min_size=1, max_size=n, unique=True
    )
    ballots = draw(
        st.lists(
            st.tuples(ranking.map(tuple), st.integers(min_value=1, max_value=40)),
            min_size=1,
            max_size=40,
        )
    )
    withdrawn = draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=1))
    genders = draw(st.lists(st.sampled_from("FM"), min_size=n, max_size=n))
    candidates = tuple(
        Candidate(id=str(i + 1), name=f"C{i + 1}", gender=genders[i], withdrawn=i in withdrawn)
        for i in range(n)
    )
    constraints = []
    if draw(st.booleans()):
        constraints = [Constraint(attribute="gender", value="F", minimum=1)]
    params = MeekParams(
        name="meek-test",
        title="Meek (test)",
        decimals=draw(st.sampled_from((1, 2, 5, 9, 12))),
        quota=draw(st.sampled_from(("nz", "droop-exact"))),
        elect_at=draw(st.sampled_from(("geq", "gt"))),
        tolerance_decimals=draw(st.sampled_from((0, 1, 5))),
    )
    profile = Profile(candidates=candidates, ballots=group(ballots), seats=seats, grouped=True)
    return params, profile, seats, constraints


def _meek(data: tuple[MeekParams, Profile, int, list[Constraint]], compiled: bool) -> object:
    params, profile, seats, constraints = data
    try:
        result = count_meek(params, profile, seats, constraints, b"\x02" * 32, compiled=compiled)
    except CounterError as exc:
        return ("error", type(exc).__name__, str(exc))
    return result, report.to_json(result)


@SETTINGS
@given(data=meek_counts())
def test_compiled_meek_distribution_equals_the_tree_walk(
    data: tuple[MeekParams, Profile, int, list[Constraint]],
) -> None:
    assert _meek(data, compiled=True) == _meek(data, compiled=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_meek_equals_the_tree_walk_on_a_party_profile(seed: int) -> None:
    """A larger seeded profile (many elected and excluded paths)."""
    from ballot.bench.count import generate
    from counter.rules import meek

    ballots = generate(20_000, 12, seed)
    names = [f"C{i}" for i in range(12)]
    profile = Profile(
        candidates=tuple(Candidate(id=str(i + 1), name=nm) for i, nm in enumerate(names)),
        ballots=group(ballots, 12),
        seats=7,
        grouped=True,
    )
    data = (meek.PARAMS, profile, 7, [])
    assert _meek(data, compiled=True) == _meek(data, compiled=False)
