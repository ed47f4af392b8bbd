"""Empty contests (docs/counting.md, "Empty contests"): one defined outcome under every rule."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from counter.ballots.profile import make_profile
from counter.rules import count, report
from counter.rules.model import Constraint, CountResult

RULES = (
    "scottish",
    "ers97",
    "meek",
    "exact-droop",
    "bloc",
    "custom:transfer=meek,decimals=6,quota=nz",
    "custom:transfer=last-parcel,decimals=2,quota=hare,exclusion=batches",
)


def _checked(result: CountResult, outcome: str, seats: int) -> None:
    doc = report.to_json(result)
    assert (doc["outcome"], doc["vacant"], doc["elected"]) == (outcome, seats, [])
    assert doc["ties"] == [] and doc["seed"] == ""  # never a lot on nothing
    assert len(doc["rounds"]) == 1
    assert doc["rounds"][0]["notes"][-1].startswith(f"{outcome}: no one is elected")
    assert all(Fraction(v) == 0 for v in doc["rounds"][0]["tallies"].values())


@pytest.mark.parametrize("rule", RULES)
def test_no_ballots_elects_no_one_and_leaves_every_seat_vacant(rule: str) -> None:
    """No ballots at all: no one elected, not by lot, every seat vacant, 'no valid ballots'."""
    _checked(count(make_profile(["A", "B", "C"], [], seats=2), rule), "no valid ballots", 2)


@pytest.mark.parametrize("rule", RULES)
def test_only_invalid_ballots_is_the_same_outcome(rule: str) -> None:
    """Ballots that name only a withdrawn candidate are invalid: the same empty outcome."""
    profile = make_profile(["A", "B", "C"], [((0,), 4)], seats=2, withdrawn=[0])
    result = count(profile, rule)
    _checked(result, "no valid ballots", 2)
    assert result.invalid_ballots == 4


@pytest.mark.parametrize("rule", RULES)
def test_no_candidate_standing_leaves_every_seat_vacant(rule: str) -> None:
    """Every candidate withdrawn: no one elected, every seat vacant, 'no candidates standing'."""
    profile = make_profile(["A", "B"], [((0, 1), 3)], seats=1, withdrawn=[0, 1])
    _checked(count(profile, rule), "no candidates standing", 1)


@pytest.mark.parametrize("rule", RULES)
def test_a_minimum_on_an_empty_contest_is_no_error(rule: str) -> None:
    """A feasible minimum does not turn an empty contest into an error or an election."""
    profile = make_profile(["A", "B", "C"], [], seats=2)
    profile = dataclasses.replace(
        profile,
        candidates=tuple(dataclasses.replace(c, gender="F") for c in profile.candidates),
    )
    result = count(
        profile, rule, constraints=[Constraint(attribute="gender", value="F", minimum=1)]
    )
    _checked(result, "no valid ballots", 2)


@pytest.mark.parametrize("rule", RULES)
def test_fewer_standing_than_seats_elects_all_who_stand(rule: str) -> None:
    """With ballots and fewer candidates standing than seats, all who stand are elected."""
    profile = make_profile(["A", "B", "C"], [((0, 1), 3), ((1,), 2)], seats=4, withdrawn=[2])
    doc = report.to_json(count(profile, rule))
    assert sorted(doc["elected"]) == ["A", "B"]
    assert (doc["outcome"], doc["vacant"]) == ("seats vacant", 2)


@pytest.mark.parametrize("rule", RULES)
def test_a_full_count_says_filled(rule: str) -> None:
    """An ordinary count fills every seat and says so."""
    profile = make_profile(["A", "B", "C"], [((0, 1), 3), ((1,), 2), ((2,), 1)], seats=1)
    doc = report.to_json(count(profile, rule))
    assert (doc["outcome"], doc["vacant"], len(doc["elected"])) == ("filled", 0, 1)


def test_the_table_says_no_one_is_elected_and_no_lot_was_drawn() -> None:
    """The readable report names the outcome and says no lot was drawn, never a blank seed."""
    text = report.render_table(count(make_profile(["A", "B"], [], seats=1), "scottish"))
    assert "Elected, in order: no one" in text
    assert "Outcome: no valid ballots; 1 of 1 seat(s) vacant" in text
    assert "Lot seed: none (no lot drawn)" in text
