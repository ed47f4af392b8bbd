"""Exact counting rules: an explicit registry and one pure entry point.

``RULES`` names every rule; :func:`count` counts a :class:`~counter.rules.model.Profile`
with one of them, or with a parameterised ``custom:key=value,...`` rule
(:mod:`counter.rules.custom`).  Everything here is pure: no I/O, no clock, no
floating point; the lot is drawn from the seed given (by default SHA-256 of the
canonical profile, :func:`counter.rules.lot.default_seed`, derived only when a
lot is actually drawn).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from counter.errors import ProfileError, UnknownRule
from counter.rules import bloc, custom, ers97, meek, scottish
from counter.rules.catalogue import CATALOGUE
from counter.rules.model import Candidate, Constraint, CountResult, Profile
from counter.rules.stv import StvParams

if TYPE_CHECKING:
    from counter.rules.packed import PackedProfile

RuleFunction = Callable[[Profile, int, Sequence[Constraint], bytes | None], CountResult]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A registered counting rule."""

    name: str
    title: str
    kind: str  # "stv" or "bloc"
    decimals: int | None
    run: RuleFunction
    stv: StvParams | None = None  # a Gregory-family rule's parameters (packed counts)

    @property
    def marks(self) -> str:
        """What the rule makes of equal (``=``) and skipped (``-``) preferences in a BLT.

        STV rules: the paper stops before the first of them, as their rule books
        define a non-transferable paper (the next preference given to two or more
        candidates, or a number skipped); with no first preference it is invalid.
        Bloc: every candidate marked counts, order ignored (rule book clause 1).
        """
        return "set" if self.kind == "bloc" else "truncate"

    @property
    def fractions(self) -> bool:
        """Fractional ballot weights: counted exactly only by exact-arithmetic STV rules.

        Fixed-precision rules count whole papers (the quota divides "the number of
        valid papers"); bloc counts whole ballots.
        """
        return self.kind == "stv" and self.decimals is None


# The explicit registry: each rule the catalogue names, and the function that counts by it.
_RUN: dict[str, RuleFunction] = {
    "bloc": bloc.count,
    "scottish": scottish.count,
    "ers97": ers97.count,
    "meek": meek.count,
    "exact-droop": custom.count,
}
# The Gregory-family rules' parameters (a packed count needs them).
_GREGORY: dict[str, StvParams] = {"scottish": scottish.PARAMS, "ers97": ers97.PARAMS}
if {r["name"] for r in CATALOGUE["rules"]} != set(_RUN):  # pragma: no cover - a packaging error
    raise RuntimeError("schemas/rules.json and counter.rules name different rules")

RULES: dict[str, Rule] = {
    r["name"]: Rule(
        name=r["name"],
        title=r["title"],
        kind=r["kind"],
        decimals=r["decimals"],
        run=_RUN[r["name"]],
        stv=_GREGORY.get(r["name"]),
    )
    for r in CATALOGUE["rules"]
}


def resolve(name: str) -> Rule:
    """The rule called ``name``: a registered name, or ``custom:key=value,...``."""
    if name in RULES:
        return RULES[name]
    if name == "custom" or name.startswith("custom:"):
        spec = custom.parse_spec(name)
        params = spec.stv or spec.meek
        assert params is not None
        return Rule(
            name=spec.spec,
            title=params.title,
            kind="stv",
            decimals=params.decimals,
            run=spec.count,
            stv=spec.stv,
        )
    known = ", ".join([*RULES, "custom:key=value,..."])
    raise UnknownRule(f"unknown rule {name!r}; known: {known}")


def count(
    profile: Profile,
    rule: str,
    seats: int | None = None,
    constraints: Sequence[Constraint] = (),
    seed: bytes | None = None,
) -> CountResult:
    """Count ``profile`` by ``rule`` for ``seats`` (default: the profile's own)."""
    chosen = resolve(rule)
    n_seats = _seats(seats, profile.seats)
    # A count allocates many short-lived, acyclic objects (tree paths, parcels): the
    # cyclic collector's passes over them find nothing and cost ~15% of a large count.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return chosen.run(profile, n_seats, tuple(constraints), seed)
    finally:
        if collecting:
            gc.enable()


def packs(rule: str) -> bool:
    """Whether ``rule`` counts a packed profile itself (:mod:`counter.rules.packed`)
    rather than unpacking it into tuples first."""
    params = resolve(rule).stv  # (numpy is not imported here: the reader sets it up)
    return params is not None and params.per_paper


def count_packed(
    profile: PackedProfile,
    rule: str,
    seats: int | None = None,
    constraints: Sequence[Constraint] = (),
    seed: bytes | None = None,
) -> CountResult:
    """:func:`count` of a packed profile: the same result as ``count(profile.tuples(), ...)``."""
    from counter.rules import packed

    params = resolve(rule).stv
    if params is None or not params.per_paper:
        return count(profile.tuples(), rule, seats, constraints, seed)
    return packed.count_packed(params, profile, _seats(seats, profile.seats), constraints, seed)


def _seats(seats: int | None, default: int | None) -> int:
    """The seats given, else the profile's own."""
    if seats is not None:
        return seats
    if default is None:
        raise ProfileError("the number of seats is not given")
    return default


__all__ = [
    "RULES",
    "Candidate",
    "Constraint",
    "CountResult",
    "Profile",
    "Rule",
    "count",
    "count_packed",
    "packs",
    "resolve",
]
