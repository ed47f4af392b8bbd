"""Specific behaviours of the rules, the registry, the lot and the constraints."""

from __future__ import annotations

from fractions import Fraction

import pytest

from counter.ballots.profile import make_profile
from counter.errors import ConstraintError, RuleSpecError, UnknownRule
from counter.rules import RULES, count, resolve
from counter.rules.lot import Lot, default_seed
from counter.rules.model import Constraint


def _profile(ballots: list[tuple[tuple[int, ...], int]], n: int, seats: int = 1):  # type: ignore[no-untyped-def]
    return make_profile([f"C{i + 1}" for i in range(n)], ballots, seats=seats)


def test_registry_lists_every_rule_explicitly() -> None:
    """The registry names bloc, scottish, ers97, meek and exact-droop."""
    assert set(RULES) == {"bloc", "scottish", "ers97", "meek", "exact-droop"}


def test_unknown_rule_and_bad_custom_options_are_refused() -> None:
    """An unknown rule name or custom option raises a clear error."""
    with pytest.raises(UnknownRule, match="unknown rule"):
        resolve("irv")
    with pytest.raises(RuleSpecError, match="unknown custom rule option"):
        resolve("custom:colour=red")
    with pytest.raises(RuleSpecError, match="Meek needs a fixed precision"):
        resolve("custom:transfer=meek")


def test_scottish_quota_is_floor_of_valid_over_seats_plus_one_plus_one() -> None:
    """SSI 2007/42 rule 46: 20 valid papers, 3 seats -> quota 6."""
    profile = _profile([((0,), 8), ((1,), 7), ((2,), 5)], 3, seats=3)
    assert count(profile, "scottish").quota == 6


def test_scottish_transfer_values_are_truncated_to_five_decimals() -> None:
    """Rule 48(3): a surplus of 1 over 3 papers goes on at 0.33333 each."""
    profile = _profile([((0, 1), 3), ((1,), 1), ((2,), 1)], 3, seats=2)
    result = count(profile, "scottish")
    # quota floor(5/3)+1 = 2: C1 has 3, surplus 1, TV = 1 * 1 / 3 -> 0.33333
    assert result.rounds[1].tallies[1] == 1 + Fraction(99999, 100000)


def test_custom_exact_droop_is_an_exact_fraction_without_the_plus_one() -> None:
    """The exact-Droop preset uses v/(s+1) exactly and elects on exceeding it."""
    profile = _profile([((0,), 5), ((1,), 3), ((2,), 2)], 3, seats=2)
    assert count(profile, "exact-droop").quota == Fraction(10, 3)


def test_lot_is_reproducible_and_changes_with_the_seed() -> None:
    """The same seed draws the same candidate; the draw depends only on seed and context."""
    lot = Lot(seed=b"a" * 32, names=("A", "B", "C", "D"))
    assert lot.draw("exclusion", 3, [0, 1, 2, 3]) == lot.draw("exclusion", 3, [3, 2, 1, 0])
    draws = {
        Lot(seed=bytes([i]) * 32, names=("A", "B", "C", "D")).draw("x", 1, [0, 1, 2, 3])
        for i in range(40)
    }
    assert len(draws) > 1


def test_a_pure_tie_is_decided_by_lot_and_reported_with_the_seed() -> None:
    """Equal at every stage: the lot decides, the tie is reported, the seed is recorded."""
    profile = _profile([((0,), 2), ((1,), 2), ((2,), 3)], 3, seats=1)
    result = count(profile, "scottish", seed=bytes.fromhex("00" * 32))
    lots = [t for t in result.ties if t.method == "lot"]
    assert lots and lots[0].kind == "exclusion"
    assert result.seed == "00" * 32


def test_default_seed_does_not_depend_on_ballot_order() -> None:
    """The default seed hashes the grouped, sorted profile."""
    a = make_profile(["A", "B"], [((0,), 1), ((1,), 2)])
    b = make_profile(["A", "B"], [((1,), 1), ((0,), 1), ((1,), 1)])
    assert default_seed(a) == default_seed(b)


def test_constraint_that_cannot_be_met_is_refused() -> None:
    """Asking for more women than stand is an error, not a silent relaxation."""
    profile = _profile([((0,), 1)], 2, seats=2)
    with pytest.raises(ConstraintError, match="cannot be met"):
        count(
            profile, "scottish", constraints=[Constraint(attribute="gender", value="F", minimum=1)]
        )


def test_bloc_replaces_lowest_placed_winner_and_reports_margins() -> None:
    """Bloc: the lowest-placed man gives way to the highest-placed woman; margins are reported."""
    import dataclasses

    profile = _profile([((0, 1), 5), ((2,), 3), ((3,), 1)], 4, seats=2)
    women = tuple(
        dataclasses.replace(c, gender="F" if c.name in ("C3", "C4") else "M")
        for c in profile.candidates
    )
    profile = dataclasses.replace(profile, candidates=women)
    plain = count(profile, "bloc")
    assert plain.elected_names == ("C1", "C2") or plain.elected_names == ("C2", "C1")
    result = count(
        profile, "bloc", constraints=[Constraint(attribute="gender", value="F", minimum=1)]
    )
    assert set(result.elected_names) == {"C3", *plain.elected_names[:1]}
    assert result.constraint_actions[0].action == "replaced"
    assert result.margins is not None and result.margins[3] == 2
