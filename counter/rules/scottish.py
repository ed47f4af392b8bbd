"""Scottish STV: The Scottish Local Government Elections Order 2007 (SSI 2007/42), Schedule 1.

Clause by clause (Part III, "Counting of votes"), with where each is implemented in
the shared engine :mod:`counter.rules.stv`:

* Rule 45 (first stage): papers are sorted by first preference and each candidate
  is credited one vote per paper; the valid papers are counted.  ``_Count.run``.
* Rule 46 (the quota): valid papers / (councillors + 1), decimals ignored, plus
  one: ``floor(v / (s + 1)) + 1``.  ``quota="droop"``.
* Rule 47(1) (return of councillors): a candidate whose votes equal or exceed the
  quota at any stage is deemed elected.  ``elect_at="geq"``.
* Rule 48 (transfer of ballot papers): a surplus is transferred from *all* the
  papers the elected candidate holds (the weighted inclusive Gregory method):
  each paper goes on at ``surplus x value of the paper / total votes``, "the
  calculation being made to five decimal places (any remainder being ignored)";
  papers with no further preference form the non-transferable parcel.  The
  elected candidate keeps exactly the quota.  ``surplus_papers="all"``,
  ``transfer_value="inclusive"``, ``decimals=5``.
* Rule 49 (supplementary): the largest surplus first (49(1)); equal surpluses:
  the candidate with more votes at the end of the most recent preceding stage at
  which they differed goes first (49(2)); equal at all stages: by lot (49(3)).
  ``lookback="recent"`` then :mod:`counter.rules.lot`.
* Rule 50 (exclusion): when no surplus remains to transfer, the candidate with the
  fewest votes is excluded and all their papers are transferred at the value at
  which they were received, in one stage.  ``exclusion="single"``.
* Rule 51 (exclusion ties): the candidate with fewer votes at the most recent
  preceding stage at which they differed (51(2)(a)), else by lot (51(2)(b)).
* Rule 52 (filling of last vacancies): when the continuing candidates equal the
  vacancies they are all deemed elected and no further transfer is made.

Precision: every value is an integer number of 0.00001 units, so the count is
exact at the statute's own precision.  Candidates elected at the same stage are
listed in descending order of votes.
"""

from __future__ import annotations

from collections.abc import Sequence

from counter.rules.model import Constraint, CountResult, Profile
from counter.rules.stv import StvParams, count_stv

PARAMS = StvParams(
    name="scottish",
    title="Scottish STV (SSI 2007/42 Schedule 1)",
    decimals=5,  # rule 48(3): five decimal places, any remainder ignored
    quota="droop",  # rule 46
    elect_at="geq",  # rule 47(1)
    surplus_papers="all",  # rule 48(1)
    transfer_value="inclusive",  # rule 48(3)-(4)
    exclusion="single",  # rule 50(2)-(4)
    lookback="recent",  # rules 49(2), 51(2)(a)
)


def count(
    profile: Profile, seats: int, constraints: Sequence[Constraint], seed: bytes | None
) -> CountResult:
    """Count under SSI 2007/42 Schedule 1 rules 45-52."""
    return count_stv(PARAMS, profile, seats, constraints, seed)
