"""Properties every rule keeps, whatever the ballots."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from counter.ballots.profile import grouped
from counter.rules import count, report
from counter.rules.model import Candidate, Profile

RULES = ("scottish", "ers97", "meek", "exact-droop", "bloc")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def elections(draw: st.DrawFn) -> tuple[Profile, int]:
    n = draw(st.integers(min_value=2, max_value=6))
    seats = draw(st.integers(min_value=1, max_value=n))
    ranking = st.lists(
        st.integers(min_value=0, max_value=n - 1), min_size=1, max_size=n, unique=True
    )
    ballots = draw(
        st.lists(
            st.tuples(ranking.map(tuple), st.integers(min_value=1, max_value=4)),
            min_size=1,
            max_size=25,
        )
    )
    candidates = tuple(Candidate(id=str(i + 1), name=f"C{i + 1}") for i in range(n))
    return Profile(candidates=candidates, ballots=tuple(ballots), seats=seats), seats


def _report(profile: Profile, rule: str, seats: int) -> object:
    # One fixed seed: the default seed is itself a function of the grouped profile.
    return report.to_json(count(profile, rule, seats, seed=b"\x01" * 32))


@SETTINGS
@given(data=elections(), rule=st.sampled_from(RULES), shuffle=st.randoms(use_true_random=False))
def test_permuting_ballot_order_never_changes_the_result(
    data: tuple[Profile, int], rule: str, shuffle: object
) -> None:
    """Shuffling the ballots (and the default seed derived from them) changes nothing."""
    profile, seats = data
    ballots = list(profile.ballots)
    shuffle.shuffle(ballots)  # type: ignore[attr-defined]
    other = Profile(candidates=profile.candidates, ballots=tuple(ballots), seats=seats)
    assert report.to_json(count(profile, rule, seats)) == report.to_json(count(other, rule, seats))


@SETTINGS
@given(data=elections(), rule=st.sampled_from(("scottish", "ers97", "meek", "exact-droop")))
def test_stv_fills_every_seat_when_enough_candidates_stand(
    data: tuple[Profile, int], rule: str
) -> None:
    """Every STV rule elects exactly as many candidates as seats, all distinct."""
    profile, seats = data
    result = count(profile, rule, seats)
    assert len(result.elected) == seats
    assert len(set(result.elected)) == seats


@SETTINGS
@given(data=elections())
def test_bloc_fills_every_seat_when_enough_candidates_have_votes(data: tuple[Profile, int]) -> None:
    """Bloc fills every seat when enough stand, unless no ballot is valid: then no one."""
    profile, seats = data
    result = count(profile, "bloc", seats)
    if result.valid_ballots:
        assert len(result.elected) == seats
    else:  # every ballot an over-vote: nothing to count, never an election by lot
        assert (result.elected, result.outcome, result.vacant) == ((), "no valid ballots", seats)


@SETTINGS
@given(data=elections(), rule=st.sampled_from(RULES))
def test_grouped_and_ungrouped_profiles_give_identical_reports(
    data: tuple[Profile, int], rule: str
) -> None:
    """Counting ballots one by one or grouped by ranking gives the same report."""
    profile, seats = data
    singles = tuple((r, 1) for r, w in profile.ballots for _ in range(w))
    ungrouped = Profile(candidates=profile.candidates, ballots=singles, seats=seats)
    assert _report(ungrouped, rule, seats) == _report(grouped(profile), rule, seats)


@SETTINGS
@given(data=elections(), rule=st.sampled_from(("scottish", "ers97", "exact-droop")))
def test_votes_are_conserved_in_every_round(data: tuple[Profile, int], rule: str) -> None:
    """Tallies plus non-transferable always add up to the valid poll."""
    profile, seats = data
    result = count(profile, rule, seats)
    for r in result.rounds:
        total = sum(t for t in r.tallies if t is not None) + r.exhausted
        assert total == result.valid_ballots
