"""ERS97: the Electoral Reform Society's STV rules, 1997 edition (sections 5.1-5.6).

Clause by clause, with where each is implemented in :mod:`counter.rules.stv`:

* 5.1.6 quota: total valid vote / (places + 1), to two decimals; if not exact, the
  remainder is ignored and 0.01 added.  ``quota="ers97"``, ``decimals=2``.
* 5.1.7, 5.3.13, 5.4.9: a candidate is deemed elected whose vote equals or
  exceeds (a) the quota, or (b) the total active vote / (places unfilled + 1).
  ``elect_at="geq"``, ``active_vote_election=True``.
* 5.2.2: surpluses are deferred while their total does not exceed the gap between
  the two lowest candidates (a), or between a group that could be excluded
  together and the candidate next above (b).  ``defer_surpluses=True``.
* 5.2.3: the largest surplus first; equal surpluses: the greater vote at the first
  stage or the earliest point (after the transfer of a batch) where they
  differed; else by lot.  ``lookback="earliest"``.
* 5.2.5: exclude as many of the lowest candidates together as possible, provided
  (a) enough remain to fill the places and (b) their total plus deferred
  surpluses does not exceed the candidate next above.  ``bulk_exclusion=True``.
* 5.3.1-5.3.2: a first-stage surplus examines all the candidate's papers; a later
  one only the last batch received, which gave rise to it ("Gregory on the last
  parcel").  ``surplus_papers="last-batch"``.
* 5.3.7-5.3.10: if the transferable papers are worth more than the surplus, each
  goes on at surplus / number of transferable papers, to two decimals, remainder
  ignored; otherwise at its present value.  The neglected remainder is the
  non-transferable difference.  ``transfer_value="per-paper"``.
* 5.4.1-5.4.11: an excluded candidate's papers are transferred batch by batch in
  descending order of transfer value; candidates reaching the quota after a batch
  are deemed elected and receive no further papers.  ``exclusion="batches"``.
* 5.4.8: papers that became non-transferable before anyone was elected reduce the
  quota, recalculated as in 5.1.6.  ``recompute_quota=True``.
* 5.5.1: if a proposed exclusion would leave as many continuing candidates as
  places, they are all deemed elected (no transfer).  5.5.2: once all places are
  filled no further transfer is made.
* 5.6.2 (equal votes among candidates reaching the quota with too few places):
  the look-back of 5.2.3 applies; where the votes were equal at every point the
  rule says none is elected at that stage, which can stall a count; this
  implementation draws the seeded lot instead and reports it as a tie.
"""

from __future__ import annotations

from collections.abc import Sequence

from counter.rules.model import Constraint, CountResult, Profile
from counter.rules.stv import StvParams, count_stv

PARAMS = StvParams(
    name="ers97",
    title="ERS97 STV (Electoral Reform Society, 1997)",
    decimals=2,  # 5.1.6, 5.3.7
    quota="ers97",  # 5.1.6
    elect_at="geq",  # 5.1.7
    surplus_papers="last-batch",  # 5.3.2
    transfer_value="per-paper",  # 5.3.7
    exclusion="batches",  # 5.4
    bulk_exclusion=True,  # 5.2.5
    defer_surpluses=True,  # 5.2.2
    lookback="earliest",  # 5.2.3, 5.2.5
    active_vote_election=True,  # 5.1.7(b)
    recompute_quota=True,  # 5.4.8
    last_vacancies_without_transfer=True,  # 5.5.1
)


def count(
    profile: Profile, seats: int, constraints: Sequence[Constraint], seed: bytes | None
) -> CountResult:
    """Count under the ERS97 rules, sections 5.1-5.6."""
    return count_stv(PARAMS, profile, seats, constraints, seed)
