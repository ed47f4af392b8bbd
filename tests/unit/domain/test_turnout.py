"""The turnout rule (pure): the null rule, the pools that keep nulls from being derived, groups
adding up to ``cast``, the change rule between published reports, and the schedule."""

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
    eligible = {"c": {d: dict(Counter(m[d] for m in roll)) for d in dims}}
    cast = {"c": {d: dict(Counter(roll[i][d] for i in voted)) for d in dims}}
    return tn.snapshot(eligible, {"c": len(voted)}, cast, [("c", len(roll))])


def group(cast: int, eligible: int) -> tn.Group:
    return tn.Group(eligible=eligible, cast=cast)


def test_group_is_null_while_cast_or_eligible_minus_cast_is_below_t() -> None:
    """A group is null while its cast < t or its eligible - cast < t, shown otherwise."""
    t = 3
    assert tn.small(2, 20, t) and tn.small(18, 20, t)
    assert not tn.small(3, 20, t) and not tn.small(17, 20, t)
    groups = {"a": group(2, 20), "b": group(10, 20), "c": group(10, 20), "d": group(10, 20)}
    hidden = tn.pool(groups, t)
    assert "a" in hidden and len(hidden) >= 2


def test_every_group_shown_when_all_are_large_and_they_add_up_to_cast() -> None:
    """With no group under the threshold, every group is shown and they add up to ``cast``."""
    roll = [{"region": r} for r in "nnnnnnssssss"]
    report = tn.report(counts(roll, [0, 1, 2, 6, 7, 8], ["region"]), 3)["contests"]["c"]
    assert report["by"]["region"] == {"n": 3, "s": 3}
    assert sum(report["by"]["region"].values()) == report["cast"] == 6


def test_one_small_group_takes_another_into_its_pool() -> None:
    """One null group is not left for ``cast`` minus the others to reveal: the smallest other
    group joins it, until the pool's sum is at least t from both ends."""
    t = 3
    groups = {
        "west": group(1, 1),
        "north": group(5, 10),
        "south": group(6, 12),
        "east": group(7, 14),
    }
    hidden = tn.pool(groups, t)
    assert hidden == {"west", "north"}
    total = sum(g.cast for g in groups.values())
    remainder = total - sum(g.cast for k, g in groups.items() if k not in hidden)
    assert t <= remainder <= sum(groups[k].eligible for k in hidden) - t


def test_every_roll_group_is_listed_even_without_ballots() -> None:
    """Groups come from the roll: a group where no one voted is listed (null), never absent."""
    roll = [{"region": r} for r in "nnnnsssswe"]
    report = tn.report(counts(roll, [0, 1, 2, 3], ["region"]), 2)["contests"]["c"]
    assert set(report["by"]["region"]) == {"n", "s", "w", "e"}
    assert report["by"]["region"]["w"] is None


def test_a_change_below_t_is_skipped_and_zero_or_t_is_published() -> None:
    """A report is published only if every derivable change is 0 or at least t and one is not
    0; the first report is compared with all zeros."""
    t = 3
    roll = [{"region": r} for r in "nnnnnnssssss"]
    first = tn.report(counts(roll, [0, 1, 2, 6, 7, 8], ["region"]), t)["contests"]
    assert tn.publishable(None, first, t)
    assert not tn.publishable(first, first, t)
    one_more = tn.report(counts(roll, [0, 1, 2, 3, 6, 7, 8], ["region"]), t)["contests"]
    assert not tn.publishable(first, one_more, t)
    three_more = tn.report(counts(roll, [0, 1, 2, 6, 7, 8, 9, 10, 11], ["region"]), t)
    assert tn.publishable(first, three_more["contests"], t)


def test_a_pool_that_changed_by_less_than_t_blocks_the_report() -> None:
    """The pool's sum (the total minus the groups shown) is a derivable change too: one ballot
    in a null group is not published even when the shown groups are unchanged."""
    t = 2
    roll = [{"region": r} for r in "wnnnnnssssss"]
    before = tn.report(counts(roll, [1, 2, 3, 6, 7], ["region"]), t)["contests"]
    after = tn.report(counts(roll, [0, 1, 2, 3, 6, 7], ["region"]), t)["contests"]
    assert before["c"]["by"]["region"]["w"] is None is after["c"]["by"]["region"]["w"]
    assert not tn.publishable(before, after, t)


def test_report_matches_the_event_schema() -> None:
    """A report is a valid ``turnout_reported`` event, nulls included."""
    roll = [{"region": r, "band": b} for r, b in zip("wnnnnsssss", "xxyyxxyyxy", strict=True)]
    schemas.validate_event(
        "turnout_reported", tn.report(counts(roll, [0, 1, 5], ["region", "band"]), 2)
    )


def test_schedule_slots_depend_on_the_clock_alone() -> None:
    """Reports are due when the clock enters a new slot of ``every`` seconds from the epoch."""
    assert tn.slot(1199.9, 600) == tn.slot(600.0, 600) == 1
    assert tn.slot(1200.0, 600) == 2
    assert tn.label(None) == tn.NO_VALUE and tn.label(True) == "true" and tn.label(7) == "7"


# --- the property -------------------------------------------------------------------------------


@st.composite
def elections(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[list[int]], int]:
    """A roll with two dimensions (``region`` with a one-member ``west``, and ``band``), who
    votes in what order, split into the stretches between scheduled reports, and t."""
    t = draw(st.integers(1, 5))
    sizes = draw(st.lists(st.integers(1, 14), min_size=1, max_size=4))
    regions = ["west"] + [f"r{i}" for i, n in enumerate(sizes) for _ in range(n)]
    bands = draw(st.lists(st.sampled_from("xyz"), min_size=len(regions), max_size=len(regions)))
    roll = [{"region": r, "band": b} for r, b in zip(regions, bands, strict=True)]
    order = draw(st.permutations(range(len(roll))))
    voters = order[: draw(st.integers(0, len(roll)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(voters)), max_size=12)))
    stretches = [list(voters[:c]) for c in [*cuts, len(voters)]]
    return roll, stretches, t


def _derivable(report: Mapping[str, Any], snap: tn.ContestCounts, t: int) -> list[str]:
    """The null groups whose count the report's own totals fix (by the dimension's sum),
    beyond what the contest total alone says."""
    found = []
    for dim, shown in report["by"].items():
        groups = snap.by[dim]
        nulls = [v for v, n in shown.items() if n is None]
        if not nulls:
            continue
        remainder = report["cast"] - sum(n for n in shown.values() if n is not None)
        pooled = sum(groups[v].eligible for v in nulls)
        if len(nulls) == len(shown) and tn.small(report["cast"], report["eligible"], t):
            continue  # the whole dimension is the contest total, published as such
        for v in nulls:
            low = max(0, remainder - (pooled - groups[v].eligible))
            high = min(groups[v].eligible, remainder)
            if low >= high:
                found.append(f"{dim}={v}")
    return found


@settings(max_examples=400, deadline=None)
@given(elections())
def test_published_turnout_changes_by_zero_or_t_and_never_shows_one_member(
    case: tuple[list[dict[str, str]], list[list[int]], int],
) -> None:
    """Two dimensions, a region with one member: every report is one snapshot whose groups
    add up to ``cast``; that region is always null; no null is derivable by its dimension's
    sum; every published change (totals, groups shown in both, and the pools' union counted
    exactly) is 0 or at least t."""
    roll, stretches, t = case
    dims = ["region", "band"]
    published: list[tuple[dict[str, Any], tn.ContestCounts]] = []
    for voted in stretches:
        snap = counts(roll, voted, dims)["c"]
        for dim in dims:
            assert sum(g.cast for g in snap.by[dim].values()) == snap.cast == len(voted)
        report = tn.report({"c": snap}, t)["contests"]
        c = report["c"]
        assert c["by"]["region"]["west"] is None
        for dim in dims:
            assert set(c["by"][dim]) == set(snap.by[dim])
            shown = {v: n for v, n in c["by"][dim].items() if n is not None}
            assert all(snap.by[dim][v].cast == n for v, n in shown.items())
            assert sum(shown.values()) <= c["cast"]
            if len(shown) == len(c["by"][dim]):
                assert sum(shown.values()) == c["cast"]
        assert _derivable(c, snap, t) == []
        previous = published[-1][0] if published else None
        if tn.publishable(previous, report, t):
            published.append((report, snap))
    before: tuple[dict[str, Any], tn.ContestCounts] | None = None
    for report, snap in published:
        old_report = before[0]["c"] if before else None
        old_cast = before[1].cast if before else 0
        delta = snap.cast - old_cast
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
