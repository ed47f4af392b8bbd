"""Returns at the close of nominations: who is elected unopposed, which minimums cannot be met,
and how many seats are left to the poll. Pure; docs/counting.md ("Unopposed returns and
unmeetable minimums") is the rule in words, and docs/log-format.md §10 the event it fills.

For each contest, over its candidates *standing* (validly nominated, not withdrawn), in the
definition's order:

1. Each minimum (``gender=woman:2``), in the definition's order: if fewer of its group stand
   than the minimum, it is *unmet*. Under the ``vacant`` policy the seats it cannot fill stay
   vacant (``min - standing``); under ``as_far_as_standing`` the minimum becomes the number
   standing. Either way, if the group's standing candidates are no more than the minimum (and
   at least one), every one of them is returned unopposed *under the requirement*: the count
   could elect no one else for those seats.
2. The seats left to the poll: the seats, less the vacant reserved seats, less those returned.
3. If the candidates still standing are no more than the seats left, every one of them is
   returned unopposed too, and the contest goes to no poll; so too when no seat is left.

A contest goes to a poll (``polled_seats`` > 0) among the candidates standing and not
returned, for the seats left; it is then off the ballot paper only if ``polled_seats`` is 0.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Policy = Literal["vacant", "as_far_as_standing"]
POLICIES: tuple[Policy, ...] = ("vacant", "as_far_as_standing")
DEFAULT_POLICY: Policy = "vacant"


class _Candidate(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def gender(self) -> str | None: ...
    @property
    def slate(self) -> str | None: ...


class _Constraint(Protocol):
    @property
    def attribute(self) -> Literal["gender", "slate"]: ...
    @property
    def value(self) -> str: ...
    @property
    def min(self) -> int: ...


class _Contest(Protocol):
    @property
    def seats(self) -> int: ...
    @property
    def candidates(self) -> Sequence[_Candidate]: ...
    @property
    def constraints(self) -> Sequence[_Constraint]: ...


def label(k: _Constraint) -> str:
    """``gender=woman:2``: how a minimum is written in results and notes."""
    return f"{k.attribute}={k.value}:{k.min}"


def in_group(c: _Candidate, k: _Constraint) -> bool:
    return (c.gender if k.attribute == "gender" else c.slate) == k.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Unmet:
    """A minimum fewer candidates stand for than it asks."""

    attribute: str
    value: str
    min: int
    standing: int
    policy: Policy

    @property
    def vacant(self) -> int:
        """The seats it leaves vacant: the shortfall under ``vacant``, else none."""
        return self.min - self.standing if self.policy == "vacant" else 0

    def note(self) -> str:
        """The words for it, in results, pages and ``ballot audit`` (docs/counting.md)."""
        head = f"minimum {self.attribute}={self.value}:{self.min}"
        if self.policy == "vacant":
            return (
                f"{head} cannot be met: only {self.standing} such candidate(s) standing; "
                f"{self.vacant} reserved seat(s) left vacant"
            )
        return f"{head} applied as {self.standing}: only {self.standing} such candidate(s) standing"

    def to_json(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "value": self.value,
            "min": self.min,
            "standing": self.standing,
            "policy": self.policy,
            "vacant": self.vacant,
        }


def unmet_minimums(contest: _Contest, standing: Collection[str], policy: Policy) -> list[Unmet]:
    """The contest's minimums that fewer candidates stand for than they ask."""
    out = []
    for k in contest.constraints:
        n = sum(1 for c in contest.candidates if c.id in standing and in_group(c, k))
        if n < k.min:
            out.append(
                Unmet(attribute=k.attribute, value=k.value, min=k.min, standing=n, policy=policy)
            )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ContestReturn:
    """What the close of nominations decided for one contest."""

    unopposed: tuple[tuple[str, str | None], ...]
    """(candidate id, the requirement it was returned under or None), in order of return."""
    polled_seats: int
    vacant: int
    unmet: tuple[Unmet, ...]

    @property
    def returned(self) -> frozenset[str]:
        return frozenset(c for c, _ in self.unopposed)

    def to_json(self) -> dict[str, Any]:
        return {
            "unopposed": [{"candidate": c, "under": u} for c, u in self.unopposed],
            "polled_seats": self.polled_seats,
            "vacant": self.vacant,
            "unmet": [u.to_json() for u in self.unmet],
        }


def contest_return(
    contest: _Contest, standing: Collection[str], policy: Policy
) -> ContestReturn | None:
    """The contest's return at the close of nominations (module docstring), or None when it
    simply goes to a poll: no one returned, no minimum unmet, no seat left vacant."""
    ids = [c.id for c in contest.candidates if c.id in standing]
    unmet = unmet_minimums(contest, standing, policy)
    reserved_vacant = sum(u.vacant for u in unmet)
    unopposed: dict[str, str | None] = {}  # candidate -> requirement, in order of return
    for k in contest.constraints:
        group = [c.id for c in contest.candidates if c.id in standing and in_group(c, k)]
        if 0 < len(group) <= k.min:
            for cid in group:
                unopposed.setdefault(cid, f"{k.attribute}={k.value}")
    room = max(0, contest.seats - reserved_vacant - len(unopposed))
    rest = [cid for cid in ids if cid not in unopposed]
    if len(rest) <= room:
        unopposed.update(dict.fromkeys(rest))
        polled = 0
    else:
        polled = room
    vacant = contest.seats - len(unopposed) - polled
    if not unopposed and not unmet and polled == contest.seats:
        return None
    return ContestReturn(
        unopposed=tuple(unopposed.items()), polled_seats=polled, vacant=vacant, unmet=tuple(unmet)
    )


def from_json(doc: Any) -> ContestReturn:
    """A return as the ``nominations_closed`` event states it."""
    return ContestReturn(
        unopposed=tuple((u["candidate"], u["under"]) for u in doc["unopposed"]),
        polled_seats=doc["polled_seats"],
        vacant=doc["vacant"],
        unmet=tuple(
            Unmet(
                attribute=u["attribute"],
                value=u["value"],
                min=u["min"],
                standing=u["standing"],
                policy=u["policy"],
            )
            for u in doc["unmet"]
        ),
    )
