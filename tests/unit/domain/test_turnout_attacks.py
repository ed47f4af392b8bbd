"""Attacks on the turnout rule (issue 14), each against the pure functions of
``ledger.domain.turnout``: an observer who sees only the published reports and knows the roll's
cells (how many members each combination of groups has) tries to learn that fewer than ``t``
members of a group, or one named member, voted. The first review broke the earlier rule (groups
shown while the poll was open, pools filled in by the ballots); each test below is one of its
attacks, now asserting what the spec claims (§10, "What this guarantees, and what not"), or,
for an attack beyond what exact counts can hide, pinning what is guaranteed.

The observer here is exhaustive: it enumerates every count of every cell that the published
reports allow (the same report recomputed by the rule, null pattern included; counts never go
down between reports) and looks at what all of those worlds agree on. The last snapshot of a
scenario is the final report, taken after the close."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import turnout as tn

Cell = tuple[str, ...]
"""One group per dimension: the cell of the roll's cross-tabulation a member sits in."""

Report = tuple[Any, bool]
"""A published report's ``contests.c``, and whether it is the final one."""


def counts(
    cells: Mapping[Cell, int], cast: Mapping[Cell, int], dims: Sequence[str]
) -> tn.ContestCounts:
    """The snapshot of one contest whose roll has ``cells`` (cell -> members) and ``cast``."""
    eligible = {"c": dict(cells)}
    voted = {"c": {cell: n for cell, n in cast.items() if n}}
    contest = ("c", sum(cells.values()), sum(cast.values()))
    return tn.snapshot(eligible, voted, [contest], dims)["c"]


def shown(
    cells: Mapping[Cell, int], cast: Mapping[Cell, int], dims: Sequence[str], t: int, final: bool
) -> Any:
    """The published ``contests.c`` of that snapshot."""
    return tn.report({"c": counts(cells, cast, dims)}, t, final=final)["contests"]["c"]


def published(
    cells: Mapping[Cell, int], stretches: Sequence[Mapping[Cell, int]], dims: Sequence[str], t: int
) -> list[Report]:
    """The reports the rule publishes from the snapshots at the scheduled times, the last
    snapshot being the final report after the close."""
    out: list[Report] = []
    for k, cast in enumerate(stretches):
        final = k == len(stretches) - 1
        report = shown(cells, cast, dims, t, final)
        if tn.publishable({"c": out[-1][0]} if out else None, {"c": report}, t):
            out.append((report, final))
    return out


def _vectors(low: Sequence[int], high: Sequence[int], total: int) -> Iterator[tuple[int, ...]]:
    """Every vector between ``low`` and ``high`` (inclusive) that sums to ``total``."""
    if not low:
        if total == 0:
            yield ()
        return
    rest_low, rest_high = sum(low[1:]), sum(high[1:])
    for v in range(max(low[0], total - rest_high), min(high[0], total - rest_low) + 1):
        for tail in _vectors(low[1:], high[1:], total - v):
            yield (v, *tail)


def worlds(
    cells: Mapping[Cell, int], reports: Sequence[Report], dims: Sequence[str], t: int
) -> list[list[dict[Cell, int]]]:
    """Every sequence of cell counts (from all zeros, never decreasing) that yields exactly
    ``reports``: what the observer cannot tell apart."""
    names = sorted(cells)
    found: list[list[dict[Cell, int]]] = []

    def extend(path: list[dict[Cell, int]]) -> None:
        if len(path) == len(reports) + 1:
            found.append(path)
            return
        target, final = reports[len(path) - 1]
        low = [path[-1][n] for n in names]
        high = [cells[n] for n in names]
        for vector in _vectors(low, high, target["cast"]):
            cast = dict(zip(names, vector, strict=True))
            if shown(cells, cast, dims, t, final) == target:
                extend([*path, cast])

    extend([dict.fromkeys(names, 0)])
    return found


def moves(found: Sequence[Sequence[Mapping[Cell, int]]], cell: Cell, i: int, j: int) -> set[int]:
    """What ``cell``'s count may have moved by between report ``i`` and ``j`` (0: the start)."""
    return {w[j][cell] - w[i][cell] for w in found}


ROTATING: tuple[int, dict[Cell, int], list[dict[Cell, int]]] = (
    3,
    {("x",): 10, ("g",): 8, ("y",): 9, ("e",): 30},
    [
        {("x",): 1, ("g",): 3, ("y",): 2, ("e",): 10},
        {("x",): 1, ("g",): 3, ("y",): 5, ("e",): 10},
        {("x",): 3, ("g",): 4, ("y",): 5, ("e",): 10},
    ],
)
"""t, a roll of four regions and three snapshots (the last the final report after the close),
all published. Under the first rule ``x`` and ``y`` were small at the first, so ``g`` was shown;
``y`` grew out of the pool at the second, so ``x`` pulled ``g`` (smaller than ``y``) in; nothing
was small at the third: ``g`` shown, pooled, shown, and every count solved."""


# --- one dimension, nothing known of anyone's vote -----------------------------------------------


def test_one_report_does_not_fix_a_one_member_region() -> None:
    """One published report, one dimension: the observer, who knows the groups' sizes, cannot
    tell whether the only member of ``west`` has voted, whether the groups are shown or not."""
    t = 3
    cells = {("west",): 1, ("g0",): 8, ("g1",): 7}
    # The first rule pooled g0 after g1 (7 fills first), so g0 was small, held 2, and west 1.
    hidden = published(cells, [{("west",): 1, ("g0",): 2, ("g1",): 4}], ["region"], t)
    assert hidden[0][0]["by"]["region"] == {"west": None, "g0": None, "g1": None}
    assert moves(worlds(cells, hidden, ["region"], t), ("west",), 0, 1) == {0, 1}
    # Shown: west is in the roll's pool with g1 (west alone is under 2t), whose sum is 5.
    open_ = published(cells, [{("west",): 1, ("g0",): 4, ("g1",): 4}], ["region"], t)
    assert open_[0][0]["by"]["region"] == {"west": None, "g0": 4, "g1": None}
    assert moves(worlds(cells, open_, ["region"], t), ("west",), 0, 1) == {0, 1}


def test_a_group_shown_then_pooled_then_shown_moves_by_zero_or_t() -> None:
    """Every group shown in two published reports, consecutive or not, moved by 0 or at least
    ``t`` between them: groups are shown in the final report only, so none is shown, pooled
    and shown again."""
    t, cells, stretches = ROTATING
    reports = [r for r, _ in published(cells, stretches, ["region"], t)]
    assert [r["by"]["region"]["g"] for r in reports] == [None, None, 4]  # all three published
    for a, b in itertools.combinations(reports, 2):
        assert tn.publishable({"c": a}, {"c": b}, t), (a, b)
        for v, n in b["by"]["region"].items():
            if n is not None and a["by"]["region"][v] is not None:
                assert tn._moved(n - a["by"]["region"][v], t), (v, a, b)


def test_later_reports_do_not_fix_an_earlier_null_group() -> None:
    """A group null in a published report keeps its count hidden, whatever later reports show:
    the observer cannot say that fewer than ``t`` (but some) of ``x`` had voted by report 1."""
    t, cells, stretches = ROTATING
    reports = published(cells, stretches, ["region"], t)
    assert reports[0][0]["by"]["region"]["x"] is None
    found = worlds(cells, reports, ["region"], t)
    assert len(found) > 1  # the first rule let the observer reconstruct every count
    assert not all(0 < d < t for d in moves(found, ("x",), 0, 1))


# --- within the stated limits: what exact counts cannot hide -------------------------------------


def test_two_contests_differing_by_one_member_change_by_t_each() -> None:
    """Two contests whose electorates differ by one member: each contest's total changes by 0
    or at least ``t``; their difference can be 1, which names the member only to whoever knows
    that every other member voted in both or neither (the limit the spec states)."""
    t = 3
    everyone = {("r",): 20}
    not_m = {("r",): 19}  # the same roll without member m

    def both(voters: int, m_voted: bool, final: bool = False) -> dict[str, Any]:
        contests = tn.snapshot(
            {"a": everyone, "b": not_m},
            {"a": {("r",): voters + m_voted}, "b": {("r",): voters}},
            [("a", 20, voters + m_voted), ("b", 19, voters)],
            ["region"],
        )
        return tn.report(contests, t, final=final)["contests"]

    before, after = both(3, False), both(6, True)  # three others and m vote in the stretch
    assert tn.publishable(None, before, t) and tn.publishable(before, after, t)
    delta_a = after["a"]["cast"] - before["a"]["cast"]
    delta_b = after["b"]["cast"] - before["b"]["cast"]
    assert tn._moved(delta_a, t) and tn._moved(delta_b, t)
    assert delta_a - delta_b == 1  # the stated limit, pinned: the rule is per contest
    assert all(n is None for c in after.values() for n in c["by"]["region"].values())


def test_two_dimensions_do_not_fix_a_one_member_cell() -> None:
    """Region and band together: an observer who knows which cell of region x band each member
    sits in cannot tell whether the only member of (A, y) voted in the stretch; the final report
    checks the cross-tabulation's cells, and (A, y) is always under the threshold."""
    t = 3
    dims = ["region", "band"]
    cells = {("A", "x"): 9, ("A", "y"): 1, ("B", "y"): 10}
    stretches = [
        {("A", "x"): 3, ("A", "y"): 0, ("B", "y"): 3},
        {("A", "x"): 6, ("A", "y"): 1, ("B", "y"): 6},
    ]
    reports = published(cells, stretches, dims, t)
    assert len(reports) == 2 and reports[1][1]
    # Under the first rule: A +4, B +3, x +3, y +4; B is all band y, so x's +3 is all A's, and
    # A's fourth is m. Every margin is large, but the cell (A, y) is not.
    assert all(n is None for r, _ in reports for g in r["by"].values() for n in g.values())
    assert moves(worlds(cells, reports, dims, t), ("A", "y"), 1, 2) == {0, 1}


def test_two_dimensions_show_when_every_cell_is_large() -> None:
    """The final report shows both dimensions when every cell of their cross-tabulation is at
    least ``t`` from both ends; what the margins fix of a cell is then at least ``t``."""
    t = 3
    dims = ["region", "band"]
    cells = {("A", "x"): 9, ("A", "y"): 8, ("B", "y"): 10}
    cast = {("A", "x"): 3, ("A", "y"): 4, ("B", "y"): 6}
    ((report, final),) = published(cells, [cast], dims, t)
    assert final and report["by"] == {"region": {"A": 7, "B": 6}, "band": {"x": 3, "y": 10}}
    assert moves(worlds(cells, [(report, final)], dims, t), ("A", "y"), 0, 1) == {4}


# --- the property a fix has to meet --------------------------------------------------------------


@st.composite
def small_elections(draw: st.DrawFn) -> tuple[dict[Cell, int], list[dict[Cell, int]], int]:
    """A roll of one dimension with a one-member ``west`` and up to three small regions, and
    the counts at up to three scheduled reports (never decreasing), the last the final one."""
    t = draw(st.integers(2, 3))
    cells: dict[Cell, int] = {("west",): 1}
    for i, n in enumerate(draw(st.lists(st.integers(2, 7), min_size=2, max_size=3))):
        cells[(f"g{i}",)] = n
    cast = dict.fromkeys(cells, 0)
    stretches = []
    for _ in range(draw(st.integers(1, 3))):
        for cell in cells:
            cast[cell] = draw(st.integers(cast[cell], cells[cell]))
        stretches.append(dict(cast))
    return cells, stretches, t


@settings(max_examples=300, deadline=None, derandomize=True)
@given(small_elections())
def test_no_published_sequence_fixes_a_move_below_t(
    case: tuple[dict[Cell, int], list[dict[Cell, int]], int],
) -> None:
    """Whatever the published reports, the observer who knows the groups' sizes is never sure
    that a group moved by 1 to t - 1 between two reports, unless the totals alone say so."""
    cells, stretches, t = case
    reports = published(cells, stretches, ["region"], t)
    found = worlds(cells, reports, ["region"], t)
    totals = [({"cast": r["cast"], "eligible": r["eligible"], "by": {}}, f) for r, f in reports]
    by_totals = worlds(cells, totals, [], t)
    for cell in cells:
        for i, j in itertools.combinations(range(len(reports) + 1), 2):
            if all(0 < d < t for d in moves(by_totals, cell, i, j)):
                continue  # the exact totals say it (a contest all but full), as the spec admits
            assert not all(0 < d < t for d in moves(found, cell, i, j)), (cell, i, j, reports)
