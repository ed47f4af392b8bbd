"""Turnout reports (pure): what a report shows, whether it may be published, and when reports
are taken. docs/log-format.md §10 (``turnout_reported``) states the rule and its guarantee.

A *snapshot* is the exact count, read in one statement, of every contest's ballots: its total
and, per reporting dimension, per group of the roll (every value the contest's eligible voters
have, ``(none)`` for a voter without the attribute). The threshold ``t`` is the definition's
``min_group_size``.

- **Null rule.** A group shows ``null`` while its cast or its eligible-minus-cast is below
  ``t``. When any group of a dimension is null, more groups join the null *pool* (the smallest
  by eligible voters first, ties by name: an order the roll sets, not the ballots) until the
  pool as a whole has cast ≥ ``t`` and eligible-minus-cast ≥ ``t``. The pool's sum is what
  anyone can derive (``cast`` minus the shown groups); with it at least ``t`` from both ends,
  no null group's count is fixed by it. Only when the whole contest is below the threshold
  (its cast, or eligible-minus-cast, under ``t``) is every group of the dimension null and the
  pool's sum the published total itself.
- **Change rule.** Between the last published report and a new one, anyone can difference
  the totals, each group shown in both, and the union of the two reports' pools (the total
  minus the groups shown in both). The new report is published only if each of these changed
  by 0 or by at least ``t``, and at least one changed; otherwise it is skipped. Before the
  first report every count is known to be 0.
- **Schedule.** Reports are taken when the wall clock enters a new slot of ``every`` seconds
  (slots counted from the Unix epoch), whatever the ballots do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NO_VALUE = "(none)"
"""The group of voters the roll gives no value (or JSON null) for a dimension."""

DEFAULT_EVERY = 600
"""Seconds between scheduled reports when the definition does not say."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """One group of one dimension of one contest: its eligible voters, and how many voted."""

    eligible: int
    cast: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ContestCounts:
    """A contest's exact turnout in one snapshot."""

    eligible: int
    cast: int
    by: Mapping[str, Mapping[str, Group]]
    """dimension -> group value -> counts; every group of the roll, voted or not."""


Snapshot = Mapping[str, ContestCounts]


def label(value: Any) -> str:
    """A roll attribute's value as a group name, as PostgreSQL's ``->>`` writes it."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def snapshot(
    eligible: Mapping[str, Mapping[str, Mapping[str, int]]],
    totals: Mapping[str, int],
    cast: Mapping[str, Mapping[str, Mapping[str, int]]],
    contests: Iterable[tuple[str, int]],
) -> dict[str, ContestCounts]:
    """A snapshot from the roll's groups (``eligible``: contest -> dimension -> value -> voters),
    the contests' totals and the casts by group (same shape), for ``contests`` as (id, eligible)."""
    out: dict[str, ContestCounts] = {}
    for cid, n in contests:
        by: dict[str, dict[str, Group]] = {}
        for dim, groups in eligible.get(cid, {}).items():
            seen = cast.get(cid, {}).get(dim, {})
            names = sorted(set(groups) | set(seen))
            by[dim] = {
                v: Group(eligible=max(groups.get(v, 0), seen.get(v, 0)), cast=seen.get(v, 0))
                for v in names
            }
        out[cid] = ContestCounts(eligible=n, cast=totals.get(cid, 0), by=by)
    return out


def small(cast: int, eligible: int, t: int) -> bool:
    """Whether a count is under the threshold from either end."""
    return cast < t or eligible - cast < t


def pool(groups: Mapping[str, Group], t: int) -> frozenset[str]:
    """The groups of one dimension shown as null (empty when every group is large enough)."""
    hidden = {name for name, g in groups.items() if small(g.cast, g.eligible, t)}
    if not hidden:
        return frozenset()
    rest = sorted((g.eligible, name) for name, g in groups.items() if name not in hidden)
    for _, name in rest:
        cast = sum(groups[x].cast for x in hidden)
        eligible = sum(groups[x].eligible for x in hidden)
        if not small(cast, eligible, t):
            break
        hidden.add(name)
    return frozenset(hidden)


def report(counts: Snapshot, t: int) -> dict[str, Any]:
    """The ``turnout_reported`` event of a snapshot: totals exact, null pools applied."""
    contests: dict[str, Any] = {}
    for cid, c in counts.items():
        by: dict[str, dict[str, int | None]] = {}
        for dim, groups in c.by.items():
            hidden = pool(groups, t)
            by[dim] = {v: (None if v in hidden else g.cast) for v, g in groups.items()}
        contests[cid] = {"cast": c.cast, "eligible": c.eligible, "by": by}
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
    derivable change 0 or at least ``t``, and something changed."""
    deltas = changes(previous, current)
    return all(_moved(d, t) for d in deltas) and any(deltas)


def slot(now: float, every: int) -> int:
    """The schedule's slot at ``now`` (Unix seconds): a report is due whenever it changes."""
    return math.floor(now / every)
