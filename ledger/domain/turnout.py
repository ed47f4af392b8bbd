"""Turnout reports (pure): what a report shows, whether it may be published, and when reports
are taken. docs/log-format.md §10 (``turnout_reported``) states the rule and its guarantee.

A *snapshot* is the exact count, read in one statement, of every contest's ballots: its total
and, per *cell* of the roll (the tuple of a voter's groups, one per reporting dimension), how
many voted of how many eligible. A dimension's groups are the values the contest's eligible
voters have, named by the store (``(none)`` for a voter without the attribute). The threshold
``t`` is the definition's ``min_group_size``.

- **While the poll is open** a report shows the totals only: every group of every dimension
  is listed, and ``null``. (Groups that change between reports can be differenced, pooled
  and solved together: shown, they fixed counts below ``t``; tests/unit/domain/
  test_turnout_attacks.py.)
- **The final report**, taken once after ``poll_closed`` (when no ballot can arrive), shows
  the groups, all or nothing:

  - *Static pools.* Per dimension, the groups with fewer than ``2t`` eligible voters (such a
    group is always under the threshold from one end or the other) are null in every report,
    pooled together with, while the pool has fewer than ``2t``, the smallest other groups
    (by eligible voters, then name): an order the roll sets, never the ballots. A dimension
    whose pool takes every group is never shown.
  - *Cross-tab as one dimension.* The shown groups and the pool of each dimension are its
    *units*; the dimensions' units cross into cells. The groups are shown only if every cell
    with eligible voters has cast ≥ ``t`` and eligible-minus-cast ≥ ``t``; otherwise every
    group of every dimension is null. Whatever anyone derives from the shown groups (the
    pools' sums, differences of margins) is then a sum of whole cells, each at least ``t``
    from both ends.

- **Null rule.** So a group is ``null`` whenever its cast or its eligible-minus-cast is below
  ``t`` (and at other times too).
- **Eligible voters.** The final report also gives each group's eligible voters
  (``eligible_by``, the roll's count), null exactly where the group's cast is.
- **Change rule.** Between the last published report and a new one, anyone can difference
  the totals, each group shown in both, and the union of the two reports' null groups (the
  total minus the groups shown in both). The new report is published only if each of these
  changed by 0 or by at least ``t``, and it differs from the last; otherwise it is skipped.
  Before the first report every count is known to be 0.
- **Schedule.** Reports are taken when the wall clock enters a new slot of ``every`` seconds
  (slots counted from the Unix epoch), whatever the ballots do; the final one at the close.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

DEFAULT_EVERY = 600
"""Seconds between scheduled reports when the definition does not say."""

Cell = tuple[str, ...]
"""A voter's group in each reporting dimension, in the definition's order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """One group (or cell) of one contest: its eligible voters, and how many voted."""

    eligible: int
    cast: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ContestCounts:
    """A contest's exact turnout in one snapshot."""

    eligible: int
    cast: int
    dims: tuple[str, ...]
    cells: Mapping[Cell, Group]
    """Every cell of the roll (a tuple of groups, one per dimension of ``dims``), voted or not."""

    @property
    def by(self) -> dict[str, dict[str, Group]]:
        """dimension -> group value -> counts: the margins of ``cells``."""
        return {
            dim: dict(sorted(summed((cell[k], g) for cell, g in self.cells.items()).items()))
            for k, dim in enumerate(self.dims)
        }


_K = TypeVar("_K", bound=Hashable)


def summed(groups: Iterable[tuple[_K, Group]]) -> dict[_K, Group]:
    """Groups (or cells) added up by key: the margins of cells, or the units they make."""
    out: dict[_K, Group] = {}
    for key, g in groups:
        old = out.get(key, Group(eligible=0, cast=0))
        out[key] = Group(eligible=old.eligible + g.eligible, cast=old.cast + g.cast)
    return out


Snapshot = Mapping[str, ContestCounts]


def snapshot(
    eligible: Mapping[str, Mapping[Cell, int]],
    cast: Mapping[str, Mapping[Cell, int]],
    contests: Iterable[tuple[str, int, int]],
    dims: Sequence[str],
) -> dict[str, ContestCounts]:
    """A snapshot from the roll's cells (``eligible``: contest -> cell -> voters) and the casts
    by cell (same shape), for ``contests`` as (id, eligible, cast). Without dimensions the cells
    are ignored and ``cast`` is the total alone."""
    out: dict[str, ContestCounts] = {}
    for cid, n, total in contests:
        cells: dict[Cell, Group] = {}
        if dims:
            seen = cast.get(cid, {})
            roll = eligible.get(cid, {})
            for cell in sorted(set(roll) | set(seen)):
                voted = seen.get(cell, 0)
                cells[cell] = Group(eligible=max(roll.get(cell, 0), voted), cast=voted)
        out[cid] = ContestCounts(eligible=n, cast=total, dims=tuple(dims), cells=cells)
    return out


def small(cast: int, eligible: int, t: int) -> bool:
    """Whether a count is under the threshold from either end."""
    return cast < t or eligible - cast < t


def pool(eligible: Mapping[str, int], t: int) -> frozenset[str]:
    """The groups of one dimension (name -> eligible voters) that are null in every report:
    those under ``2t``, with the smallest others while the pool is under ``2t``. The roll alone
    decides it."""
    hidden = {name for name, n in eligible.items() if n < 2 * t}
    rest = sorted((n, name) for name, n in eligible.items() if name not in hidden)
    for _, name in rest:
        if not hidden or sum(eligible[x] for x in hidden) >= 2 * t:
            break
        hidden.add(name)
    return frozenset(hidden)


def shows_groups(counts: ContestCounts, t: int) -> bool:
    """Whether the final report shows this contest's groups: every cell of the dimensions'
    units (each dimension's pool counted as one unit) at least ``t`` from both ends."""
    if not counts.dims:
        return False
    margins = list(counts.by.values())
    pools = [pool({v: g.eligible for v, g in groups.items()}, t) for groups in margins]
    if all(len(p) == len(groups) for p, groups in zip(pools, margins, strict=True)):
        return False  # nothing could be shown
    units = summed(
        (tuple("" if v in p else v for v, p in zip(cell, pools, strict=True)), g)
        for cell, g in counts.cells.items()
    )
    return all(not small(g.cast, g.eligible, t) for g in units.values() if g.eligible)


def report(counts: Snapshot, t: int, *, final: bool = False) -> dict[str, Any]:
    """The ``turnout_reported`` event of a snapshot: totals exact; every group null while the
    poll is open; in the ``final`` report, the groups when ``shows_groups``, pools null.

    The final report alone also carries ``eligible_by``, shaped like ``by``: each shown
    group's eligible voters, null wherever ``by`` is. Those counts come from the roll, never
    the ballots, and the null pattern is ``by``'s, so the report reveals no more than before:
    anyone who knows the roll's cells already knows them, and who knows only the report learns
    a group's size where its cast is shown, which is then at least ``t`` from both ends."""
    contests: dict[str, Any] = {}
    for cid, c in counts.items():
        by: dict[str, dict[str, int | None]] = {}
        eligible_by: dict[str, dict[str, int | None]] = {}
        show = final and shows_groups(c, t)
        for dim, groups in c.by.items():
            hidden = pool({v: g.eligible for v, g in groups.items()}, t) if show else groups
            by[dim] = {v: (None if v in hidden else g.cast) for v, g in groups.items()}
            eligible_by[dim] = {v: (None if v in hidden else g.eligible) for v, g in groups.items()}
        contests[cid] = {"cast": c.cast, "eligible": c.eligible, "by": by}
        if final:
            contests[cid]["eligible_by"] = eligible_by
    return {"contests": contests}


def _moved(delta: int, t: int) -> bool:
    """Whether a change is one the rule allows: 0, or at least ``t`` either way."""
    return delta == 0 or abs(delta) >= t


def changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[int]:
    """Every change anyone can derive between two published reports' ``contests``: per contest
    the total, each group shown in both, and the union of the two null pools of each dimension.
    ``None`` stands for the state before any report, when every count is known to be 0."""
    out: list[int] = []
    for cid, now in current.items():
        before = (previous or {}).get(cid)
        if before is None:
            before = {
                "cast": 0,
                "by": {dim: dict.fromkeys(groups, 0) for dim, groups in now["by"].items()},
            }
        total = now["cast"] - before["cast"]
        out.append(total)
        for dim, groups in now["by"].items():
            old = before["by"].get(dim, {})
            shown_both = [v for v, n in groups.items() if n is not None and old.get(v) is not None]
            moves = [groups[v] - old[v] for v in shown_both]
            out.extend(moves)
            if len(shown_both) < len(set(groups) | set(old)):
                out.append(total - sum(moves))
    return out


def publishable(previous: Mapping[str, Any] | None, current: Mapping[str, Any], t: int) -> bool:
    """Whether ``current`` may follow ``previous`` (both a report's ``contests``): every
    derivable change 0 or at least ``t``, and the report says something new (a count moved, or
    groups shown that were null)."""
    deltas = changes(previous, current)
    return all(_moved(d, t) for d in deltas) and (
        any(deltas) or bool(_shown(current) - _shown(previous or {}))
    )


def _shown(contests: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """The groups a report's ``contests`` shows, as (contest, dimension, group)."""
    return {
        (cid, dim, v)
        for cid, c in contests.items()
        for dim, groups in c["by"].items()
        for v, n in groups.items()
        if n is not None
    }


def slot(now: float, every: int) -> int:
    """The schedule's slot at ``now`` (Unix seconds): a report is due whenever it changes."""
    return math.floor(now / every)


def due(taken: int | None, now: float, every: int) -> bool:
    """Whether a report is due at ``now`` when the last one was taken in slot ``taken``: the
    clock and the definition decide, never the log or the ballots."""
    return taken != slot(now, every)
