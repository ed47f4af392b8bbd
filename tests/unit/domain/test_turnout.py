"""The turnout rule (pure): totals only while the poll is open, the final report's groups all or
nothing over the roll's cross-tabulation with static pools, groups adding up to ``cast``, the
change rule between published reports, and a schedule that the clock alone sets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import schemas
from ledger.domain import turnout as tn


def counts(
    roll: Sequence[Mapping[str, str]], voted: Sequence[int], dims: Sequence[str]
) -> dict[str, tn.ContestCounts]:
    """The snapshot of one contest ``c`` whose roll is ``roll`` and where ``voted`` voted."""
    eligible = {"c": dict(Counter(tuple(m[d] for d in dims) for m in roll))}
    cast = {"c": dict(Counter(tuple(roll[i][d] for d in dims) for i in voted))}
    return tn.snapshot(eligible, cast, [("c", len(roll), len(voted))], dims)


def final(roll: Sequence[Mapping[str, str]], voted: Sequence[int], t: int) -> Any:
    """The final report's ``contests.c`` over the dimensions of ``roll``."""
    return tn.report(counts(roll, voted, sorted(roll[0])), t, final=True)["contests"]["c"]


def test_small_is_cast_or_eligible_minus_cast_below_t() -> None:
    """A count is under the threshold while its cast < t or its eligible - cast < t."""
    assert tn.small(2, 20, 3) and tn.small(18, 20, 3)
    assert not tn.small(3, 20, 3) and not tn.small(17, 20, 3)


def test_groups_are_null_while_the_poll_is_open() -> None:
    """While the poll is open a report shows the totals only: every group of the roll listed,
    and null, however large."""
    roll = [{"region": r} for r in "nnnnnnssssss"]
    report = tn.report(counts(roll, [0, 1, 2, 6, 7, 8], ["region"]), 3)["contests"]["c"]
    assert report == {"cast": 6, "eligible": 12, "by": {"region": {"n": None, "s": None}}}


def test_final_report_shows_every_group_when_all_are_large_and_they_add_up_to_cast() -> None:
    """With no group under the threshold, the final report shows every group, adding up to
    ``cast``."""
    roll = [{"region": r} for r in "nnnnnnssssss"]
    report = final(roll, [0, 1, 2, 6, 7, 8], 3)
    assert report["by"]["region"] == {"n": 3, "s": 3}
    assert sum(report["by"]["region"].values()) == report["cast"] == 6


def test_final_report_is_all_or_nothing() -> None:
    """One group under the threshold (one end or the other) makes every group null."""
    roll = [{"region": r} for r in "nnnnnnssssss"]
    assert final(roll, [0, 1, 6, 7, 8], 3)["by"]["region"] == {"n": None, "s": None}
    assert final(roll, [0, 1, 2, 3, 4, 6, 7, 8], 3)["by"]["region"] == {"n": None, "s": None}


def test_groups_under_2t_are_pooled_by_the_roll_alone() -> None:
    """A group with fewer than 2t eligible voters is always null, pooled with the smallest other
    groups (then by name) until the pool has 2t; the ballots never decide the pool."""
    assert tn.pool({"west": 1, "north": 10, "south": 12, "east": 10}, 3) == {"west", "east"}
    assert tn.pool({"west": 1, "north": 5, "south": 12}, 3) == {"west", "north"}
    assert tn.pool({"a": 6, "b": 7}, 3) == frozenset()
    assert tn.pool({"a": 2, "b": 3}, 3) == {"a", "b"}
    roll = [{"region": r} for r in "wnnnnnnnsssssss"]
    report = final(roll, [0, 1, 2, 3, 8, 9, 10], 2)
    assert report["by"]["region"] == {"w": None, "n": None, "s": 3}
    assert final(roll, [1, 2, 8, 9], 2)["by"]["region"] == {"w": None, "n": None, "s": 2}


def test_final_report_checks_the_cells_of_the_cross_tab() -> None:
    """Two dimensions whose margins are all large are still null when a cell of region x band
    is under the threshold: the margins could fix that cell."""
    roll = [{"band": "x", "region": "A"}] * 9 + [{"band": "y", "region": "A"}] * 6
    roll += [{"band": "y", "region": "B"}] * 10
    voters = [*range(3), 9, 10, 11, 15, 16, 17]
    assert final(roll, voters, 3)["by"] == {
        "band": {"x": 3, "y": 6},
        "region": {"A": 6, "B": 3},
    }
    assert final(roll, [*voters, 12, 13, 14], 3)["by"]["band"] == {"x": None, "y": None}


def test_every_roll_group_is_listed_even_without_ballots() -> None:
    """Groups come from the roll: a group where no one voted is listed (null), never absent."""
    roll = [{"region": r} for r in "nnnnsssswe"]
    report = tn.report(counts(roll, [0, 1, 2, 3], ["region"]), 2)["contests"]["c"]
    assert set(report["by"]["region"]) == {"n", "s", "w", "e"}
    assert set(final(roll, [0, 1, 2, 3], 2)["by"]["region"]) == {"n", "s", "w", "e"}


def test_a_change_below_t_is_skipped_and_zero_or_t_is_published() -> None:
    """A report is published only if every derivable change is 0 or at least t and it says
    something new; the first report is compared with all zeros."""
    t = 3
    roll = [{"region": r} for r in "nnnnnnssssss"]
    first = tn.report(counts(roll, [0, 1, 2, 6, 7, 8], ["region"]), t)["contests"]
    assert tn.publishable(None, first, t)
    assert not tn.publishable(first, first, t)
    assert not tn.publishable(None, tn.report(counts(roll, [], ["region"]), t)["contests"], t)
    one_more = tn.report(counts(roll, [0, 1, 2, 3, 6, 7, 8], ["region"]), t)["contests"]
    assert not tn.publishable(first, one_more, t)
    three_more = tn.report(counts(roll, [0, 1, 2, 6, 7, 8, 9, 10, 11], ["region"]), t)
    assert tn.publishable(first, three_more["contests"], t)


def test_a_final_report_that_only_shows_groups_is_published() -> None:
    """No ballot since the last report: the final report is still new when it shows groups,
    and is skipped when its groups are null too."""
    t = 3
    roll = [{"region": r} for r in "nnnnnnssssss"]
    during = tn.report(counts(roll, [0, 1, 2, 6, 7, 8], ["region"]), t)["contests"]
    after = tn.report(counts(roll, [0, 1, 2, 6, 7, 8], ["region"]), t, final=True)["contests"]
    assert after["c"]["by"]["region"] == {"n": 3, "s": 3}
    assert tn.publishable(during, after, t)
    nulls = tn.report(counts(roll, [0, 6, 7, 8], ["region"]), t)["contests"]
    also = tn.report(counts(roll, [0, 6, 7, 8], ["region"]), t, final=True)["contests"]
    assert not tn.publishable(nulls, also, t)


def test_final_report_carries_each_shown_groups_eligible_voters_null_where_by_is() -> None:
    """The final report's ``eligible_by`` has the shape of ``by``: the roll's eligible voters of
    each group shown, null exactly where ``by`` is null (pools, and all when one cell is small)."""
    roll = [{"region": r} for r in "wnnnnnnnsssssss"]
    report = final(roll, [0, 1, 2, 3, 8, 9, 10], 2)
    assert report["by"]["region"] == {"w": None, "n": None, "s": 3}
    assert report["eligible_by"] == {"region": {"w": None, "n": None, "s": 7}}
    roll = [{"band": "x", "region": "A"}] * 9 + [{"band": "y", "region": "A"}] * 6
    roll += [{"band": "y", "region": "B"}] * 10
    voters = [*range(3), 9, 10, 11, 15, 16, 17]
    assert final(roll, voters, 3)["eligible_by"] == {
        "band": {"x": 9, "y": 16},
        "region": {"A": 15, "B": 10},
    }
    hidden = final(roll, [*voters, 12, 13, 14], 3)
    assert hidden["eligible_by"] == {
        "band": {"x": None, "y": None},
        "region": {"A": None, "B": None},
    }
    assert tn.report(counts(roll, voters, []), 3, final=True)["contests"]["c"]["eligible_by"] == {}


def test_only_the_final_report_carries_eligible_by() -> None:
    """Reports taken while the poll is open omit ``eligible_by``; the final one carries it."""
    roll = [{"region": r} for r in "nnnnnnssssss"]
    snap = counts(roll, [0, 1, 2, 6, 7, 8], ["region"])
    assert "eligible_by" not in tn.report(snap, 3)["contests"]["c"]
    assert "eligible_by" in tn.report(snap, 3, final=True)["contests"]["c"]


def test_final_report_with_eligible_by_matches_the_schema_and_the_change_rule() -> None:
    """A final report showing groups and their eligible voters is a valid ``turnout_reported``
    event, and the change rule reads it as before (``eligible_by`` is static)."""
    roll = [{"region": r} for r in "nnnnnnssssss"]
    during = tn.report(counts(roll, [0, 1, 2, 6, 7, 8], ["region"]), 3)
    after = tn.report(counts(roll, [0, 1, 2, 6, 7, 8], ["region"]), 3, final=True)
    assert after["contests"]["c"]["eligible_by"] == {"region": {"n": 6, "s": 6}}
    schemas.validate_event("turnout_reported", after)
    without = {"c": {k: v for k, v in after["contests"]["c"].items() if k != "eligible_by"}}
    assert tn.changes(during["contests"], after["contests"]) == [0, 0]
    assert tn.changes(during["contests"], without) == [0, 0]
    assert tn.publishable(during["contests"], after["contests"], 3)
    assert tn.changes(after["contests"], after["contests"]) == [0, 0, 0]
    assert not tn.publishable(after["contests"], after["contests"], 3)


def test_report_matches_the_event_schema() -> None:
    """A report is a valid ``turnout_reported`` event, nulls included, during and after."""
    roll = [{"region": r, "band": b} for r, b in zip("wnnnnsssss", "xxyyxxyyxy", strict=True)]
    for last in (False, True):
        snap = counts(roll, [0, 1, 5], ["region", "band"])
        schemas.validate_event("turnout_reported", tn.report(snap, 2, final=last))


def test_schedule_slots_depend_on_the_clock_alone() -> None:
    """Reports are due when the clock enters a new slot of ``every`` seconds from the epoch."""
    assert tn.slot(1199.9, 600) == tn.slot(600.0, 600) == 1
    assert tn.slot(1200.0, 600) == 2
    assert tn.due(None, 5.0, 600) and tn.due(1, 1200.0, 600) and not tn.due(1, 1199.9, 600)


# --- the property -------------------------------------------------------------------------------


@st.composite
def elections(
    draw: st.DrawFn,
) -> tuple[list[dict[str, str]], list[tuple[float, list[int]]], int, int]:
    """A roll with two dimensions (``region`` with a one-member ``west``, and ``band``), who
    votes in what order, the clock times of the housekeeping's rounds with who had voted by
    each, ``every`` and t; the last round is the close."""
    t = draw(st.integers(1, 5))
    sizes = draw(st.lists(st.integers(1, 14), min_size=1, max_size=4))
    regions = ["west"] + [f"r{i}" for i, n in enumerate(sizes) for _ in range(n)]
    bands = draw(st.lists(st.sampled_from("xyz"), min_size=len(regions), max_size=len(regions)))
    roll = [{"region": r, "band": b} for r, b in zip(regions, bands, strict=True)]
    order = draw(st.permutations(range(len(roll))))
    voters = order[: draw(st.integers(0, len(roll)))]
    every = draw(st.integers(1, 5))
    times = sorted(draw(st.lists(st.floats(0, 60, allow_nan=False), min_size=1, max_size=12)))
    cuts = sorted(draw(st.lists(st.integers(0, len(voters)), min_size=len(times) - 1)))
    cuts = cuts[: len(times) - 1]
    rounds = [(at, list(voters[:c])) for at, c in zip(times, [*cuts, len(voters)], strict=False)]
    return roll, rounds, every, t


def _taken(times: Sequence[float], every: int) -> list[float]:
    """The housekeeping's choice of when to take a report, from the clock alone."""
    out: list[float] = []
    last: int | None = None
    for at in times:
        if tn.due(last, at, every):
            last = tn.slot(at, every)
            out.append(at)
    return out


@settings(max_examples=400, deadline=None)
@given(elections())
def test_published_turnout_changes_by_zero_or_t_and_never_shows_one_member(
    case: tuple[list[dict[str, str]], list[tuple[float, list[int]]], int, int],
) -> None:
    """Two dimensions, a region with one member: report times do not depend on ballots; every
    report is one snapshot (its cells add up to each group and to ``cast``, shown groups equal
    them); that region is always null; the final report's ``eligible_by`` is null exactly where
    ``by`` is, else the roll's count, at least the cast (open reports have none); every published
    change (totals, groups shown in both, and the union of null groups counted exactly) is 0 or
    at least t."""
    roll, rounds, every, t = case
    dims = ["region", "band"]
    taken = _taken([at for at, _ in rounds], every)  # the rounds' times only: no ballot
    assert len(taken) == len({tn.slot(at, every) for at, _ in rounds})  # one per slot entered
    snapshots = [(voted, False) for at, voted in rounds[:-1] if at in taken]
    snapshots.append((rounds[-1][1], True))  # the final report, after the close
    published: list[tuple[dict[str, Any], tn.ContestCounts]] = []
    for voted, last in snapshots:
        snap = counts(roll, voted, dims)["c"]
        assert sum(g.cast for g in snap.cells.values()) == snap.cast == len(voted)
        for dim in dims:
            assert sum(g.cast for g in snap.by[dim].values()) == snap.cast
        c = tn.report({"c": snap}, t, final=last)["contests"]["c"]
        assert c["by"]["region"]["west"] is None
        for dim in dims:
            assert set(c["by"][dim]) == {m[dim] for m in roll}
            shown = {v: n for v, n in c["by"][dim].items() if n is not None}
            assert all(snap.by[dim][v].cast == n for v, n in shown.items())
            assert sum(shown.values()) <= c["cast"]
            if len(shown) == len(c["by"][dim]):
                assert sum(shown.values()) == c["cast"]
            assert not shown or last  # groups only in the final report
            for v in shown:
                assert not tn.small(shown[v], snap.by[dim][v].eligible, t)
        if last:  # eligible_by: the shape and nulls of by, the roll's counts where shown
            assert set(c["eligible_by"]) == set(c["by"])
            for dim in dims:
                by, eligible_by = c["by"][dim], c["eligible_by"][dim]
                assert set(eligible_by) == set(by)
                assert {v for v, n in eligible_by.items() if n is None} == {
                    v for v, n in by.items() if n is None
                }
                for v, n in eligible_by.items():
                    if n is not None:
                        assert n == sum(1 for m in roll if m[dim] == v) >= by[v]
        else:
            assert "eligible_by" not in c
        previous = published[-1][0] if published else None
        if tn.publishable(previous, {"c": c}, t):
            published.append(({"c": c}, snap))
    before: tuple[dict[str, Any], tn.ContestCounts] | None = None
    for report, snap in published:
        old_report = before[0]["c"] if before else None
        delta = snap.cast - (before[1].cast if before else 0)
        assert delta == 0 or delta >= t
        for dim in dims:
            now = report["c"]["by"][dim]
            old = old_report["by"][dim] if old_report else dict.fromkeys(now, 0)
            union = {v for v in now if now[v] is None or old[v] is None}
            for v in set(now) - union:
                assert now[v] - old[v] == 0 or now[v] - old[v] >= t
            old_exact = {v: before[1].by[dim][v].cast if before else 0 for v in now}
            moved = sum(snap.by[dim][v].cast - old_exact[v] for v in union)
            assert moved == 0 or moved >= t
        before = (report, snap)
