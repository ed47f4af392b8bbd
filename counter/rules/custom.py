"""A parameterised STV rule for organisations that write their own quota and transfers.

Spelled ``custom:KEY=VALUE,...`` on the command line (``--rule``), e.g.
``custom:quota=droop-exact,elect=gt,transfer=inclusive,decimals=exact``.  Keys:

* ``quota``: ``droop`` (floor(v/(s+1)) + 1), ``droop-exact`` (v/(s+1), as some
  parties' rules have it, with no +1), ``ers97`` (v/(s+1) rounded up at the
  precision), ``hare`` (v/s); for ``transfer=meek``: ``nz`` or ``droop-exact``.
* ``elect``: ``geq`` (votes equal to or above the quota elect) or ``gt`` (strictly
  above; needed with an exact quota so that s+1 candidates cannot all reach it).
* ``transfer``: ``inclusive`` (weighted inclusive Gregory: all papers, each at
  surplus x value / total), ``last-parcel`` (Gregory on the last parcel, each
  transferable paper at surplus / papers), or ``meek``.
* ``decimals``: the fixed precision (values truncated), or ``exact`` (fractions).
* ``exclusion``: ``single`` (all papers in one transfer) or ``batches`` (by value).
* ``ties``: ``recent`` (most recent stage where tied candidates differed) or
  ``earliest`` (first difference).

The preset ``exact-droop`` is ``quota=droop-exact,elect=gt,transfer=inclusive,
decimals=exact``: the exact Droop quota v/(s+1) with no +1 that one party's rules
use, exact weighted inclusive Gregory transfers, a candidate elected on
exceeding the quota.  Defaults of any key left out are those of ``exact-droop``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from counter.errors import RuleSpecError
from counter.rules.catalogue import CATALOGUE
from counter.rules.meek import MeekParams, count_meek
from counter.rules.model import Constraint, CountResult, Profile
from counter.rules.stv import StvParams, count_stv

_DIGITS = re.compile(r"[0-9]+")  # ASCII digits only: "²".isdigit() is true

DEFAULTS: dict[str, str] = {
    key: str(option["default"]) for key, option in CATALOGUE["custom"]["options"].items()
}
"""Each option's default, from the rule catalogue ``schemas/rules.json`` (``custom.options``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomRule:
    """A parsed ``custom:...`` rule; :meth:`count` counts with it."""

    spec: str
    stv: StvParams | None
    meek: MeekParams | None

    def count(
        self, profile: Profile, seats: int, constraints: Sequence[Constraint], seed: bytes | None
    ) -> CountResult:
        if self.meek is not None:
            return count_meek(self.meek, profile, seats, constraints, seed)
        assert self.stv is not None
        return count_stv(self.stv, profile, seats, constraints, seed)


def parse_spec(spec: str) -> CustomRule:
    """Parse ``custom:key=value,...`` (or ``custom`` alone for the defaults)."""
    body = spec.split(":", 1)[1] if ":" in spec else ""
    options = dict(DEFAULTS)
    for part in filter(None, (p.strip() for p in body.split(","))):
        if "=" not in part:
            raise RuleSpecError(f"custom rule option {part!r} is not key=value")
        key, value = (t.strip() for t in part.split("=", 1))
        if key not in DEFAULTS:
            raise RuleSpecError(f"unknown custom rule option {key!r}; known: {', '.join(DEFAULTS)}")
        options[key] = value
    dec = options["decimals"]
    decimals: int | None
    if dec == "exact":
        decimals = None
    elif _DIGITS.fullmatch(dec):
        decimals = int(dec)
    else:
        raise RuleSpecError("decimals must be a number of decimal places or 'exact'")
    canonical = "custom:" + ",".join(f"{k}={options[k]}" for k in DEFAULTS)
    title = "Custom STV (" + ", ".join(f"{k}={options[k]}" for k in DEFAULTS) + ")"
    transfer = options["transfer"]
    if transfer == "meek":
        if decimals is None:
            raise RuleSpecError("Meek needs a fixed precision: give decimals=N")
        quota = options["quota"] if options["quota"] in ("nz", "droop-exact") else ""
        if not quota:
            raise RuleSpecError("a Meek quota is 'nz' or 'droop-exact'")
        meek = MeekParams(
            name=canonical, title=title, decimals=decimals, quota=quota, elect_at=options["elect"]
        )
        return CustomRule(spec=canonical, stv=None, meek=meek)
    if transfer not in ("inclusive", "last-parcel"):
        raise RuleSpecError("transfer must be inclusive, last-parcel or meek")
    stv = StvParams(
        name=canonical,
        title=title,
        decimals=decimals,
        quota=options["quota"],
        elect_at=options["elect"],
        surplus_papers="all" if transfer == "inclusive" else "last-batch",
        transfer_value="inclusive" if transfer == "inclusive" else "per-paper",
        exclusion=options["exclusion"],
        lookback=options["ties"],
    )
    return CustomRule(spec=canonical, stv=stv, meek=None)


EXACT_DROOP = parse_spec("custom:")


def count(
    profile: Profile, seats: int, constraints: Sequence[Constraint], seed: bytes | None
) -> CountResult:
    """Count with the ``exact-droop`` preset."""
    return EXACT_DROOP.count(profile, seats, constraints, seed)
